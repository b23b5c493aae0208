"""Post-quantum CMKs through the official SDK: ASYMMETRIC_Encrypt_Decrypt_Kyber_AES keys (ML-KEM-768
with AES-256-GCM) behind PostQuantumCryptoEncrypt / PostQuantumCryptoDecrypt, and
ASYMMETRIC_SIGN_VERIFY_DILITHIUM keys (ML-DSA-65) behind PostQuantumCryptoSign /
PostQuantumCryptoVerify. Signatures are checked with the pure-Python `dilithium-py` (FIPS 204
ML-DSA, empty context); plaintexts returned under EncryptionPublicKey are opened with
`cryptography` (RSA) and `gmssl` (SM2).

The vendor spells the plaintext field `PlainText` in these actions (api.json), unlike Encrypt.
"""

import base64
import os
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from dilithium_py.ml_dsa import ML_DSA_65

from conftest import b64, call, create_key, expect_error
from gm import Sm2Key

KYBER = "ASYMMETRIC_Encrypt_Decrypt_Kyber_AES"
DILITHIUM = "ASYMMETRIC_SIGN_VERIFY_DILITHIUM"
INVALID_KEY_USAGE = "InvalidParameterValue.InvalidKeyUsage"
INVALID_CIPHERTEXT = "InvalidParameterValue.InvalidCiphertext"
INVALID_PLAINTEXT = "InvalidParameterValue.InvalidPlaintext"
# FIPS 204, table 2: ML-DSA-65 public keys are 1952 bytes, signatures 3309 bytes.
ML_DSA_65_PUBLIC_KEY_LEN = 1952
ML_DSA_65_SIGNATURE_LEN = 3309
# id-ml-dsa-65, 2.16.840.1.101.3.4.3.18 (NIST Computer Security Objects Register), DER-encoded.
ML_DSA_65_OID = bytes.fromhex("0609608648016503040312")

RSA_PADDINGS = {
    "RSAES_PKCS1_V1_5": lambda: padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    "RSAES_OAEP_SHA_256": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
}


@pytest.fixture(scope="module")
def kyber(kms):
    return create_key(kms, KeyUsage=KYBER, Description="ml-kem").KeyId


@pytest.fixture(scope="module")
def dilithium(kms):
    return create_key(kms, KeyUsage=DILITHIUM, Description="ml-dsa").KeyId


@pytest.fixture(scope="module")
def dilithium_public(kms, dilithium):
    """The raw ML-DSA-65 public key: the SubjectPublicKeyInfo's BIT STRING content."""
    der = base64.b64decode(call(kms, "GetPublicKey", KeyId=dilithium).PublicKey, validate=True)
    return der[-ML_DSA_65_PUBLIC_KEY_LEN:]


def pq_encrypt(kms, key_id, data):
    r = call(kms, "PostQuantumCryptoEncrypt", KeyId=key_id, PlainText=b64(data))
    assert r.KeyId == key_id and r.RequestId
    base64.b64decode(r.CiphertextBlob, validate=True)
    return r.CiphertextBlob


def pq_decrypt(kms, blob, **extra):
    return call(kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob, **extra)


def pq_sign(kms, key_id, message):
    return base64.b64decode(call(kms, "PostQuantumCryptoSign", KeyId=key_id, Message=b64(message)).Signature,
                            validate=True)


def pq_verify(kms, key_id, message, signature):
    r = call(kms, "PostQuantumCryptoVerify", KeyId=key_id, Message=b64(message), SignatureValue=b64(signature))
    assert isinstance(r.SignatureValid, bool)
    return r.SignatureValid


def library_verifies(public, message, signature):
    try:
        return bool(ML_DSA_65.verify(public, message, signature))
    except Exception:  # dilithium-py raises on malformed signatures; that is a rejection too
        return False


def flip(data, index=-1):
    raw = bytearray(data)
    raw[index] ^= 0x01
    return bytes(raw)


# ---- PostQuantumCryptoEncrypt / PostQuantumCryptoDecrypt ----

@pytest.mark.parametrize("size", [1, 32, 1000, 4096])
def test_encrypt_decrypt_round_trip(kms, kyber, size):
    data = os.urandom(size)
    blob = pq_encrypt(kms, kyber, data)
    r = pq_decrypt(kms, blob)
    assert r.KeyId == kyber and r.RequestId
    assert base64.b64decode(r.PlainText, validate=True) == data


def test_ciphertexts_are_randomized_and_bound_to_their_key(kms, kyber):
    blobs = {pq_encrypt(kms, kyber, b"same") for _ in range(4)}
    assert len(blobs) == 4
    other = create_key(kms, KeyUsage=KYBER).KeyId
    blob = pq_encrypt(kms, other, b"other key")
    r = pq_decrypt(kms, blob)
    assert (r.KeyId, base64.b64decode(r.PlainText)) == (other, b"other key")


def test_tampered_and_truncated_blobs(kms, kyber):
    blob = pq_encrypt(kms, kyber, b"integrity" * 8)
    raw = base64.b64decode(blob)
    for index in (-1, len(raw) // 2, len(raw) - 40, 40):
        expect_error(INVALID_CIPHERTEXT, kms, "PostQuantumCryptoDecrypt", CiphertextBlob=b64(flip(raw, index)))
    for cut in (1, 16, len(raw) // 2):
        expect_error(INVALID_CIPHERTEXT, kms, "PostQuantumCryptoDecrypt", CiphertextBlob=b64(raw[:-cut]))
    expect_error(INVALID_CIPHERTEXT, kms, "PostQuantumCryptoDecrypt", CiphertextBlob=b64(raw + b"\0"))
    expect_error(INVALID_CIPHERTEXT, kms, "PostQuantumCryptoDecrypt", CiphertextBlob=b64(os.urandom(len(raw))))
    for bad in ("not base64!", "%%%%"):
        expect_error(INVALID_CIPHERTEXT, kms, "PostQuantumCryptoDecrypt", CiphertextBlob=bad)
    expect_error("MissingParameter", kms, "PostQuantumCryptoDecrypt")
    assert base64.b64decode(pq_decrypt(kms, blob).PlainText) == b"integrity" * 8


@pytest.mark.parametrize("plaintext", ["", b64(os.urandom(4097)), "not base64!", "@@@@"],
                         ids=["empty", "4097-bytes", "punctuation", "symbols"])
def test_encrypt_plaintext_limits(kms, kyber, plaintext):
    expect_error(INVALID_PLAINTEXT, kms, "PostQuantumCryptoEncrypt", KeyId=kyber, PlainText=plaintext)


def test_encrypt_parameter_errors(kms, kyber):
    expect_error("MissingParameter", kms, "PostQuantumCryptoEncrypt", KeyId=kyber)
    expect_error("MissingParameter", kms, "PostQuantumCryptoEncrypt", PlainText=b64(b"x"))
    expect_error("ResourceUnavailable.CmkNotFound", kms, "PostQuantumCryptoEncrypt", KeyId=str(uuid.uuid4()),
                 PlainText=b64(b"x"))
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "PostQuantumCryptoEncrypt", KeyId="nope",
                 PlainText=b64(b"x"))


@pytest.mark.parametrize("algorithm", sorted(RSA_PADDINGS))
def test_decrypt_to_a_callers_rsa_key(kms, kyber, algorithm):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    data = os.urandom(48)
    r = pq_decrypt(kms, pq_encrypt(kms, kyber, data), EncryptionPublicKey=pem, EncryptionAlgorithm=algorithm)
    assert r.KeyId == kyber
    wrapped = base64.b64decode(r.PlainText, validate=True)
    assert wrapped != data and len(wrapped) == 256
    assert private.decrypt(wrapped, RSA_PADDINGS[algorithm]()) == data


@pytest.mark.parametrize("algorithm", [None, "SM2", "SM2_C1C3C2_ASN1"], ids=["default", "sm2", "sm2-asn1"])
def test_decrypt_to_a_callers_sm2_key(kms, kyber, algorithm):
    caller = Sm2Key.generate()
    data = os.urandom(40)
    extra = {"EncryptionAlgorithm": algorithm} if algorithm else {}
    r = pq_decrypt(kms, pq_encrypt(kms, kyber, data), EncryptionPublicKey=caller.pem(), **extra)
    assert r.KeyId == kyber
    wrapped = base64.b64decode(r.PlainText, validate=True)
    if algorithm == "SM2_C1C3C2_ASN1":
        assert caller.decrypt_asn1(wrapped) == data
    else:
        # C1 (an uncompressed point, 65 bytes) || C3 (SM3, 32 bytes) || C2 (as long as the plaintext)
        assert len(wrapped) == 65 + 32 + len(data)
        assert caller.decrypt_c1c3c2(wrapped) == data


def test_decrypt_to_a_bad_public_key(kms, kyber):
    blob = pq_encrypt(kms, kyber, b"x")
    for pem in ("not a pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        expect_error("InvalidParameterValue", kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob,
                     EncryptionPublicKey=pem, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    sm2_pem = Sm2Key.generate().pem()
    expect_error("InvalidParameterValue", kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob,
                 EncryptionPublicKey=sm2_pem, EncryptionAlgorithm="RSAES_OAEP_SHA_512")


def test_pq_encryption_key_states(kms):
    key_id = create_key(kms, KeyUsage=KYBER).KeyId
    blob = pq_encrypt(kms, key_id, b"gate")
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "PostQuantumCryptoEncrypt", KeyId=key_id, PlainText=b64(b"x"))
    expect_error("ResourceUnavailable.CmkDisabled", kms, "PostQuantumCryptoDecrypt", CiphertextBlob=blob)
    call(kms, "EnableKey", KeyId=key_id)
    assert base64.b64decode(pq_decrypt(kms, blob).PlainText) == b"gate"


# ---- PostQuantumCryptoSign / PostQuantumCryptoVerify ----

def test_dilithium_public_key(kms, dilithium):
    r = call(kms, "GetPublicKey", KeyId=dilithium)
    der = base64.b64decode(r.PublicKey, validate=True)
    # SEQUENCE { SEQUENCE { OID id-ml-dsa-65 }, BIT STRING { 0 unused bits, 1952 bytes } }
    assert der[:4] == bytes.fromhex("308207b2") and len(der) == 4 + 0x07b2
    assert der[4:17] == bytes.fromhex("300b") + ML_DSA_65_OID
    assert der[17:22] == bytes.fromhex("038207a100")
    assert len(der) - 22 == ML_DSA_65_PUBLIC_KEY_LEN


@pytest.mark.parametrize("size", [1, 100, 4096])
def test_sign_verifies_here_and_with_dilithium_py(kms, dilithium, dilithium_public, size):
    message = os.urandom(size)
    signature = pq_sign(kms, dilithium, message)
    assert len(signature) == ML_DSA_65_SIGNATURE_LEN
    assert pq_verify(kms, dilithium, message, signature) is True
    assert library_verifies(dilithium_public, message, signature)
    # tampered
    assert not library_verifies(dilithium_public, flip(message, 0), signature)
    assert not library_verifies(dilithium_public, message, flip(signature, 5))
    assert pq_verify(kms, dilithium, flip(message, 0), signature) is False
    assert pq_verify(kms, dilithium, message, flip(signature, 5)) is False
    assert pq_verify(kms, dilithium, message, flip(signature, len(signature) // 2)) is False


def test_signature_by_another_key_does_not_verify(kms, dilithium):
    _, secret = ML_DSA_65.keygen()
    message = b"signed elsewhere"
    assert pq_verify(kms, dilithium, message, ML_DSA_65.sign(secret, message)) is False
    other = create_key(kms, KeyUsage=DILITHIUM).KeyId
    assert pq_verify(kms, other, message, pq_sign(kms, dilithium, message)) is False


def test_garbage_signatures_are_invalid(kms, dilithium):
    for garbage in (b"\x00", os.urandom(ML_DSA_65_SIGNATURE_LEN), os.urandom(100)):
        assert pq_verify(kms, dilithium, b"m", garbage) is False


def test_sign_parameter_errors(kms, dilithium):
    for bad in ("not base64!", "@@@@"):
        expect_error("InvalidParameterValue", kms, "PostQuantumCryptoSign", KeyId=dilithium, Message=bad)
        expect_error("InvalidParameterValue", kms, "PostQuantumCryptoVerify", KeyId=dilithium, Message=bad,
                     SignatureValue=b64(b"s"))
        expect_error("InvalidParameterValue", kms, "PostQuantumCryptoVerify", KeyId=dilithium, Message=b64(b"m"),
                     SignatureValue=bad)
    expect_error("InvalidParameterValue", kms, "PostQuantumCryptoSign", KeyId=dilithium, Message=b64(os.urandom(4097)))
    expect_error("InvalidParameterValue", kms, "PostQuantumCryptoVerify", KeyId=dilithium,
                 Message=b64(os.urandom(4097)), SignatureValue=b64(b"s"))
    expect_error("MissingParameter", kms, "PostQuantumCryptoSign", KeyId=dilithium)
    expect_error("MissingParameter", kms, "PostQuantumCryptoVerify", KeyId=dilithium, Message=b64(b"m"))
    expect_error("ResourceUnavailable.CmkNotFound", kms, "PostQuantumCryptoSign", KeyId=str(uuid.uuid4()),
                 Message=b64(b"m"))


def test_pq_signing_key_states(kms):
    key_id = create_key(kms, KeyUsage=DILITHIUM).KeyId
    signature = b64(pq_sign(kms, key_id, b"m"))
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "PostQuantumCryptoSign", KeyId=key_id, Message=b64(b"m"))
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "PostQuantumCryptoVerify", KeyId=key_id, Message=b64(b"m"),
                 SignatureValue=signature)


# ---- usage gates ----

@pytest.mark.parametrize("usage", ["ENCRYPT_DECRYPT", "ASYMMETRIC_DECRYPT_RSA_2048", "ASYMMETRIC_DECRYPT_SM2", DILITHIUM])
def test_pq_encrypt_needs_a_kyber_key(kms, dilithium, usage):
    key_id = dilithium if usage == DILITHIUM else create_key(kms, KeyUsage=usage).KeyId
    expect_error(INVALID_KEY_USAGE, kms, "PostQuantumCryptoEncrypt", KeyId=key_id, PlainText=b64(b"x"))


@pytest.mark.parametrize("usage", ["ENCRYPT_DECRYPT", "ASYMMETRIC_SIGN_VERIFY_ECC", "ASYMMETRIC_SIGN_VERIFY_SM2", KYBER])
def test_pq_sign_needs_a_dilithium_key(kms, kyber, usage):
    key_id = kyber if usage == KYBER else create_key(kms, KeyUsage=usage).KeyId
    expect_error(INVALID_KEY_USAGE, kms, "PostQuantumCryptoSign", KeyId=key_id, Message=b64(b"m"))
    expect_error(INVALID_KEY_USAGE, kms, "PostQuantumCryptoVerify", KeyId=key_id, Message=b64(b"m"),
                 SignatureValue=b64(os.urandom(ML_DSA_65_SIGNATURE_LEN)))


def test_symmetric_actions_refuse_pq_keys(kms, kyber, dilithium):
    for key_id in (kyber, dilithium):
        expect_error("InvalidParameter", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
        expect_error("InvalidParameterValue", kms, "EnableKeyRotation", KeyId=key_id)
