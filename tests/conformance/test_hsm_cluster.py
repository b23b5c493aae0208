"""HSM clusters (`--hsm-cluster ID=TOKEN_LABEL`) against a SoftHSM2 token: a key created with
Tencent's HsmClusterId is generated in the token, never extractable, and used there, across a
restart; the store keeps only references to the token's objects."""

import base64
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import KmsdProcess, b64, call, create_key, expect_error
from softhsm import MODULE, TOKEN, pin_file, pkcs11_tool, softhsm_token
from test_asymmetric import library_verifies, sign, verify
from test_startup import refused_start

CLUSTER = "cls-softhsm"


@pytest.fixture(scope="module")
def softhsm():
    with softhsm_token() as env:
        yield env


@pytest.fixture(scope="module")
def hsm_server(softhsm):
    workdir = Path(tempfile.mkdtemp(prefix="kmsd-cluster-"))
    server = KmsdProcess(data_dir=workdir / "data", env=softhsm, extra_args=[
        "--hsm-cluster", f"{CLUSTER}={TOKEN}", "--pkcs11-module", MODULE,
        "--pkcs11-pin-file", str(pin_file(workdir))])
    server.start()
    yield server
    server.cleanup()
    shutil.rmtree(workdir, ignore_errors=True)


def token_labels(softhsm, object_type):
    listing = pkcs11_tool(softhsm, "--list-objects", "--type", object_type)
    return set(re.findall(r"label:\s+(\S+)", listing))


def test_an_aes_key_of_the_cluster_lives_in_the_token_across_a_restart(softhsm, hsm_server):
    kms = hsm_server.client()
    before = token_labels(softhsm, "secrkey")
    created = create_key(kms, HsmClusterId=CLUSTER)
    assert created.HsmClusterId == CLUSTER
    made = token_labels(softhsm, "secrkey") - before
    assert len(made) == 1 and next(iter(made)).startswith("kmsd-"), made
    metadata = call(kms, "DescribeKey", KeyId=created.KeyId).KeyMetadata
    assert (metadata.HsmClusterId, metadata.KeyState) == (CLUSTER, "Enabled")

    blob = call(kms, "Encrypt", KeyId=created.KeyId, Plaintext=b64(b"held by the HSM")).CiphertextBlob
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"held by the HSM"
    data_key = call(kms, "GenerateDataKey", KeyId=created.KeyId, KeySpec="AES_256")
    assert call(kms, "Decrypt", CiphertextBlob=data_key.CiphertextBlob).Plaintext == data_key.Plaintext
    call(kms, "RotateKey", KeyId=created.KeyId)
    newer = call(kms, "Encrypt", KeyId=created.KeyId, Plaintext=b64(b"after rotation")).CiphertextBlob
    assert len(token_labels(softhsm, "secrkey") - before) == 2, "the rotation made its key in the token"
    software = create_key(kms)
    assert software.HsmClusterId == ""
    assert len(token_labels(softhsm, "secrkey") - before) == 2, "a software key makes nothing in the token"

    assert hsm_server.stop() == 0
    hsm_server.start()
    kms = hsm_server.client()
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"held by the HSM"
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=newer).Plaintext) == b"after rotation"
    assert call(kms, "DescribeKey", KeyId=created.KeyId).KeyMetadata.HsmClusterId == CLUSTER


@pytest.mark.parametrize("usage, algorithm, hash_name", [
    ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1", "SHA256"),
    ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384", "SHA384"),
    ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PSS_SHA_256", "SHA256"),
    ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PKCS1_SHA_384", "SHA384"),
])
def test_signing_keys_of_the_cluster_sign_in_the_token(hsm_server, usage, algorithm, hash_name):
    kms = hsm_server.client()
    key_id = create_key(kms, KeyUsage=usage, HsmClusterId=CLUSTER).KeyId
    der = base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey)
    message = b"signed inside the HSM"
    signature = sign(kms, key_id, algorithm, message, "RAW")
    assert library_verifies(der, algorithm, hash_name, signature, message)
    assert not library_verifies(der, algorithm, hash_name, signature, message + b".")
    assert verify(kms, key_id, algorithm, message, signature, "RAW") is True


def test_an_rsa_key_of_the_cluster_decrypts_in_the_token(hsm_server):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    kms = hsm_server.client()
    key_id = create_key(kms, KeyUsage="ASYMMETRIC_DECRYPT_RSA_2048", HsmClusterId=CLUSTER).KeyId
    public = serialization.load_der_public_key(
        base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey))
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    ciphertext = public.encrypt(b"for the HSM", sha1)
    answer = call(kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=b64(ciphertext),
                  Algorithm="RSAES_OAEP_SHA_1")
    assert base64.b64decode(answer.Plaintext) == b"for the HSM"
    # SoftHSM2 offers OAEP with SHA-1 only: the token's refusal is the vendor's unsupported code.
    sha256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    expect_error("UnsupportedOperation", kms, "AsymmetricRsaDecrypt", KeyId=key_id,
                 Ciphertext=b64(public.encrypt(b"x", sha256)), Algorithm="RSAES_OAEP_SHA_256")


def test_what_the_cluster_cannot_hold_is_refused(hsm_server):
    kms = hsm_server.client()
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "CreateKey", Alias="unknown-cluster",
                 HsmClusterId="cls-unknown")
    expect_error("UnsupportedOperation", kms, "CreateKey", Alias="sm2-in-hsm",
                 KeyUsage="ASYMMETRIC_SIGN_VERIFY_SM2", HsmClusterId=CLUSTER)
    expect_error("UnsupportedOperation", kms, "CreateKey", Alias="imported-in-hsm", Type=2,
                 HsmClusterId=CLUSTER)
    assert not any(k.Alias in ("unknown-cluster", "sm2-in-hsm", "imported-in-hsm")
                   for k in call(kms, "ListKeyDetail", Limit=200).KeyMetadatas)


def test_a_cluster_whose_token_is_missing_is_refused_at_start(softhsm, tmp_path):
    output = refused_start(tmp_path / "data", "--hsm-cluster", "cls-x=no-such-token", "--pkcs11-module", MODULE,
                           "--pkcs11-pin-file", str(pin_file(tmp_path)), env=softhsm)
    assert f'error: --hsm-cluster cls-x: no PKCS#11 token is labelled "no-such-token" in the module {MODULE} ' \
           f'(its tokens are "{TOKEN}")' in output, output
    assert not (tmp_path / "data" / "kms.redb").exists()
    output = refused_start(tmp_path / "data", "--hsm-cluster", f"cls-x={TOKEN}", env=softhsm)
    assert "error: --hsm-cluster needs --pkcs11-module PATH" in output, output


def test_the_service_status_names_the_served_clusters(hsm_server, server):
    status = call(hsm_server.client(), "GetServiceStatus")
    assert status.ExclusiveHSMEnabled is True
    assert [(h.HsmClusterId, h.HsmClusterName) for h in status.ExclusiveHSMList] == [(CLUSTER, CLUSTER)]
    plain = call(server.client(), "GetServiceStatus")
    assert (plain.ExclusiveHSMEnabled, plain.ExclusiveHSMList) == (False, [])
