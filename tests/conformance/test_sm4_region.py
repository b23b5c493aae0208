"""National-crypto regions: a server started with `--national-crypto-regions ap-shanghai` makes SM4
keys for ENCRYPT_DECRYPT in ap-shanghai and AES-256 keys elsewhere; ListAlgorithms says so, the
symmetric actions and bring-your-own-key work with 16-byte SM4 material, and blobs of one region
do not open in the other."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import KmsdProcess, b64, call, create_key, expect_error

NATIONAL = "ap-shanghai"
INTERNATIONAL = "ap-guangzhou"
OAEP_256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture(scope="module")
def gm_server():
    proc = KmsdProcess(extra_args=["--national-crypto-regions", NATIONAL]).start()
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def sh(gm_server):
    return gm_server.client(region=NATIONAL)


@pytest.fixture(scope="module")
def gz(gm_server):
    return gm_server.client(region=INTERNATIONAL)


@pytest.fixture(scope="module")
def sm4_key(sh):
    return create_key(sh, Description="sm4").KeyId


def pairs(algorithms):
    return [(a.KeyUsage, a.Algorithm) for a in algorithms]


def encrypt(kms, key_id, data, **extra):
    r = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(data), **extra)
    assert r.KeyId == key_id
    return r.CiphertextBlob


def decrypt(kms, blob, **extra):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob, **extra).Plaintext)


def import_material(kms, key_id, material):
    params = call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(base64.b64decode(params.PublicKey))
    return dict(KeyId=key_id, EncryptedKeyMaterial=b64(public.encrypt(material, OAEP_256)),
                ImportToken=params.ImportToken)


# ---- ListAlgorithms ----

def test_list_algorithms_names_sm4_in_the_national_region_only(sh, gz):
    national, international = call(sh, "ListAlgorithms"), call(gz, "ListAlgorithms")
    assert pairs(national.SymmetricAlgorithms) == [("ENCRYPT_DECRYPT", "SM4")]
    assert pairs(international.SymmetricAlgorithms) == [("ENCRYPT_DECRYPT", "AES_256")]
    assert pairs(national.AsymmetricAlgorithms) == pairs(international.AsymmetricAlgorithms)
    assert pairs(national.AsymmetricSignVerifyAlgorithms) == pairs(international.AsymmetricSignVerifyAlgorithms)
    assert national.AsymmetricAlgorithms and national.AsymmetricSignVerifyAlgorithms


def test_without_the_option_no_region_is_national():
    proc = KmsdProcess().start()
    try:
        algs = call(proc.client(region=NATIONAL), "ListAlgorithms")
        assert pairs(algs.SymmetricAlgorithms) == [("ENCRYPT_DECRYPT", "AES_256")]
    finally:
        proc.cleanup()


# ---- SM4 keys ----

def test_sm4_key_metadata(sh, sm4_key):
    meta = call(sh, "DescribeKey", KeyId=sm4_key).KeyMetadata
    assert (meta.KeyUsage, meta.KeyState, meta.Origin) == ("ENCRYPT_DECRYPT", "Enabled", "TENCENT_KMS")


@pytest.mark.parametrize("size", [1, 15, 16, 17, 1000, 4096])
def test_sm4_encrypt_decrypt(sh, sm4_key, size):
    data = os.urandom(size)
    blob = encrypt(sh, sm4_key, data)
    dec = call(sh, "Decrypt", CiphertextBlob=blob)
    assert (dec.KeyId, base64.b64decode(dec.Plaintext)) == (sm4_key, data)


def test_sm4_encryption_context_and_tampering(sh, sm4_key):
    blob = encrypt(sh, sm4_key, b"bound", EncryptionContext='{"a":"1"}')
    assert decrypt(sh, blob, EncryptionContext='{"a":"1"}') == b"bound"
    expect_error("InvalidParameterValue.InvalidCiphertext", sh, "Decrypt", CiphertextBlob=blob)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    expect_error("InvalidParameterValue.InvalidCiphertext", sh, "Decrypt", CiphertextBlob=b64(bytes(raw)),
                 EncryptionContext='{"a":"1"}')
    assert len({encrypt(sh, sm4_key, b"same") for _ in range(3)}) == 3


@pytest.mark.parametrize("spec,size", [("AES_128", 16), ("AES_256", 32)])
def test_sm4_generate_data_key(sh, sm4_key, spec, size):
    r = call(sh, "GenerateDataKey", KeyId=sm4_key, KeySpec=spec)
    assert r.KeyId == sm4_key
    plaintext = base64.b64decode(r.Plaintext)
    assert len(plaintext) == size
    assert decrypt(sh, r.CiphertextBlob) == plaintext
    r = call(sh, "GenerateDataKey", KeyId=sm4_key, NumberOfBytes=24)
    assert decrypt(sh, r.CiphertextBlob) == base64.b64decode(r.Plaintext)


def test_sm4_re_encrypt_and_rotation(sh, sm4_key):
    other = create_key(sh).KeyId
    blob = encrypt(sh, sm4_key, b"move")
    r = call(sh, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=other)
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (other, sm4_key, True)
    assert decrypt(sh, r.CiphertextBlob) == b"move"
    call(sh, "RotateKey", KeyId=other)
    assert decrypt(sh, r.CiphertextBlob) == b"move"
    assert decrypt(sh, encrypt(sh, other, b"after")) == b"after"


def test_blobs_do_not_cross_between_sm4_and_aes_regions(sh, gz, sm4_key):
    aes_key = create_key(gz).KeyId
    aes_blob = encrypt(gz, aes_key, b"aes")
    sm4_blob = encrypt(sh, sm4_key, b"sm4")
    assert decrypt(gz, aes_blob) == b"aes" and decrypt(sh, sm4_blob) == b"sm4"
    expect_error("ResourceUnavailable.CmkNotFound", sh, "Decrypt", CiphertextBlob=aes_blob)
    expect_error("ResourceUnavailable.CmkNotFound", gz, "Decrypt", CiphertextBlob=sm4_blob)
    expect_error("ResourceUnavailable.CmkNotFound", gz, "ReEncrypt", CiphertextBlob=sm4_blob, DestinationKeyId=aes_key)


def test_asymmetric_keys_in_the_national_region(sh):
    key_id = create_key(sh, KeyUsage="ASYMMETRIC_SIGN_VERIFY_SM2").KeyId
    signature = call(sh, "SignByAsymmetricKey", KeyId=key_id, Algorithm="SM2DSA", Message=b64(b"gm")).Signature
    assert call(sh, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm="SM2DSA", Message=b64(b"gm"),
                SignatureValue=signature).SignatureValid is True


# ---- bring your own SM4 key ----

def test_external_sm4_key_imports_16_bytes(sh):
    key_id = create_key(sh, Type=2).KeyId
    meta = call(sh, "DescribeKey", KeyId=key_id).KeyMetadata
    assert (meta.KeyState, meta.Origin, meta.KeyUsage) == ("PendingImport", "EXTERNAL", "ENCRYPT_DECRYPT")
    call(sh, "ImportKeyMaterial", **import_material(sh, key_id, os.urandom(16)))
    assert call(sh, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
    assert decrypt(sh, encrypt(sh, key_id, b"byok sm4")) == b"byok sm4"


@pytest.mark.parametrize("size", [32, 15, 17, 24])
def test_external_sm4_key_refuses_other_sizes(sh, size):
    key_id = create_key(sh, Type=2).KeyId
    expect_error("InvalidParameter.DecryptMaterialError", sh, "ImportKeyMaterial",
                 **import_material(sh, key_id, os.urandom(size)))
    assert call(sh, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "PendingImport"


def test_external_aes_key_still_needs_32_bytes_elsewhere(gz):
    key_id = create_key(gz, Type=2).KeyId
    expect_error("InvalidParameter.DecryptMaterialError", gz, "ImportKeyMaterial",
                 **import_material(gz, key_id, os.urandom(16)))
    call(gz, "ImportKeyMaterial", **import_material(gz, key_id, os.urandom(32)))
    assert decrypt(gz, encrypt(gz, key_id, b"byok aes")) == b"byok aes"


def test_two_sm4_keys_of_the_same_material_stay_apart(sh):
    material = os.urandom(16)
    a, b = create_key(sh, Type=2).KeyId, create_key(sh, Type=2).KeyId
    call(sh, "ImportKeyMaterial", **import_material(sh, a, material))
    call(sh, "ImportKeyMaterial", **import_material(sh, b, material))
    blob = encrypt(sh, a, b"mine")
    dec = call(sh, "Decrypt", CiphertextBlob=blob)
    assert (dec.KeyId, base64.b64decode(dec.Plaintext)) == (a, b"mine")
    assert call(sh, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=b).KeyId == b
