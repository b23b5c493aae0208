"""The shortest path through the product: create a key, encrypt, decrypt."""

import base64

from conftest import b64, call, create_key


def test_create_encrypt_decrypt(kms):
    key = create_key(kms, Description="smoke")
    assert key.KeyState == "Enabled"
    enc = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"hello"))
    assert enc.KeyId == key.KeyId
    dec = call(kms, "Decrypt", CiphertextBlob=enc.CiphertextBlob)
    assert base64.b64decode(dec.Plaintext) == b"hello"
    assert dec.KeyId == key.KeyId
