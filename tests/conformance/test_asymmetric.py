"""Asymmetric CMKs through the official SDK: CreateKey with every asymmetric KeyUsage, GetPublicKey,
SignByAsymmetricKey / VerifyByAsymmetricKey with every signing algorithm, AsymmetricRsaDecrypt and
AsymmetricSm2Decrypt, and their error codes.

The customer's side uses `cryptography` (RSA, ECDSA) and the pure-Python `gmssl` (SM2 with SM3): a
signature made by the server verifies there, a ciphertext made there decrypts here. Keys are made
once per module (RSA generation is slow) and shared by the tests that only read them.

Error codes follow each action's list in the vendor's SDK (the "possible error codes" comments of
tencentcloud-sdk-go kms/v20190118): only the asymmetric decryptions name InvalidKeyUsage, and the
asymmetric actions answer a disabled key with CmkStateNotSupport rather than CmkDisabled.
"""

import base64
import json
import os
import uuid
from pathlib import Path

import pytest
import tccli
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import b64, call, create_key, expect_error
from gm import Sm2Key, der_int, der_signature_rs, sm3_hash

INVALID_KEY_USAGE = "InvalidParameterValue.InvalidKeyUsage"
SIGN_USAGES = [
    "ASYMMETRIC_SIGN_VERIFY_SM2",
    "ASYMMETRIC_SIGN_VERIFY_ECC",
    "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
    "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
    "ASYMMETRIC_SIGN_VERIFY_RSA_3072",
]
DECRYPT_USAGES = ["ASYMMETRIC_DECRYPT_RSA_2048", "ASYMMETRIC_DECRYPT_SM2"]
ALL_USAGES = ["ENCRYPT_DECRYPT"] + DECRYPT_USAGES + SIGN_USAGES + [
    "ASYMMETRIC_SIGN_VERIFY_DILITHIUM",
    "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES",
]
HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}

# (KeyUsage, Algorithm, hash): every signing algorithm name of the vendor with the key it fits.
SIGN_CASES = [
    ("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA", "SM3"),
    ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1", "SHA256"),
    ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECC_P384_R1", "SHA384"),
    ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "ECDSA384_SHA384", "SHA384"),
] + [
    (f"ASYMMETRIC_SIGN_VERIFY_RSA_{bits}", f"RSA_{scheme}_SHA_{size}", f"SHA{size}")
    for bits in (2048, 3072) for scheme in ("PSS", "PKCS1") for size in (256, 384, 512)
]
DIGEST_LENGTH = {"SM3": 32, "SHA256": 32, "SHA384": 48, "SHA512": 64}

RSA_PADDINGS = {
    "RSAES_PKCS1_V1_5": lambda: padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    "RSAES_OAEP_SHA_256": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
}


# ---- helpers ----

def case_id(case):
    return f"{case[0].removeprefix('ASYMMETRIC_SIGN_VERIFY_')}-{case[1]}"


@pytest.fixture(scope="module")
def keys(kms):
    """KeyUsage -> the KeyId of one key of that usage, made on first use."""
    made = {}

    def get(usage):
        if usage not in made:
            made[usage] = create_key(kms, KeyUsage=usage, Description=usage).KeyId
        return made[usage]
    return get


@pytest.fixture(scope="module")
def public_der(kms, keys):
    """KeyUsage -> the DER SubjectPublicKeyInfo of the shared key of that usage."""
    seen = {}

    def get(usage):
        if usage not in seen:
            seen[usage] = base64.b64decode(call(kms, "GetPublicKey", KeyId=keys(usage)).PublicKey, validate=True)
        return seen[usage]
    return get


def vendor_pem(der):
    """The vendor's PublicKeyPem (examples.json, GetPublicKey): the base64 text of the DER,
    base64-encoded again, in lines of 64 characters."""
    twice = base64.b64encode(base64.b64encode(der)).decode()
    lines = [twice[i:i + 64] for i in range(0, len(twice), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def digest_of(hash_name, message, sm2_key=None):
    if hash_name == "SM3":
        return sm2_key.digest(message)
    h = hashes.Hash(HASHES[hash_name]())
    h.update(message)
    return h.finalize()


def signature_scheme(algorithm, hash_name):
    """The `cryptography` arguments that verify a signature of `algorithm`."""
    h = HASHES[hash_name]()
    if algorithm.startswith("RSA_PSS_"):
        return (padding.PSS(mgf=padding.MGF1(HASHES[hash_name]()), salt_length=h.digest_size), h)
    if algorithm.startswith("RSA_PKCS1_"):
        return (padding.PKCS1v15(), h)
    return (ec.ECDSA(h),)


def library_verifies(der, algorithm, hash_name, signature, message):
    """Whether the customer's library accepts `signature` over `message` under the key `der`."""
    if algorithm == "SM2DSA":
        return Sm2Key.from_spki(der).verify(signature, message)
    public = serialization.load_der_public_key(der)
    try:
        public.verify(signature, message, *signature_scheme(algorithm, hash_name))
        return True
    except Exception:  # cryptography raises InvalidSignature; anything else is a failure too
        return False


def sign(kms, key_id, algorithm, message, message_type=None):
    extra = {"MessageType": message_type} if message_type else {}
    r = call(kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=b64(message), **extra)
    return base64.b64decode(r.Signature, validate=True)


def verify(kms, key_id, algorithm, message, signature, message_type=None):
    extra = {"MessageType": message_type} if message_type else {}
    r = call(kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=b64(message),
             SignatureValue=b64(signature), **extra)
    assert isinstance(r.SignatureValid, bool)
    return r.SignatureValid


def flip(data, index=-1):
    raw = bytearray(data)
    raw[index] ^= 0x01
    return bytes(raw)


def foreign_signature(usage, algorithm, hash_name, message):
    """A valid signature over `message` by a key of the same type made here, not the KMS's."""
    if algorithm == "SM2DSA":
        return Sm2Key.generate().sign(message)
    if usage.endswith("_ECC"):
        private = ec.generate_private_key(ec.SECP256R1())
    elif usage.endswith("_ECDSA384"):
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.sign(message, *signature_scheme(algorithm, hash_name))


def disabled(kms, usage):
    key_id = create_key(kms, KeyUsage=usage).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    return key_id


# ---- the customer's side, checked on its own ----

def test_sm2_helpers():
    # GB/T 32905-2016 appendix A, example 1: SM3("abc")
    assert sm3_hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    key = Sm2Key.generate()
    signature = key.sign(b"helper")
    assert key.verify(signature, b"helper") and not key.verify(signature, b"helpers")
    assert Sm2Key.from_spki(key.spki()).point == key.point
    assert key.decrypt_asn1(key.encrypt_asn1(b"\x00\x80round trip")) == b"\x00\x80round trip"
    assert der_int(0x80) == bytes.fromhex("02020080") and der_int(0x7F) == bytes.fromhex("02017f")


# ---- CreateKey / DescribeKey ----

@pytest.mark.parametrize("usage", ALL_USAGES)
def test_create_key_with_every_usage(kms, usage):
    created = create_key(kms, KeyUsage=usage, Description="usage " + usage)
    assert (created.KeyUsage, created.KeyState) == (usage, "Enabled")
    meta = call(kms, "DescribeKey", KeyId=created.KeyId).KeyMetadata
    assert (meta.KeyId, meta.KeyUsage, meta.KeyState, meta.Origin) == (created.KeyId, usage, "Enabled", "TENCENT_KMS")
    assert meta.KeyRotationEnabled is False


@pytest.mark.parametrize("usage", ALL_USAGES)
def test_list_key_detail_filters_by_each_usage(kms, keys, usage):
    """ListKeyDetail's KeyUsage names one usage (api.json: ALL, ENCRYPT_DECRYPT, or one asymmetric
    usage); the answer holds keys of that usage only."""
    key_id = keys(usage)
    listed = call(kms, "ListKeyDetail", KeyUsage=usage, Limit=200).KeyMetadatas
    assert key_id in [m.KeyId for m in listed]
    assert {m.KeyUsage for m in listed} == {usage}
    everything = call(kms, "ListKeyDetail", KeyUsage="ALL", Limit=200).KeyMetadatas
    assert key_id in [m.KeyId for m in everything]


@pytest.mark.parametrize("usage", ALL_USAGES[1:])
def test_external_keys_are_symmetric_only(kms, usage):
    expect_error(INVALID_KEY_USAGE, kms, "CreateKey", Alias=f"ext-{uuid.uuid4().hex[:16]}", KeyUsage=usage, Type=2)


@pytest.mark.parametrize("usage", ["SIGN_VERIFY", "ASYMMETRIC_DECRYPT_RSA_4096", "asymmetric_sign_verify_sm2",
                                   "ASYMMETRIC_ENCRYPT_DECRYPT_KYBER_AES"])
def test_unknown_key_usage(kms, usage):
    expect_error(INVALID_KEY_USAGE, kms, "CreateKey", Alias=f"bad-{uuid.uuid4().hex[:16]}", KeyUsage=usage)


# ---- GetPublicKey ----

def test_pem_helper_reproduces_the_vendors_example():
    examples = Path(tccli.__file__).parent / "services" / "kms" / "v20190118" / "examples.json"
    example = json.loads(examples.read_text())["actions"]["GetPublicKey"][0]["output"]
    response = json.loads(example)["Response"]
    assert vendor_pem(base64.b64decode(response["PublicKey"])) == response["PublicKeyPem"]


@pytest.mark.parametrize("usage,kind,size", [
    ("ASYMMETRIC_DECRYPT_RSA_2048", "rsa", 2048),
    ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "rsa", 2048),
    ("ASYMMETRIC_SIGN_VERIFY_RSA_3072", "rsa", 3072),
    ("ASYMMETRIC_SIGN_VERIFY_ECC", "secp256r1", 256),
    ("ASYMMETRIC_SIGN_VERIFY_ECDSA384", "secp384r1", 384),
    ("ASYMMETRIC_DECRYPT_SM2", "sm2", 256),
    ("ASYMMETRIC_SIGN_VERIFY_SM2", "sm2", 256),
])
def test_get_public_key(kms, keys, usage, kind, size):
    key_id = keys(usage)
    r = call(kms, "GetPublicKey", KeyId=key_id)
    assert r.KeyId == key_id and r.RequestId
    der = base64.b64decode(r.PublicKey, validate=True)
    assert r.PublicKeyPem == vendor_pem(der)
    pem_body = "".join(r.PublicKeyPem.splitlines()[1:-1])
    assert base64.b64decode(base64.b64decode(pem_body)) == der, "decoding the PEM body twice gives the DER"
    if kind == "sm2":
        assert len(Sm2Key.from_spki(der).point) == 64
        return
    public = serialization.load_der_public_key(der)
    assert public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == der
    if kind == "rsa":
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.public_numbers().e == 65537
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert public.curve.name == kind
    assert public.key_size == size


def test_public_key_is_stable_and_differs_between_keys(kms, keys):
    key_id = keys("ASYMMETRIC_SIGN_VERIFY_ECC")
    first = call(kms, "GetPublicKey", KeyId=key_id).PublicKey
    assert call(kms, "GetPublicKey", KeyId=key_id).PublicKey == first
    other = create_key(kms, KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC").KeyId
    assert call(kms, "GetPublicKey", KeyId=other).PublicKey != first


def test_get_public_key_errors(kms, keys):
    expect_error("InvalidParameter", kms, "GetPublicKey", KeyId=keys("ENCRYPT_DECRYPT"))
    expect_error("ResourceUnavailable.CmkNotFound", kms, "GetPublicKey", KeyId=str(uuid.uuid4()))
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "GetPublicKey", KeyId="not-a-key")
    expect_error("MissingParameter", kms, "GetPublicKey")


# ---- SignByAsymmetricKey / VerifyByAsymmetricKey ----

@pytest.mark.parametrize("message_type", ["RAW", "DIGEST", None], ids=["raw", "digest", "default-raw"])
@pytest.mark.parametrize("case", SIGN_CASES, ids=case_id)
def test_signature_verifies_here_and_with_the_customers_library(kms, keys, public_der, case, message_type):
    usage, algorithm, hash_name = case
    key_id, der = keys(usage), public_der(usage)
    sm2_key = Sm2Key.from_spki(der) if algorithm == "SM2DSA" else None
    message = os.urandom(200) + b"signed by kmsd"
    digest = digest_of(hash_name, message, sm2_key)
    assert len(digest) == DIGEST_LENGTH[hash_name]
    signed = digest if message_type == "DIGEST" else message

    signature = sign(kms, key_id, algorithm, signed, message_type)
    if not algorithm.startswith("RSA_"):
        r, s = der_signature_rs(signature)
        assert r > 0 and s > 0
    if algorithm.startswith("ECC_") or algorithm.startswith("ECDSA"):
        assert decode_dss_signature(signature) == (r, s)
    if algorithm.startswith("RSA_"):
        assert len(signature) * 8 == serialization.load_der_public_key(der).key_size

    # the server and the customer's library both accept it, over the message or its digest
    assert verify(kms, key_id, algorithm, signed, signature, message_type) is True
    assert verify(kms, key_id, algorithm, message, signature, "RAW") is True
    assert verify(kms, key_id, algorithm, digest, signature, "DIGEST") is True
    assert library_verifies(der, algorithm, hash_name, signature, message)

    # and neither accepts it over another message, nor a tampered signature
    assert not library_verifies(der, algorithm, hash_name, signature, message + b".")
    assert not library_verifies(der, algorithm, hash_name, flip(signature), message)
    assert verify(kms, key_id, algorithm, message + b".", signature, "RAW") is False
    assert verify(kms, key_id, algorithm, flip(digest, 0), signature, "DIGEST") is False
    assert verify(kms, key_id, algorithm, signed, flip(signature), message_type) is False
    assert verify(kms, key_id, algorithm, signed, flip(signature, len(signature) // 2), message_type) is False


@pytest.mark.parametrize("case", SIGN_CASES, ids=case_id)
def test_signature_by_another_key_does_not_verify(kms, keys, case):
    usage, algorithm, hash_name = case
    message = b"signed elsewhere " + os.urandom(32)
    signature = foreign_signature(usage, algorithm, hash_name, message)
    assert verify(kms, keys(usage), algorithm, message, signature) is False


def test_signatures_of_one_key_do_not_verify_under_another(kms, keys):
    usage, algorithm = "ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1"
    other = create_key(kms, KeyUsage=usage).KeyId
    signature = sign(kms, keys(usage), algorithm, b"whose")
    assert verify(kms, other, algorithm, b"whose", signature) is False
    assert verify(kms, keys(usage), algorithm, b"whose", signature) is True


def test_ecdsa_and_pss_signatures_are_randomized(kms, keys):
    for usage, algorithm in [("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1"),
                             ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PSS_SHA_256")]:
        assert sign(kms, keys(usage), algorithm, b"same") != sign(kms, keys(usage), algorithm, b"same")
    pkcs1 = "RSA_PKCS1_SHA_256"
    key_id = keys("ASYMMETRIC_SIGN_VERIFY_RSA_2048")
    assert sign(kms, key_id, pkcs1, b"same") == sign(kms, key_id, pkcs1, b"same"), "PKCS#1 v1.5 is deterministic"


@pytest.mark.parametrize("size", [1, 4096])
def test_raw_message_sizes(kms, keys, public_der, size):
    usage, algorithm = "ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA"
    message = os.urandom(size)
    signature = sign(kms, keys(usage), algorithm, message)
    assert verify(kms, keys(usage), algorithm, message, signature) is True
    assert Sm2Key.from_spki(public_der(usage)).verify(signature, message)


@pytest.mark.parametrize("case", SIGN_CASES, ids=case_id)
def test_message_limits(kms, keys, case):
    usage, algorithm, hash_name = case
    key_id = keys(usage)
    expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                 Message=b64(os.urandom(4097)))
    expect_error("InvalidParameterValue", kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                 Message=b64(os.urandom(4097)), SignatureValue=b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    length = DIGEST_LENGTH[hash_name]
    for wrong in sorted({length - 1, length + 1, 16, 32, 48, 64} - {length}):
        expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                     Message=b64(os.urandom(wrong)), MessageType="DIGEST")
        expect_error("InvalidParameterValue", kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                     Message=b64(os.urandom(wrong)), MessageType="DIGEST",
                     SignatureValue=b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"))


def test_sign_parameter_errors(kms, keys):
    sm2 = keys("ASYMMETRIC_SIGN_VERIFY_SM2")
    rsa_key = keys("ASYMMETRIC_SIGN_VERIFY_RSA_2048")
    p256 = keys("ASYMMETRIC_SIGN_VERIFY_ECC")
    msg = b64(b"message")
    for algorithm in ("SM2", "RSA_PSS_SHA_1", "ECC_P521_R1", "rsa_pss_sha_256", "", "ED25519"):
        expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=rsa_key, Algorithm=algorithm, Message=msg)
    # an algorithm of another key type
    for key_id, algorithm in [(sm2, "RSA_PSS_SHA_256"), (sm2, "ECC_P256_R1"), (rsa_key, "SM2DSA"),
                              (rsa_key, "ECC_P256_R1"), (p256, "ECC_P384_R1"), (p256, "ECDSA384_SHA384"),
                              (p256, "RSA_PKCS1_SHA_256"), (keys("ASYMMETRIC_SIGN_VERIFY_ECDSA384"), "ECC_P256_R1")]:
        expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=msg)
        expect_error("InvalidParameterValue", kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                     Message=msg, SignatureValue=b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA", Message=msg,
                 MessageType="HASH")
    # non-base64 input
    for bad in ("not base64!", "@@@@", "YWJj$ZGVm"):
        expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA", Message=bad)
        expect_error("InvalidParameterValue", kms, "VerifyByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA",
                     Message=bad, SignatureValue=b64(b"sig"))
        expect_error("InvalidParameterValue", kms, "VerifyByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA",
                     Message=msg, SignatureValue=bad)
    expect_error("InvalidParameterValue", kms, "SignByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA", Message="")
    for missing in ("KeyId", "Algorithm", "Message"):
        params = {"KeyId": sm2, "Algorithm": "SM2DSA", "Message": msg}
        del params[missing]
        expect_error("MissingParameter", kms, "SignByAsymmetricKey", **params)
    expect_error("MissingParameter", kms, "VerifyByAsymmetricKey", KeyId=sm2, Algorithm="SM2DSA", Message=msg)


def test_garbage_signatures_are_invalid_not_errors(kms, keys):
    for usage, algorithm in [("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA"), ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1"),
                             ("ASYMMETRIC_SIGN_VERIFY_RSA_2048", "RSA_PSS_SHA_256")]:
        for garbage in (b"\x00", os.urandom(64), os.urandom(256), b"\x30\x06\x02\x01\x00\x02\x01\x00"):
            assert verify(kms, keys(usage), algorithm, b"m", garbage) is False, (usage, garbage.hex())


def test_sign_and_verify_need_a_sign_key(kms, keys):
    msg = b64(b"m")
    for usage in ["ENCRYPT_DECRYPT", "ASYMMETRIC_DECRYPT_RSA_2048", "ASYMMETRIC_DECRYPT_SM2"]:
        algorithm = "SM2DSA" if usage.endswith("SM2") else "RSA_PSS_SHA_256"
        expect_error("InvalidParameter", kms, "SignByAsymmetricKey", KeyId=keys(usage), Algorithm=algorithm, Message=msg)
        expect_error("InvalidParameter", kms, "VerifyByAsymmetricKey", KeyId=keys(usage), Algorithm=algorithm,
                     Message=msg, SignatureValue=b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"))


def test_sign_key_states_and_unknown_keys(kms):
    usage, algorithm, msg = "ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1", b64(b"m")
    key_id = create_key(kms, KeyUsage=usage).KeyId
    signature = b64(sign(kms, key_id, algorithm, b"m"))
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=msg)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm,
                 Message=msg, SignatureValue=signature)
    call(kms, "EnableKey", KeyId=key_id)
    assert call(kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=msg,
                SignatureValue=signature).SignatureValid is True
    expect_error("ResourceUnavailable.CmkNotFound", kms, "SignByAsymmetricKey", KeyId=str(uuid.uuid4()),
                 Algorithm=algorithm, Message=msg)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "VerifyByAsymmetricKey", KeyId=str(uuid.uuid4()),
                 Algorithm=algorithm, Message=msg, SignatureValue=signature)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "SignByAsymmetricKey", KeyId="nope",
                 Algorithm=algorithm, Message=msg)


# ---- AsymmetricRsaDecrypt ----

@pytest.mark.parametrize("algorithm", sorted(RSA_PADDINGS))
@pytest.mark.parametrize("size", [1, 32, 190])
def test_rsa_decrypt(kms, keys, public_der, algorithm, size):
    key_id = keys("ASYMMETRIC_DECRYPT_RSA_2048")
    public = serialization.load_der_public_key(public_der("ASYMMETRIC_DECRYPT_RSA_2048"))
    plaintext = os.urandom(size)
    ciphertext = public.encrypt(plaintext, RSA_PADDINGS[algorithm]())
    r = call(kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=b64(ciphertext), Algorithm=algorithm)
    assert r.KeyId == key_id
    assert base64.b64decode(r.Plaintext, validate=True) == plaintext


def test_rsa_decrypt_errors(kms, keys, public_der):
    key_id = keys("ASYMMETRIC_DECRYPT_RSA_2048")
    public = serialization.load_der_public_key(public_der("ASYMMETRIC_DECRYPT_RSA_2048"))
    oaep256 = b64(public.encrypt(b"secret", RSA_PADDINGS["RSAES_OAEP_SHA_256"]()))
    # the algorithm named must be the one used
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=oaep256,
                 Algorithm="RSAES_OAEP_SHA_1")
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricRsaDecrypt", KeyId=key_id,
                 Ciphertext=b64(os.urandom(256)), Algorithm="RSAES_OAEP_SHA_256")
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricRsaDecrypt", KeyId=key_id,
                 Ciphertext=b64(flip(base64.b64decode(oaep256))), Algorithm="RSAES_OAEP_SHA_256")
    # a ciphertext for another key
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricRsaDecrypt", KeyId=key_id,
                 Ciphertext=b64(stranger.encrypt(b"x", RSA_PADDINGS["RSAES_OAEP_SHA_256"]())),
                 Algorithm="RSAES_OAEP_SHA_256")
    for algorithm in ("RSAES_OAEP_SHA_512", "OAEP", "rsaes_oaep_sha_256", ""):
        expect_error("InvalidParameterValue", kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=oaep256,
                     Algorithm=algorithm)
    expect_error("MissingParameter", kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=oaep256)
    expect_error("MissingParameter", kms, "AsymmetricRsaDecrypt", KeyId=key_id, Algorithm="RSAES_OAEP_SHA_256")
    for bad in ("not base64!", "@@@@"):
        expect_error("InvalidParameterValue", kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=bad,
                     Algorithm="RSAES_OAEP_SHA_256")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "AsymmetricRsaDecrypt", KeyId=str(uuid.uuid4()),
                 Ciphertext=oaep256, Algorithm="RSAES_OAEP_SHA_256")
    # and the good ciphertext still decrypts
    r = call(kms, "AsymmetricRsaDecrypt", KeyId=key_id, Ciphertext=oaep256, Algorithm="RSAES_OAEP_SHA_256")
    assert base64.b64decode(r.Plaintext) == b"secret"


# ---- AsymmetricSm2Decrypt ----

@pytest.mark.parametrize("size", [1, 16, 100, 140])
def test_sm2_decrypt(kms, keys, public_der, size):
    key_id = keys("ASYMMETRIC_DECRYPT_SM2")
    public = Sm2Key.from_spki(public_der("ASYMMETRIC_DECRYPT_SM2"))
    plaintext = os.urandom(size)
    ciphertext = public.encrypt_asn1(plaintext)
    assert len(ciphertext) <= 256
    r = call(kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(ciphertext))
    assert r.KeyId == key_id
    assert base64.b64decode(r.Plaintext, validate=True) == plaintext


def test_sm2_decrypt_of_the_vendors_size_limit(kms, keys, public_der):
    key_id = keys("ASYMMETRIC_DECRYPT_SM2")
    public = Sm2Key.from_spki(public_der("ASYMMETRIC_DECRYPT_SM2"))
    # x, y (up to 33 bytes each), hash (32) and the SEQUENCE headers leave about 150 bytes of
    # plaintext under 256 bytes; over 256 bytes of ciphertext is refused whatever it holds.
    at_limit = next(c for c in (public.encrypt_asn1(os.urandom(148)) for _ in range(60)) if len(c) <= 256)
    assert base64.b64decode(call(kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(at_limit)).Plaintext)
    over = public.encrypt_asn1(os.urandom(200))
    assert len(over) > 256
    expect_error("InvalidParameterValue", kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(over))


def test_sm2_decrypt_errors(kms, keys, public_der):
    key_id = keys("ASYMMETRIC_DECRYPT_SM2")
    public = Sm2Key.from_spki(public_der("ASYMMETRIC_DECRYPT_SM2"))
    good = public.encrypt_asn1(b"sm2 secret")
    tampered = bytearray(good)
    tampered[-1] ^= 0x01  # the last byte of C2: the hash C3 no longer matches
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(bytes(tampered)))
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(os.urandom(120)))
    stranger = Sm2Key.generate().encrypt_asn1(b"not yours")
    expect_error("FailedOperation.DecryptError", kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(stranger))
    for bad in ("not base64!", "@@@@"):
        expect_error("InvalidParameterValue", kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=bad)
    expect_error("MissingParameter", kms, "AsymmetricSm2Decrypt", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "AsymmetricSm2Decrypt", KeyId=str(uuid.uuid4()),
                 Ciphertext=b64(good))
    r = call(kms, "AsymmetricSm2Decrypt", KeyId=key_id, Ciphertext=b64(good))
    assert base64.b64decode(r.Plaintext) == b"sm2 secret"


# ---- usage and state gates ----

def test_decrypt_actions_need_the_matching_decrypt_key(kms, keys, public_der):
    rsa_public = serialization.load_der_public_key(public_der("ASYMMETRIC_DECRYPT_RSA_2048"))
    rsa_ct = b64(rsa_public.encrypt(b"x", RSA_PADDINGS["RSAES_OAEP_SHA_256"]()))
    sm2_ct = b64(Sm2Key.from_spki(public_der("ASYMMETRIC_DECRYPT_SM2")).encrypt_asn1(b"x"))
    for usage in ["ENCRYPT_DECRYPT", "ASYMMETRIC_SIGN_VERIFY_RSA_2048", "ASYMMETRIC_SIGN_VERIFY_SM2"]:
        expect_error(INVALID_KEY_USAGE, kms, "AsymmetricRsaDecrypt", KeyId=keys(usage), Ciphertext=rsa_ct,
                     Algorithm="RSAES_OAEP_SHA_256")
    for usage in ["ENCRYPT_DECRYPT", "ASYMMETRIC_SIGN_VERIFY_SM2", "ASYMMETRIC_SIGN_VERIFY_RSA_2048"]:
        expect_error(INVALID_KEY_USAGE, kms, "AsymmetricSm2Decrypt", KeyId=keys(usage), Ciphertext=sm2_ct)


@pytest.mark.parametrize("usage", DECRYPT_USAGES + SIGN_USAGES)
def test_symmetric_actions_refuse_asymmetric_keys(kms, keys, usage):
    key_id = keys(usage)
    expect_error("InvalidParameter", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    expect_error("InvalidParameter", kms, "GenerateDataKey", KeyId=key_id, KeySpec="AES_256")
    expect_error("InvalidParameterValue", kms, "EnableKeyRotation", KeyId=key_id)


def test_disabled_decrypt_keys(kms, public_der):
    rsa_key = disabled(kms, "ASYMMETRIC_DECRYPT_RSA_2048")
    sm2_key = disabled(kms, "ASYMMETRIC_DECRYPT_SM2")
    sm2_ct = b64(Sm2Key.from_spki(public_der("ASYMMETRIC_DECRYPT_SM2")).encrypt_asn1(b"x"))
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "AsymmetricRsaDecrypt", KeyId=rsa_key,
                 Ciphertext=b64(os.urandom(256)), Algorithm="RSAES_OAEP_SHA_256")
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "AsymmetricSm2Decrypt", KeyId=sm2_key, Ciphertext=sm2_ct)
