"""Symmetric cryptography through the official SDK: Encrypt, Decrypt, ReEncrypt, GenerateDataKey
and GenerateRandom, with the vendor's limits and error codes."""

import base64
import json
import os
import uuid

import pytest

from conftest import b64, call, create_key, expect_error

INVALID_PLAINTEXT = "InvalidParameterValue.InvalidPlaintext"
INVALID_CIPHERTEXT = "InvalidParameterValue.InvalidCiphertext"


@pytest.fixture(scope="module")
def key(kms):
    return create_key(kms, Description="crypto").KeyId


@pytest.fixture(scope="module")
def other_key(kms):
    return create_key(kms, Description="crypto-other").KeyId


def encrypt(kms, key_id, data=b"data", **extra):
    enc = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(data), **extra)
    assert enc.KeyId == key_id
    return enc.CiphertextBlob


def decrypt(kms, blob, **extra):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob, **extra).Plaintext)


def flip(blob, index):
    raw = bytearray(base64.b64decode(blob))
    raw[index] ^= 0x01
    return b64(bytes(raw))


# ---- Encrypt ----

@pytest.mark.parametrize("size", [1, 2, 255, 1024, 4095, 4096])
def test_encrypt_decrypt_round_trip_at_every_size(kms, key, size):
    data = os.urandom(size)
    enc = call(kms, "Encrypt", KeyId=key, Plaintext=b64(data))
    assert enc.KeyId == key
    assert enc.RequestId
    base64.b64decode(enc.CiphertextBlob, validate=True)
    dec = call(kms, "Decrypt", CiphertextBlob=enc.CiphertextBlob)
    assert dec.KeyId == key
    assert base64.b64decode(dec.Plaintext) == data


def test_same_plaintext_twice_gives_different_ciphertexts(kms, key):
    blobs = {encrypt(kms, key, b"same plaintext") for _ in range(5)}
    assert len(blobs) == 5
    for blob in blobs:
        assert decrypt(kms, blob) == b"same plaintext"


@pytest.mark.parametrize("plaintext", [
    "",
    b64(os.urandom(4097)),
    b64(os.urandom(8000))[:6000],
    "not base64!",
    "@@@@",
    "YWJj$ZGVm",
], ids=["empty", "4097-bytes", "over-4k", "punctuation", "symbols", "bad-char"])
def test_encrypt_plaintext_limits(kms, key, plaintext):
    expect_error(INVALID_PLAINTEXT, kms, "Encrypt", KeyId=key, Plaintext=plaintext)


def test_encrypt_plaintext_missing(kms, key):
    expect_error("MissingParameter", kms, "Encrypt", KeyId=key)


@pytest.mark.parametrize("context", [
    "not json",
    "[1,2]",
    '"a string"',
    "42",
    "null",
    '{"a":"1"',
    '{"k":"' + "v" * 1017 + '"}',   # 1025 characters
], ids=["text", "array", "string", "number", "null", "truncated", "1025-chars"])
def test_encryption_context_must_be_a_json_object_of_at_most_1024_chars(kms, key, context):
    expect_error("InvalidParameterValue", kms, "Encrypt", KeyId=key, Plaintext=b64(b"x"),
                 EncryptionContext=context)


def test_encryption_context_of_exactly_1024_chars_is_accepted(kms, key):
    context = '{"k":"' + "v" * 1016 + '"}'
    assert len(context) == 1024
    blob = encrypt(kms, key, b"edge", EncryptionContext=context)
    assert decrypt(kms, blob, EncryptionContext=context) == b"edge"


def test_encryption_context_limit_counts_characters_not_bytes(kms, key):
    # The vendor documents the limit as 1024 characters (最大支持1024个字符).
    context = '{"k":"' + "\u5bc6" * 1016 + '"}'
    assert len(context) == 1024 and len(context.encode()) > 1024
    blob = encrypt(kms, key, b"wide", EncryptionContext=context)
    assert decrypt(kms, blob, EncryptionContext=context) == b"wide"


@pytest.mark.parametrize("context", [
    '{"a":1}', '{"a":true}', '{"a":null}', '{"a":["1"]}', '{"a":{"b":"1"}}',
    '{"a":"1","a":"2"}', '{"a":"1","\\u0061":"1"}',
], ids=["number", "bool", "null", "array", "object", "duplicate", "escaped-duplicate"])
def test_encryption_context_values_are_strings_and_keys_unique(kms, key, context):
    """{"a":1} must not stand for {"a":"1"}, nor one of two values of "a" for the other."""
    expect_error("InvalidParameterValue", kms, "Encrypt", KeyId=key, Plaintext=b64(b"x"),
                 EncryptionContext=context)
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=16,
                 EncryptionContext=context)
    blob = encrypt(kms, key, b"typed", EncryptionContext='{"a":"1"}')
    expect_error("InvalidParameterValue", kms, "Decrypt", CiphertextBlob=blob, EncryptionContext=context)


def test_encrypt_key_states(kms):
    disabled = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=disabled)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Encrypt", KeyId=disabled, Plaintext=b64(b"x"))

    archived = create_key(kms).KeyId
    call(kms, "ArchiveKey", KeyId=archived)
    assert call(kms, "DescribeKey", KeyId=archived).KeyMetadata.KeyState == "Archived"
    expect_error("ResourceUnavailable.CmkArchived", kms, "Encrypt", KeyId=archived, Plaintext=b64(b"x"))

    pending_import = create_key(kms, Type=2).KeyId
    assert call(kms, "DescribeKey", KeyId=pending_import).KeyMetadata.KeyState == "PendingImport"
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Encrypt", KeyId=pending_import,
                 Plaintext=b64(b"x"))


def test_encrypt_unknown_and_malformed_key_ids(kms):
    expect_error("ResourceUnavailable.CmkNotFound", kms, "Encrypt", KeyId=str(uuid.uuid4()), Plaintext=b64(b"x"))
    for bad in ("not-a-key", "1234", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"):
        expect_error("InvalidParameterValue.InvalidKeyId", kms, "Encrypt", KeyId=bad, Plaintext=b64(b"x"))
    expect_error("MissingParameter", kms, "Encrypt", Plaintext=b64(b"x"))


# ---- Decrypt ----

def test_context_must_match_but_key_order_and_spacing_do_not(kms, key):
    blob = encrypt(kms, key, b"bound", EncryptionContext='{"team":"pay","env":"prod"}')
    assert decrypt(kms, blob, EncryptionContext='{"env":"prod","team":"pay"}') == b"bound"
    assert decrypt(kms, blob, EncryptionContext='{ "env" : "prod" ,\n "team":"pay" }') == b"bound"
    assert decrypt(kms, blob, EncryptionContext='{"team":"pay","env":"prod"}') == b"bound"
    for wrong in ('{"team":"pay"}', '{"team":"pay","env":"dev"}', '{"team":"pay","env":"prod","x":"y"}',
                  '{"TEAM":"pay","env":"prod"}'):
        expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=blob, EncryptionContext=wrong)
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=blob)


def test_context_given_at_decrypt_but_not_at_encrypt_is_refused(kms, key):
    blob = encrypt(kms, key, b"plain")
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=blob, EncryptionContext='{"a":"b"}')
    assert decrypt(kms, blob) == b"plain"


def test_tampered_and_truncated_ciphertexts(kms, key):
    blob = encrypt(kms, key, b"integrity" * 4)
    raw = base64.b64decode(blob)
    for index in (-1, len(raw) // 2, len(raw) - 20):
        expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=flip(blob, index))
    for cut in (1, 16, len(raw) // 2, len(raw) - 4):
        expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=b64(raw[:-cut]))
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=b64(raw + b"\x00"))
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=b64(os.urandom(len(raw))))
    # the original is untouched by the failed attempts
    assert decrypt(kms, blob) == b"integrity" * 4


@pytest.mark.parametrize("blob", ["not base64!", "%%%%", "QUJD$", "a"], ids=["text", "percent", "dollar", "short"])
def test_decrypt_non_base64(kms, blob):
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=blob)


def test_decrypt_missing_ciphertext(kms):
    expect_error("MissingParameter", kms, "Decrypt")


def test_decrypt_under_disabled_key_then_reenabled(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"gate")
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Decrypt", CiphertextBlob=blob)
    call(kms, "EnableKey", KeyId=key_id)
    assert decrypt(kms, blob) == b"gate"


def test_archived_key_still_decrypts(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"archived")
    call(kms, "ArchiveKey", KeyId=key_id)
    dec = call(kms, "Decrypt", CiphertextBlob=blob)
    assert (dec.KeyId, base64.b64decode(dec.Plaintext)) == (key_id, b"archived")


def test_ciphertext_from_another_region_is_refused(server, kms):
    shanghai = server.client(region="ap-shanghai")
    key_id = create_key(shanghai).KeyId
    blob = encrypt(shanghai, key_id, b"regional")
    assert decrypt(shanghai, blob) == b"regional"
    err = expect_error("ResourceUnavailable.CmkNotFound", kms, "Decrypt", CiphertextBlob=blob)
    assert "regional" not in err.message
    # and the key itself is invisible from the other region
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=key_id)


def test_ciphertexts_from_before_a_rotation_still_decrypt(kms):
    key_id = create_key(kms).KeyId
    before = encrypt(kms, key_id, b"v1", EncryptionContext='{"v":"1"}')
    call(kms, "RotateKey", KeyId=key_id)
    middle = encrypt(kms, key_id, b"v2")
    call(kms, "RotateKey", KeyId=key_id)
    after = encrypt(kms, key_id, b"v3")
    assert decrypt(kms, before, EncryptionContext='{"v":"1"}') == b"v1"
    assert decrypt(kms, middle) == b"v2"
    assert decrypt(kms, after) == b"v3"
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=before)


# ---- ReEncrypt ----

def test_re_encrypt_to_another_key_without_context(kms, key, other_key):
    blob = encrypt(kms, key, b"move me")
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=other_key)
    assert r.KeyId == other_key
    assert r.SourceKeyId == key
    assert r.ReEncrypted is True
    assert r.CiphertextBlob != blob
    dec = call(kms, "Decrypt", CiphertextBlob=r.CiphertextBlob)
    assert (dec.KeyId, base64.b64decode(dec.Plaintext)) == (other_key, b"move me")
    # the source ciphertext stays valid
    assert decrypt(kms, blob) == b"move me"


def test_re_encrypt_to_another_key_with_context_change(kms, key, other_key):
    blob = encrypt(kms, key, b"ctx move", EncryptionContext='{"a":"1"}')
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=other_key,
             SourceEncryptionContext='{"a":"1"}', DestinationEncryptionContext='{"b":"2"}')
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (other_key, key, True)
    assert decrypt(kms, r.CiphertextBlob, EncryptionContext='{"b":"2"}') == b"ctx move"
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=r.CiphertextBlob, EncryptionContext='{"a":"1"}')
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=r.CiphertextBlob)


def test_re_encrypt_same_key_context_change_only(kms, key):
    blob = encrypt(kms, key, b"recontext", EncryptionContext='{"a":"1"}')
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext='{"a":"1"}',
             DestinationEncryptionContext='{"a":"2"}')
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (key, key, True)
    assert r.CiphertextBlob != blob
    assert decrypt(kms, r.CiphertextBlob, EncryptionContext='{"a":"2"}') == b"recontext"
    # dropping the context is a change too
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext='{"a":"1"}')
    assert r.ReEncrypted is True
    assert decrypt(kms, r.CiphertextBlob) == b"recontext"


def test_re_encrypt_unchanged_returns_the_original(kms, key):
    blob = encrypt(kms, key, b"unchanged")
    r = call(kms, "ReEncrypt", CiphertextBlob=blob)
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (key, key, False)
    assert r.CiphertextBlob == blob
    r = call(kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=key)
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (key, key, False)
    assert r.CiphertextBlob == blob

    ctx_blob = encrypt(kms, key, b"unchanged ctx", EncryptionContext='{"x":"1","y":"2"}')
    r = call(kms, "ReEncrypt", CiphertextBlob=ctx_blob, SourceEncryptionContext='{"x":"1","y":"2"}',
             DestinationEncryptionContext='{"y":"2","x":"1"}')
    assert r.ReEncrypted is False
    assert r.CiphertextBlob == ctx_blob


def test_re_encrypt_same_key_after_rotation_re_encrypts(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"rotate")
    call(kms, "RotateKey", KeyId=key_id)
    r = call(kms, "ReEncrypt", CiphertextBlob=blob)
    assert (r.KeyId, r.SourceKeyId, r.ReEncrypted) == (key_id, key_id, True)
    assert r.CiphertextBlob != blob
    assert decrypt(kms, r.CiphertextBlob) == b"rotate"
    again = call(kms, "ReEncrypt", CiphertextBlob=r.CiphertextBlob)
    assert again.ReEncrypted is False and again.CiphertextBlob == r.CiphertextBlob


def test_re_encrypt_errors(kms, key, other_key):
    blob = encrypt(kms, key, b"err", EncryptionContext='{"a":"1"}')
    expect_error(INVALID_CIPHERTEXT, kms, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=other_key)
    expect_error(INVALID_CIPHERTEXT, kms, "ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext='{"a":"2"}')
    expect_error(INVALID_CIPHERTEXT, kms, "ReEncrypt", CiphertextBlob=flip(blob, -1),
                 SourceEncryptionContext='{"a":"1"}')
    expect_error(INVALID_CIPHERTEXT, kms, "ReEncrypt", CiphertextBlob="not base64!")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "ReEncrypt", CiphertextBlob=blob,
                 SourceEncryptionContext='{"a":"1"}', DestinationKeyId=str(uuid.uuid4()))
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "ReEncrypt", CiphertextBlob=blob,
                 SourceEncryptionContext='{"a":"1"}', DestinationKeyId="not-a-key")
    expect_error("InvalidParameterValue", kms, "ReEncrypt", CiphertextBlob=blob,
                 SourceEncryptionContext='{"a":"1"}', DestinationEncryptionContext="[1]")
    disabled = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=disabled)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "ReEncrypt", CiphertextBlob=blob,
                 SourceEncryptionContext='{"a":"1"}', DestinationKeyId=disabled)


# ---- GenerateDataKey ----

@pytest.mark.parametrize("spec,size", [("AES_128", 16), ("AES_256", 32)])
def test_data_key_specs(kms, key, spec, size):
    r = call(kms, "GenerateDataKey", KeyId=key, KeySpec=spec)
    assert r.KeyId == key
    plaintext = base64.b64decode(r.Plaintext)
    assert len(plaintext) == size
    dec = call(kms, "Decrypt", CiphertextBlob=r.CiphertextBlob)
    assert dec.KeyId == key
    assert dec.Plaintext == r.Plaintext


@pytest.mark.parametrize("n", [1, 7, 64, 1024])
def test_number_of_bytes_wins_over_key_spec(kms, key, n):
    r = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256", NumberOfBytes=n)
    assert len(base64.b64decode(r.Plaintext)) == n
    assert decrypt(kms, r.CiphertextBlob) == base64.b64decode(r.Plaintext)
    r = call(kms, "GenerateDataKey", KeyId=key, NumberOfBytes=n)
    assert len(base64.b64decode(r.Plaintext)) == n


def test_data_keys_differ(kms, key):
    a = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256")
    b = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256")
    assert a.Plaintext != b.Plaintext
    assert a.CiphertextBlob != b.CiphertextBlob


def test_data_key_parameter_errors(kms, key):
    expect_error("MissingParameter", kms, "GenerateDataKey", KeyId=key)
    for spec in ("AES_512", "aes_256", "RSA_2048", "SM4"):
        expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, KeySpec=spec)
    for n in (0, 1025, 4096):
        expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=n)
        expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, NumberOfBytes=n, KeySpec="AES_128")
    expect_error("MissingParameter", kms, "GenerateDataKey", KeySpec="AES_256")
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "GenerateDataKey", KeyId="nope", KeySpec="AES_256")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "GenerateDataKey", KeyId=str(uuid.uuid4()), KeySpec="AES_256")
    expect_error("InvalidParameterValue", kms, "GenerateDataKey", KeyId=key, KeySpec="AES_256", EncryptionContext="x")


def test_data_key_key_states(kms):
    disabled = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=disabled)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "GenerateDataKey", KeyId=disabled, KeySpec="AES_256")
    archived = create_key(kms).KeyId
    call(kms, "ArchiveKey", KeyId=archived)
    expect_error("ResourceUnavailable.CmkArchived", kms, "GenerateDataKey", KeyId=archived, KeySpec="AES_256")


def test_data_key_context_binds(kms, key):
    context = json.dumps({"purpose": "file", "id": "42"})
    r = call(kms, "GenerateDataKey", KeyId=key, KeySpec="AES_128", EncryptionContext=context)
    dec = call(kms, "Decrypt", CiphertextBlob=r.CiphertextBlob, EncryptionContext='{"id":"42","purpose":"file"}')
    assert dec.Plaintext == r.Plaintext and dec.KeyId == key
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=r.CiphertextBlob)
    expect_error(INVALID_CIPHERTEXT, kms, "Decrypt", CiphertextBlob=r.CiphertextBlob,
                 EncryptionContext='{"purpose":"file","id":"43"}')


# ---- GenerateRandom ----

@pytest.mark.parametrize("n", [1, 16, 32, 1000, 1024])
def test_random_lengths(kms, n):
    r = call(kms, "GenerateRandom", NumberOfBytes=n)
    assert len(base64.b64decode(r.Plaintext, validate=True)) == n
    assert r.RequestId


def test_random_draws_differ(kms):
    draws = {call(kms, "GenerateRandom", NumberOfBytes=32).Plaintext for _ in range(10)}
    assert len(draws) == 10
    big = base64.b64decode(call(kms, "GenerateRandom", NumberOfBytes=1024).Plaintext)
    assert len(set(big)) > 200, "1024 random bytes cover most byte values"


def test_random_limits(kms):
    for n in (0, 1025, 100000):
        expect_error("InvalidParameterValue", kms, "GenerateRandom", NumberOfBytes=n)
    expect_error("MissingParameter", kms, "GenerateRandom")
