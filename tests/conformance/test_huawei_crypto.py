"""The Huawei dialect's cryptographic operations on data keys through huaweicloudsdkkms: re-encrypt,
encrypt-datakey, decrypt-datakey, the RSA and EC data key pairs and the data-key capsules, each
checked independently (cryptography, gmssl) and across the two dialects."""

import base64
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from gmssl import sm3 as gm_sm3
from gmssl import func as gm_func
from huaweicloudsdkkms.v2 import model as m
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import b64, call, create_key
from huawei import expect, huawei_client, new_key

OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


# ---- helpers ----

def refuse(status, code, fn, *args, **fields):
    return expect(status, code, lambda: fn(*args, **fields))


def encrypt_data(hw, key_id, text, aad=None):
    return hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text=text, additional_authenticated_data=aad)))


def decrypt_data(hw, cipher_text, aad=None):
    return hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=cipher_text, additional_authenticated_data=aad)))


def re_encrypt(hw, **fields):
    return hw.re_encrypt(m.ReEncryptRequest(body=m.ReEncryptRequestBody(**fields)))


def encrypt_datakey(hw, **fields):
    return hw.encrypt_datakey(m.EncryptDatakeyRequest(body=m.EncryptDatakeyRequestBody(**fields)))


def decrypt_datakey(hw, **fields):
    return hw.decrypt_datakey(m.DecryptDatakeyRequest(body=m.DecryptDatakeyRequestBody(**fields)))


def rsa_pair(hw, **fields):
    return hw.create_rsa_datakey_pair(m.CreateRsaDatakeyPairRequest(
        body=m.CreateRsaDatakeyPairRequestBody(**fields)))


def ec_pair(hw, **fields):
    return hw.create_ec_datakey_pair(m.CreateEcDatakeyPairRequest(
        body=m.CreateEcDatakeyPairRequestBody(**fields)))


def create_capsule(hw, **fields):
    return hw.create_datakey_capsule(m.CreateDatakeyCapsuleRequest(
        body=m.CreateDatakeyCapsuleRequestBody(**fields)))


def decrypt_capsule(hw, **fields):
    return hw.decrypt_datakey_capsule(m.DecryptDatakeyCapsuleRequest(
        body=m.DecryptDatakeyCapsuleRequestBody(**fields)))


def disable(hw, key_id):
    hw.disable_key(m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))


def with_digest(data_key, digest=hashlib.sha256):
    return (data_key + digest(data_key).digest()).hex()


def sm3(data):
    return bytes.fromhex(gm_sm3.sm3_hash(gm_func.bytes_to_list(data)))


class Sm3:
    def __init__(self, data):
        self.data = data

    def digest(self):
        return sm3(self.data)


# ---- re-encrypt ----

def test_re_encrypt_moves_data_between_keys_with_their_aad(hw):
    source, destination = new_key(hw), new_key(hw)
    enc = encrypt_data(hw, source, "move me", aad="from")
    out = re_encrypt(hw, cipher_text=enc.cipher_text, source_key_id=source,
                     source_additional_authenticated_data="from",
                     destination_key_id=destination, destination_additional_authenticated_data="to")
    assert (out.key_id, out.source_key_id) == (destination, source)
    assert (out.source_encryption_algorithm, out.destination_encryption_algorithm) == (
        "SYMMETRIC_DEFAULT", "SYMMETRIC_DEFAULT")
    base64.b64decode(out.cipher_text, validate=True)
    dec = decrypt_data(hw, out.cipher_text, aad="to")
    assert (dec.key_id, dec.plain_text) == (destination, "move me")
    refuse(400, "KMS.2201", decrypt_data, hw, out.cipher_text, "from")
    refuse(400, "KMS.2201", decrypt_data, hw, out.cipher_text)
    # Without source_key_id the blob names its key.
    same = re_encrypt(hw, cipher_text=enc.cipher_text, source_additional_authenticated_data="from",
                      destination_key_id=source)
    assert (same.key_id, decrypt_data(hw, same.cipher_text).plain_text) == (source, "move me")


def test_re_encrypt_refusals(hw):
    source, destination = new_key(hw), new_key(hw)
    enc = encrypt_data(hw, source, "x", aad="a")
    body = dict(cipher_text=enc.cipher_text, source_additional_authenticated_data="a",
                destination_key_id=destination)
    refuse(400, "KMS.2201", re_encrypt, hw, **{**body, "source_additional_authenticated_data": "b"})
    refuse(400, "KMS.2201", re_encrypt, hw, **{**body, "source_key_id": destination})
    refuse(400, "KMS.2201", re_encrypt, hw, **{**body, "cipher_text": "%%%not base64%%%"})
    refuse(400, "KMS.0204", re_encrypt, hw, **{**body, "destination_key_id": None})
    refuse(400, "KMS.0204", re_encrypt, hw, **{**body, "cipher_text": ""})
    refuse(400, "KMS.0205", re_encrypt, hw, **{**body, "destination_key_id": "not-a-key"})
    refuse(400, "KMS.0308", re_encrypt, hw, **{**body, "source_encryption_algorithm": "AES_GCM"})
    refuse(400, "KMS.0308", re_encrypt, hw, **{**body, "destination_additional_authenticated_data": "z" * 129})
    refuse(400, "KMS.0308", re_encrypt, hw, **{**body, "destination_key_id": 123})
    refuse(400, "KMS.2204", re_encrypt, hw, **{**body, "datakey_cipher_length": "2"})
    for bad in ["0", "1025", "many"]:
        refuse(400, "KMS.2202", re_encrypt, hw, **{**body, "datakey_cipher_length": bad})
    assert re_encrypt(hw, **{**body, "datakey_cipher_length": "1"}).key_id == destination
    disable(hw, destination)
    refuse(400, "KMS.0209", re_encrypt, hw, **body)
    disable(hw, source)
    refuse(400, "KMS.0209", re_encrypt, hw, **{**body, "destination_key_id": new_key(hw)})


def test_re_encrypt_keeps_a_data_key_a_data_key(hw):
    source, destination = new_key(hw), new_key(hw)
    dk = hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(
        key_id=source, datakey_length="512", additional_authenticated_data="dk")))
    out = re_encrypt(hw, cipher_text=dk.cipher_text, source_additional_authenticated_data="dk",
                     destination_key_id=destination, datakey_cipher_length="64")
    back = decrypt_datakey(hw, key_id=destination, cipher_text=out.cipher_text, datakey_cipher_length="64")
    assert back.data_key == dk.plain_text.upper()
    refuse(400, "KMS.2204", re_encrypt, hw, cipher_text=dk.cipher_text,
           source_additional_authenticated_data="dk", destination_key_id=destination,
           datakey_cipher_length="32")


def test_re_encrypt_with_asymmetric_keys(kms, hw):
    aes = new_key(hw)
    rsa_key = new_key(hw, key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    sm2_key = new_key(hw, key_spec="SM2", key_usage="ENCRYPT_DECRYPT")
    public = serialization.load_der_public_key(
        base64.b64decode(call(kms, "GetPublicKey", KeyId=rsa_key).PublicKey))
    wrapped = base64.b64encode(public.encrypt(b"client secret", OAEP_SHA256)).decode()
    out = re_encrypt(hw, cipher_text=wrapped, source_key_id=rsa_key,
                     source_encryption_algorithm="RSAES_OAEP_SHA_256", destination_key_id=aes)
    assert (out.source_key_id, out.source_encryption_algorithm) == (rsa_key, "RSAES_OAEP_SHA_256")
    assert decrypt_data(hw, out.cipher_text).plain_text == "client secret"
    # Symmetric to each asymmetric key and back again.
    enc = encrypt_data(hw, aes, "round trip")
    for key, alg in [(rsa_key, "RSAES_OAEP_SHA_256"), (rsa_key, "RSAES_OAEP_SHA_1"), (sm2_key, "SM2_ENCRYPT")]:
        to = re_encrypt(hw, cipher_text=enc.cipher_text, destination_key_id=key,
                        destination_encryption_algorithm=alg)
        assert (to.key_id, to.destination_encryption_algorithm) == (key, alg)
        back = re_encrypt(hw, cipher_text=to.cipher_text, source_key_id=key,
                          source_encryption_algorithm=alg, destination_key_id=aes)
        assert decrypt_data(hw, back.cipher_text).plain_text == "round trip"
    rsa_out = re_encrypt(hw, cipher_text=enc.cipher_text, destination_key_id=rsa_key,
                         destination_encryption_algorithm="RSAES_OAEP_SHA_256").cipher_text
    # Through Tencent's own RSA decryption too.
    tc = call(kms, "AsymmetricRsaDecrypt", KeyId=rsa_key, Ciphertext=rsa_out, Algorithm="RSAES_OAEP_SHA_256")
    assert base64.b64decode(tc.Plaintext) == b"round trip"
    refuse(400, "KMS.2106", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=rsa_key)
    refuse(400, "KMS.2106", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=rsa_key,
           destination_encryption_algorithm="SM2_ENCRYPT")
    refuse(400, "KMS.2105", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=aes,
           destination_encryption_algorithm="RSAES_OAEP_SHA_256")
    refuse(400, "KMS.2105", re_encrypt, hw, cipher_text=wrapped, source_key_id=aes,
           source_encryption_algorithm="RSAES_OAEP_SHA_256", destination_key_id=aes)
    refuse(400, "KMS.0311", re_encrypt, hw, cipher_text=base64.b64encode(b"\x01" * 256).decode(),
           source_key_id=rsa_key, source_encryption_algorithm="RSAES_OAEP_SHA_256", destination_key_id=aes)
    refuse(400, "KMS.0204", re_encrypt, hw, cipher_text=wrapped,
           source_encryption_algorithm="RSAES_OAEP_SHA_256", destination_key_id=aes)
    refuse(400, "KMS.0308", re_encrypt, hw, cipher_text=wrapped, source_key_id=rsa_key,
           source_encryption_algorithm="RSAES_OAEP_SHA_256", source_additional_authenticated_data="a",
           destination_key_id=aes)
    refuse(400, "KMS.0308", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=rsa_key,
           destination_encryption_algorithm="RSAES_OAEP_SHA_256", destination_additional_authenticated_data="a")
    dk = hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(key_id=aes)))
    refuse(400, "KMS.0308", re_encrypt, hw, cipher_text=dk.cipher_text, destination_key_id=rsa_key,
           destination_encryption_algorithm="RSAES_OAEP_SHA_256")
    signer = new_key(hw, key_spec="EC_P256", key_usage="SIGN_VERIFY")
    refuse(400, "KMS.1114", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=signer)
    rsa_signer = new_key(hw, key_spec="RSA_2048", key_usage="SIGN_VERIFY")
    refuse(400, "KMS.0335", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=rsa_signer,
           destination_encryption_algorithm="RSAES_OAEP_SHA_256")
    mac = new_key(hw, key_spec="HMAC_256")
    refuse(400, "KMS.0341", re_encrypt, hw, cipher_text=enc.cipher_text, destination_key_id=mac)


# ---- encrypt-datakey and decrypt-datakey ----

def test_encrypt_and_decrypt_a_data_key(hw):
    key_id = new_key(hw)
    data_key = os.urandom(64)
    enc = encrypt_datakey(hw, key_id=key_id, plain_text=with_digest(data_key), datakey_plain_length="64",
                          additional_authenticated_data="meta")
    assert (enc.key_id, enc.datakey_length) == (key_id, "64")
    bytes.fromhex(enc.cipher_text)
    dec = decrypt_datakey(hw, key_id=key_id, cipher_text=enc.cipher_text, datakey_cipher_length="64",
                          additional_authenticated_data="meta")
    assert bytes.fromhex(dec.data_key) == data_key
    assert dec.datakey_length == "64"
    assert dec.datakey_dgst == hashlib.sha256(data_key).hexdigest().upper()
    refuse(400, "KMS.2201", decrypt_datakey, hw, key_id=key_id, cipher_text=enc.cipher_text,
           datakey_cipher_length="64")
    refuse(400, "KMS.2201", decrypt_datakey, hw, key_id=key_id, cipher_text=enc.cipher_text,
           datakey_cipher_length="64", additional_authenticated_data="other")
    # Any length from 1 to 1024 bytes; lower-case hex is as good as upper-case.
    for n in [1, 1024]:
        k = os.urandom(n)
        out = encrypt_datakey(hw, key_id=key_id, plain_text=with_digest(k).upper(), datakey_plain_length=str(n))
        back = decrypt_datakey(hw, key_id=key_id, cipher_text=out.cipher_text.lower(),
                               datakey_cipher_length=str(n))
        assert bytes.fromhex(back.data_key) == k


def test_encrypt_datakey_refusals(hw):
    key_id = new_key(hw)
    data_key = os.urandom(32)
    good = dict(key_id=key_id, plain_text=with_digest(data_key), datakey_plain_length="32")
    wrong_digest = (data_key + hashlib.sha256(b"other").digest()).hex()
    refuse(400, "KMS.2103", encrypt_datakey, hw, **{**good, "plain_text": wrong_digest})
    refuse(400, "KMS.2104", encrypt_datakey, hw, **{**good, "datakey_plain_length": "31"})
    refuse(400, "KMS.2104", encrypt_datakey, hw, **{**good, "plain_text": data_key.hex()})
    refuse(400, "KMS.2101", encrypt_datakey, hw, **{**good, "plain_text": "zz" * 64})
    refuse(400, "KMS.2101", encrypt_datakey, hw, **{**good, "plain_text": good["plain_text"][:-1]})
    for bad in ["0", "1025", "-1", "sixty-four"]:
        refuse(400, "KMS.2102", encrypt_datakey, hw, **{**good, "datakey_plain_length": bad})
    for missing in ["key_id", "plain_text", "datakey_plain_length"]:
        refuse(400, "KMS.0204", encrypt_datakey, hw, **{**good, missing: None})
    refuse(400, "KMS.0308", encrypt_datakey, hw, **{**good, "datakey_plain_length": 32})
    refuse(400, "KMS.0308", encrypt_datakey, hw, **{**good, "additional_authenticated_data": "a" * 129})
    refuse(400, "KMS.0205", encrypt_datakey, hw, **{**good, "key_id": "0d0466b0"})
    refuse(404, "KMS.0207", encrypt_datakey, hw,
           **{**good, "key_id": "0d0466b0-e727-4d9c-b35d-f84bb474a37f"})
    disable(hw, key_id)
    refuse(400, "KMS.0209", encrypt_datakey, hw, **good)


def test_sm4_keys_take_the_sm3_digest(hw):
    key_id = new_key(hw, key_spec="SM4")
    data_key = os.urandom(16)
    enc = encrypt_datakey(hw, key_id=key_id, plain_text=with_digest(data_key, Sm3), datakey_plain_length="16")
    dec = decrypt_datakey(hw, key_id=key_id, cipher_text=enc.cipher_text, datakey_cipher_length="16")
    assert bytes.fromhex(dec.data_key) == data_key
    refuse(400, "KMS.2103", encrypt_datakey, hw, key_id=key_id, plain_text=with_digest(data_key),
           datakey_plain_length="16")


def test_decrypt_datakey_refusals(hw):
    key_id, other = new_key(hw), new_key(hw)
    enc = encrypt_datakey(hw, key_id=key_id, plain_text=with_digest(b"k" * 16), datakey_plain_length="16")
    good = dict(key_id=key_id, cipher_text=enc.cipher_text, datakey_cipher_length="16")
    refuse(400, "KMS.2201", decrypt_datakey, hw, **{**good, "key_id": other})
    refuse(400, "KMS.2201", decrypt_datakey, hw, **{**good, "cipher_text": "not hex"})
    refuse(400, "KMS.2201", decrypt_datakey, hw, **{**good, "cipher_text": enc.cipher_text[:-2]})
    tampered = enc.cipher_text[:-2] + ("00" if enc.cipher_text[-2:] != "00" else "01")
    refuse(400, "KMS.2201", decrypt_datakey, hw, **{**good, "cipher_text": tampered})
    refuse(400, "KMS.2204", decrypt_datakey, hw, **{**good, "datakey_cipher_length": "32"})
    for bad in ["0", "1025", "x"]:
        refuse(400, "KMS.2202", decrypt_datakey, hw, **{**good, "datakey_cipher_length": bad})
    for missing in ["key_id", "cipher_text", "datakey_cipher_length"]:
        refuse(400, "KMS.0204", decrypt_datakey, hw, **{**good, missing: None})
    refuse(400, "KMS.0205", decrypt_datakey, hw, **{**good, "key_id": "nope"})
    refuse(400, "KMS.0308", decrypt_datakey, hw, **{**good, "cipher_text": 7})
    disable(hw, key_id)
    refuse(400, "KMS.0209", decrypt_datakey, hw, **good)


# ---- data key pairs ----

def test_rsa_data_key_pairs(kms, hw):
    key_id = new_key(hw)
    for spec, bits in [("RSA_2048", 2048), ("RSA_3072", 3072), ("RSA_4096", 4096)]:
        pair = rsa_pair(hw, key_id=key_id, key_spec=spec, additional_authenticated_data="pair")
        assert (pair.key_id, pair.key_spec) == (key_id, spec)
        public = serialization.load_der_public_key(base64.b64decode(pair.public_key, validate=True))
        private_der = base64.b64decode(pair.private_key_plain_text, validate=True)
        private = serialization.load_der_private_key(private_der, password=None)
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == bits
        assert private.public_key().public_numbers() == public.public_numbers()
        assert public.public_numbers().e == 65537
        signature = private.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, b"m", padding.PKCS1v15(), hashes.SHA256())
        # The sealed private key opens through decrypt-data with the same AAD, and only with it.
        opened = decrypt_data(hw, pair.private_key_cipher_text, aad="pair")
        assert (opened.key_id, base64.b64decode(opened.plain_text_base64)) == (key_id, private_der)
        refuse(400, "KMS.2201", decrypt_data, hw, pair.private_key_cipher_text)
    bare = rsa_pair(hw, key_id=key_id, key_spec="RSA_2048", with_plain_text=False)
    assert bare.private_key_plain_text is None and bare.private_key_cipher_text
    # Without AAD, Tencent's Decrypt opens it as well: the same blob.
    der = base64.b64decode(call(kms, "Decrypt", CiphertextBlob=bare.private_key_cipher_text).Plaintext)
    private = serialization.load_der_private_key(der, password=None)
    assert private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == base64.b64decode(bare.public_key)


def test_ec_data_key_pairs(hw):
    key_id = new_key(hw, key_spec="SM4")
    for spec, curve in [("ECC_NIST_P256", ec.SECP256R1), ("ECC_NIST_P384", ec.SECP384R1),
                        ("ECC_SECG_P256K1", ec.SECP256K1)]:
        pair = ec_pair(hw, key_id=key_id, key_spec=spec)
        assert (pair.key_id, pair.key_spec) == (key_id, spec)
        public = serialization.load_der_public_key(base64.b64decode(pair.public_key))
        private = serialization.load_der_private_key(base64.b64decode(pair.private_key_plain_text), None)
        assert isinstance(public.curve, curve) and isinstance(private.curve, curve)
        assert private.public_key().public_numbers() == public.public_numbers()
        signature = private.sign(b"m", ec.ECDSA(hashes.SHA256()))
        public.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))
        opened = decrypt_data(hw, pair.private_key_cipher_text)
        assert base64.b64decode(opened.plain_text_base64) == base64.b64decode(pair.private_key_plain_text)
    sm2 = ec_pair(hw, key_id=key_id, key_spec="SM2", with_plain_text=False)
    spki = base64.b64decode(sm2.public_key)
    assert bytes.fromhex("06082a811ccf5501822d") in spki, "the SM2 curve's OID"
    assert sm2.private_key_plain_text is None
    der = base64.b64decode(decrypt_data(hw, sm2.private_key_cipher_text).plain_text_base64)
    assert der[0] == 0x30 and bytes.fromhex("06082a811ccf5501822d") in der


def test_data_key_pair_refusals(hw):
    key_id = new_key(hw)
    refuse(400, "KMS.0204", rsa_pair, hw, key_id=key_id)
    refuse(400, "KMS.0204", ec_pair, hw, key_spec="ECC_NIST_P256")
    refuse(400, "KMS.0308", rsa_pair, hw, key_id=key_id, key_spec="ECC_NIST_P256")
    refuse(400, "KMS.0308", ec_pair, hw, key_id=key_id, key_spec="RSA_2048")
    refuse(400, "KMS.0308", ec_pair, hw, key_id=key_id, key_spec="ECC_NIST_P521")
    refuse(400, "KMS.0308", ec_pair, hw, key_id=key_id, key_spec="EC_P256")
    refuse(400, "KMS.0308", ec_pair, hw, key_id=key_id, key_spec="ECC_NIST_P256", with_plain_text="true")
    refuse(400, "KMS.0308", ec_pair, hw, key_id=key_id, key_spec="ECC_NIST_P256",
           additional_authenticated_data="a" * 129)
    refuse(400, "KMS.0205", ec_pair, hw, key_id="bad", key_spec="ECC_NIST_P256")
    signer = new_key(hw, key_spec="RSA_2048", key_usage="SIGN_VERIFY")
    refuse(400, "KMS.0335", ec_pair, hw, key_id=signer, key_spec="ECC_NIST_P256")
    rsa_enc = new_key(hw, key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    refuse(400, "KMS.2106", ec_pair, hw, key_id=rsa_enc, key_spec="ECC_NIST_P256")
    disable(hw, key_id)
    refuse(400, "KMS.0209", rsa_pair, hw, key_id=key_id, key_spec="RSA_2048")


# ---- data-key capsules ----

def test_capsules_round_trip(hw):
    key_id = new_key(hw)
    made = create_capsule(hw, key_id=key_id, datakey_length="256")
    assert made.key_id == key_id and made.datakey_cipher is None
    data_key = bytes.fromhex(made.datakey)
    assert len(data_key) == 32
    opened = decrypt_capsule(hw, key_id=key_id, datakey_capsule=made.datakey_capsule)
    assert (opened.key_id, bytes.fromhex(opened.datakey)) == (key_id, data_key)
    assert len(bytes.fromhex(create_capsule(hw, key_id=key_id, datakey_length="128").datakey)) == 16
    # With the caller's RSA public key (PEM or base64 DER) the data key comes back wrapped to it.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    der_b64 = b64(private.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    wrapped = create_capsule(hw, key_id=key_id, datakey_length="256", public_key=pem)
    assert wrapped.datakey is None
    inner = private.decrypt(base64.b64decode(wrapped.datakey_cipher), OAEP_SHA256)
    again = decrypt_capsule(hw, key_id=key_id, datakey_capsule=wrapped.datakey_capsule, public_key=der_b64,
                            attestation_document=m.DecryptDatakeyCapsuleRequestBodyAttestationDocument(
                                service_token="t"))
    assert private.decrypt(base64.b64decode(again.datakey_cipher), OAEP_SHA256) == inner
    # A capsule is not a ciphertext of decrypt-data, nor the reverse.
    refuse(400, "KMS.2201", decrypt_data, hw, made.datakey_capsule)
    enc = encrypt_data(hw, key_id, "not a capsule")
    refuse(400, "KMS.0308", decrypt_capsule, hw, key_id=key_id, datakey_capsule=enc.cipher_text)


def test_capsule_refusals(hw):
    key_id, other = new_key(hw), new_key(hw)
    made = create_capsule(hw, key_id=key_id, datakey_length="256")
    for bad in ["512", "0", "x"]:
        refuse(400, "KMS.1901", create_capsule, hw, key_id=key_id, datakey_length=bad)
    refuse(400, "KMS.0204", create_capsule, hw, key_id=key_id)
    refuse(400, "KMS.0204", create_capsule, hw, datakey_length="256")
    refuse(400, "KMS.0308", create_capsule, hw, key_id=key_id, datakey_length="256", policy_id="p1")
    refuse(400, "KMS.0308", create_capsule, hw, key_id=key_id, datakey_length="256", key_policy="{}")
    refuse(400, "KMS.0308", create_capsule, hw, key_id=key_id, datakey_length="256", public_key="not a key")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    refuse(400, "KMS.0308", create_capsule, hw, key_id=key_id, datakey_length="256", public_key=ec_pem)
    refuse(400, "KMS.2201", decrypt_capsule, hw, key_id=other, datakey_capsule=made.datakey_capsule)
    refuse(400, "KMS.0308", decrypt_capsule, hw, key_id=key_id, datakey_capsule="%%%")
    raw = bytearray(base64.b64decode(made.datakey_capsule))
    raw[-1] ^= 1
    refuse(400, "KMS.0308", decrypt_capsule, hw, key_id=key_id, datakey_capsule=b64(bytes(raw)))
    refuse(400, "KMS.0204", decrypt_capsule, hw, key_id=key_id)
    refuse(400, "KMS.0204", decrypt_capsule, hw, datakey_capsule=made.datakey_capsule)
    disable(hw, key_id)
    refuse(400, "KMS.0209", decrypt_capsule, hw, key_id=key_id, datakey_capsule=made.datakey_capsule)
    refuse(400, "KMS.0209", create_capsule, hw, key_id=key_id, datakey_length="256")


# ---- across the dialects ----

def test_data_keys_cross_dialects(kms, hw):
    key_id = create_key(kms).KeyId
    dk = hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(key_id=key_id)))
    back = call(kms, "Decrypt", CiphertextBlob=b64(bytes.fromhex(dk.cipher_text)))
    assert (back.KeyId, base64.b64decode(back.Plaintext)) == (key_id, bytes.fromhex(dk.plain_text))
    tc = call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=48)
    plain = base64.b64decode(tc.Plaintext)
    dec = decrypt_datakey(hw, key_id=key_id, cipher_text=base64.b64decode(tc.CiphertextBlob).hex(),
                          datakey_cipher_length="48")
    assert bytes.fromhex(dec.data_key) == plain
    assert dec.datakey_dgst == hashlib.sha256(plain).hexdigest().upper()


def test_re_encrypt_a_tencent_ciphertext(kms, hw):
    source = create_key(kms).KeyId
    destination = new_key(hw)
    blob = call(kms, "Encrypt", KeyId=source, Plaintext=b64(b"from tencent")).CiphertextBlob
    out = re_encrypt(hw, cipher_text=blob, destination_key_id=destination)
    assert (out.source_key_id, out.key_id) == (source, destination)
    back = call(kms, "Decrypt", CiphertextBlob=out.cipher_text)
    assert (back.KeyId, base64.b64decode(back.Plaintext)) == (destination, b"from tencent")


def test_aad_and_encryption_context_do_not_stand_in_for_each_other(kms, hw):
    key_id = create_key(kms).KeyId
    context = json.dumps({"tenant": "a"})
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"bound"), EncryptionContext=context).CiphertextBlob
    for aad in [None, context, "a", "tenant"]:
        refuse(400, "KMS.2201", decrypt_data, hw, blob, aad)
        refuse(400, "KMS.2201", re_encrypt, hw, cipher_text=blob, destination_key_id=key_id,
               source_additional_authenticated_data=aad)
    enc = encrypt_data(hw, key_id, "bound", aad="tenant")
    for ctx in [None, json.dumps({"tenant": "tenant"}), json.dumps({"additional_authenticated_data": "tenant"})]:
        params = {"CiphertextBlob": enc.cipher_text}
        if ctx:
            params["EncryptionContext"] = ctx
        with pytest.raises(TencentCloudSDKException):
            call(kms, "Decrypt", **params)
    dk = encrypt_datakey(hw, key_id=key_id, plain_text=with_digest(b"k" * 32), datakey_plain_length="32",
                         additional_authenticated_data="tenant")
    with pytest.raises(TencentCloudSDKException):
        call(kms, "Decrypt", CiphertextBlob=b64(bytes.fromhex(dk.cipher_text)), EncryptionContext=context)
