"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey and GenerateRandom through the official SDK."""

import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import b64, call, create_key, expect_error

MISSING_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def key(kms):
    return create_key(kms).KeyId


def encrypt(kms, key_id, data=b"data", **extra):
    return call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(data), **extra).CiphertextBlob


def decrypt(kms, blob, **extra):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob, **extra).Plaintext)


# ---- Encrypt / Decrypt ----

@pytest.mark.parametrize("size", [1, 32, 4096])
def test_round_trip(kms, key, size):
    data = os.urandom(size)
    enc = call(kms, "Encrypt", KeyId=key, Plaintext=b64(data))
    assert enc.KeyId == key
    dec = call(kms, "Decrypt", CiphertextBlob=enc.CiphertextBlob)
    assert (dec.KeyId, base64.b64decode(dec.Plaintext)) == (key, data)


def test_same_plaintext_gives_different_ciphertexts(kms, key):
    assert encrypt(kms, key) != encrypt(kms, key)


def test_plaintext_limits(kms, key):
    for bad in ("", b64(os.urandom(4097)), "not base64!"):
        expect_error("InvalidParameterValue.InvalidPlaintext", kms, "Encrypt", KeyId=key, Plaintext=bad)


def test_encryption_context_binds(kms, key):
    blob = encrypt(kms, key, b"ctx", EncryptionContext='{"a":"1","b":"2"}')
    assert decrypt(kms, blob, EncryptionContext='{"b":"2","a":"1"}') == b"ctx", "pair order does not matter"
    for wrong in ('{"a":"1"}', '{"a":"1","b":"3"}', None):
        extra = {} if wrong is None else {"EncryptionContext": wrong}
        expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=blob, **extra)


def test_encryption_context_must_be_a_small_json_object(kms, key):
    for bad in ("not json", "[1,2]", '"text"', '{"k":"' + "v" * 1020 + '"}'):
        expect_error("InvalidParameterValue", kms, "Encrypt", KeyId=key, Plaintext=b64(b"x"), EncryptionContext=bad)


def test_tampered_or_foreign_ciphertexts(kms, key):
    blob = bytearray(base64.b64decode(encrypt(kms, key)))
    for i in (0, 1, 30, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 1
        expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=b64(bytes(bad)))
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=b64(bytes(blob[:30])))
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob="@@not base64@@")
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=b64(os.urandom(80)))


def test_ciphertext_from_another_region_is_not_found(server, kms, key):
    blob = encrypt(kms, key)
    expect_error("ResourceUnavailable.CmkNotFound", server.client(region="ap-beijing"), "Decrypt", CiphertextBlob=blob)


def test_key_states_gate_encrypt_and_decrypt(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id)
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Decrypt", CiphertextBlob=blob)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=8)
    call(kms, "EnableKey", KeyId=key_id)
    call(kms, "ArchiveKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkArchived", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    assert decrypt(kms, blob) == b"data", "archived keys still decrypt"
    call(kms, "CancelKeyArchive", KeyId=key_id)
    call(kms, "DisableKey", KeyId=key_id)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Decrypt", CiphertextBlob=blob)
    pending_import = create_key(kms, Type=2).KeyId
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Encrypt", KeyId=pending_import, Plaintext=b64(b"x"))


def test_key_lookup_errors(kms):
    expect_error("ResourceUnavailable.CmkNotFound", kms, "Encrypt", KeyId=MISSING_ID, Plaintext=b64(b"x"))
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "Encrypt", KeyId="bad-id", Plaintext=b64(b"x"))
    expect_error("MissingParameter", kms, "Encrypt", KeyId=MISSING_ID)


def test_old_versions_keep_decrypting_after_rotation(kms):
    key_id = create_key(kms).KeyId
    before = encrypt(kms, key_id, b"v1")
    call(kms, "RotateKey", KeyId=key_id)
    after = encrypt(kms, key_id, b"v2")
    assert (decrypt(kms, before), decrypt(kms, after)) == (b"v1", b"v2")


# ---- ReEncrypt ----

def test_re_encrypt_to_another_key_and_context(kms, key):
    other = create_key(kms).KeyId
    blob = encrypt(kms, key, b"move", EncryptionContext='{"from":"a"}')
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=other,
             SourceEncryptionContext='{"from":"a"}', DestinationEncryptionContext='{"to":"b"}')
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (other, key, True)
    assert decrypt(kms, r.CiphertextBlob, EncryptionContext='{"to":"b"}') == b"move"
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "ReEncrypt", CiphertextBlob=blob)


def test_re_encrypt_same_key_only_after_rotation(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id)
    same = call(kms, "ReEncrypt", CiphertextBlob=blob)
    assert (same.ReEncrypted, same.CiphertextBlob, same.KeyId) == (False, blob, key_id)
    call(kms, "RotateKey", KeyId=key_id)
    fresh = call(kms, "ReEncrypt", CiphertextBlob=blob)
    assert fresh.ReEncrypted and fresh.CiphertextBlob != blob
    assert decrypt(kms, fresh.CiphertextBlob) == b"data"


def test_re_encrypt_errors(kms, key):
    blob = encrypt(kms, key)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=MISSING_ID)
    disabled = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=disabled)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=disabled)
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "ReEncrypt", CiphertextBlob=b64(b"junk"))


# ---- GenerateDataKey ----

@pytest.mark.parametrize("spec,size", [("AES_128", 16), ("AES_256", 32)])
def test_data_key_specs(kms, key, spec, size):
    r = call(kms, "GenerateDataKey", KeyId=key, KeySpec=spec)
    assert len(base64.b64decode(r.Plaintext)) == size and r.KeyId == key
    assert decrypt(kms, r.CiphertextBlob) == base64.b64decode(r.Plaintext)


def test_number_of_bytes_wins_over_key_spec(kms, key):
    r = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256", NumberOfBytes=7)
    assert len(base64.b64decode(r.Plaintext)) == 7


def test_data_key_context_binds(kms, key):
    r = call(kms, "GenerateDataKey", KeyId=key, NumberOfBytes=32, EncryptionContext='{"f":"1"}')
    assert decrypt(kms, r.CiphertextBlob, EncryptionContext='{"f":"1"}') == base64.b64decode(r.Plaintext)
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=r.CiphertextBlob)


def test_data_key_bad_input(kms, key):
    expect_error("MissingParameter", kms, "GenerateDataKey", KeyId=key)
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, KeySpec="AES_512")
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=0)
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=1025)
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "GenerateDataKey", KeyId=key,
                 NumberOfBytes=8, HsmClusterId="cluster-1")


@pytest.mark.parametrize("algorithm,pad", [
    ("RSAES_PKCS1_V1_5", lambda: padding.PKCS1v15()),
    ("RSAES_OAEP_SHA_1", lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)),
    ("RSAES_OAEP_SHA_256", lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)),
])
def test_plaintext_wrapped_to_a_callers_public_key(kms, key, algorithm, pad):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    r = call(kms, "GenerateDataKey", KeyId=key, NumberOfBytes=32, EncryptionPublicKey=pem,
             EncryptionAlgorithm=algorithm)
    data_key = private.decrypt(base64.b64decode(r.Plaintext), pad())
    assert decrypt(kms, r.CiphertextBlob) == data_key
    d = call(kms, "Decrypt", CiphertextBlob=r.CiphertextBlob, EncryptionPublicKey=pem, EncryptionAlgorithm=algorithm)
    assert private.decrypt(base64.b64decode(d.Plaintext), pad()) == data_key


def test_public_key_wrapping_errors(kms, key):
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=8,
                 EncryptionPublicKey="not a pem", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=8,
                 EncryptionPublicKey=pem, EncryptionAlgorithm="RSA_MAGIC")
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=8,
                 EncryptionPublicKey=pem, EncryptionAlgorithm="SM2")


# ---- GenerateRandom ----

def test_random(kms):
    a = base64.b64decode(call(kms, "GenerateRandom", NumberOfBytes=1024).Plaintext)
    b = base64.b64decode(call(kms, "GenerateRandom", NumberOfBytes=1024).Plaintext)
    assert len(a) == len(b) == 1024 and a != b
    assert len(base64.b64decode(call(kms, "GenerateRandom", NumberOfBytes=1).Plaintext)) == 1
    for bad in (0, 1025):
        expect_error("InvalidParameterValue", kms, "GenerateRandom", NumberOfBytes=bad)
    expect_error("MissingParameter", kms, "GenerateRandom")
