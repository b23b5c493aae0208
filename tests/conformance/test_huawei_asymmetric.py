"""Huawei's sign, verify, get-publickey, generate-mac, verify-mac and derive-shared-secret through
the vendor's SDK (huaweicloudsdkkms), checked on the customer's side with `cryptography` (RSA,
ECDSA, Ed25519, ECDH), `gmssl` (SM2 with SM3) and Python's `hmac`."""

import base64
import hashlib
import hmac
import os
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from huaweicloudsdkkms.v2 import model as m

from conftest import b64, call, create_key
from gm import Sm2Key, sm3_hash
from huawei import describe, expect, huawei_client, new_key


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
RSA_ALGORITHMS = [f"{scheme}_SHA_{bits}" for scheme in ("RSASSA_PSS", "RSASSA_PKCS1_V1_5")
                  for bits in ("256", "384", "512")]
# (key_spec, signing_algorithm) for every pair the engine signs with.
PAIRS = ([(spec, alg) for spec in ("RSA_2048", "RSA_3072", "RSA_4096") for alg in RSA_ALGORITHMS]
         + [("EC_P256", "ECDSA_SHA_256"), ("SECP256K1", "ECDSA_SHA_256"), ("EC_P384", "ECDSA_SHA_384"),
            ("SM2", "SM2DSA_SM3"), ("ED25519", "ED25519_SHA_512")])


@pytest.fixture(scope="module")
def keys(hw):
    """One SIGN_VERIFY key per spec, made on first use."""
    made = {}

    def get(spec):
        if spec not in made:
            made[spec] = new_key(hw, key_spec=spec, key_usage="SIGN_VERIFY")
        return made[spec]
    return get


# ---- helpers ----

def sign(hw, key_id, algorithm, message, message_type=None):
    r = hw.sign(m.SignRequest(body=m.SignRequestBody(
        key_id=key_id, message=b64(message), signing_algorithm=algorithm, message_type=message_type)))
    assert r.key_id == key_id
    return base64.b64decode(r.signature, validate=True)


def verify(hw, key_id, algorithm, message, signature, message_type=None):
    r = hw.validate_signature(m.ValidateSignatureRequest(body=m.VerifyRequestBody(
        key_id=key_id, message=b64(message), signature=b64(signature), signing_algorithm=algorithm,
        message_type=message_type)))
    assert r.key_id == key_id
    assert r.signature_valid in ("true", "false"), "the SDK's model types it as a string"
    return r.signature_valid == "true"


def public_pem(hw, key_id):
    r = hw.show_public_key(m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))
    assert r.key_id == key_id
    return r.public_key


def public_der(hw, key_id):
    pem = public_pem(hw, key_id)
    lines = pem.strip().splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----" and lines[-1] == "-----END PUBLIC KEY-----"
    assert all(len(line) <= 64 for line in lines)
    return base64.b64decode("".join(lines[1:-1]), validate=True)


def hash_of(algorithm):
    return HASHES[algorithm.rsplit("_", 1)[1]]()


def digest(algorithm, message, sm2_key=None):
    if algorithm == "SM2DSA_SM3":
        return sm2_key.digest(message)
    h = hashes.Hash(hash_of(algorithm))
    h.update(message)
    return h.finalize()


def scheme(algorithm):
    """The `cryptography` arguments that make or check a signature of `algorithm`."""
    if algorithm.startswith("RSASSA_PSS_"):
        h = hash_of(algorithm)
        return (padding.PSS(mgf=padding.MGF1(hash_of(algorithm)), salt_length=h.digest_size), h)
    if algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        return (padding.PKCS1v15(), hash_of(algorithm))
    return (ec.ECDSA(hash_of(algorithm)),)


def library_verifies(der, algorithm, signature, message):
    if algorithm == "SM2DSA_SM3":
        return Sm2Key.from_spki(der).verify(signature, message)
    public = serialization.load_der_public_key(der)
    try:
        if algorithm == "ED25519_SHA_512":
            public.verify(signature, message)
        else:
            public.verify(signature, message, *scheme(algorithm))
        return True
    except Exception:  # InvalidSignature, or anything else: not accepted
        return False


def foreign_signature(spec, algorithm, message):
    """A valid signature over `message` by a key of the same type made here, not the KMS's."""
    if algorithm == "SM2DSA_SM3":
        return Sm2Key.generate().sign(message)
    if spec == "ED25519":
        return ed25519.Ed25519PrivateKey.generate().sign(message)
    if spec.startswith("RSA_"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        curve = {"EC_P256": ec.SECP256R1, "EC_P384": ec.SECP384R1, "SECP256K1": ec.SECP256K1}[spec]
        private = ec.generate_private_key(curve())
    return private.sign(message, *scheme(algorithm))


def flip(data, index=-1):
    raw = bytearray(data)
    raw[index] ^= 0x01
    return bytes(raw)


def sign_body(**fields):
    return m.SignRequest(body=m.SignRequestBody(**fields))


def verify_body(**fields):
    return m.ValidateSignatureRequest(body=m.VerifyRequestBody(**fields))


# ---- sign and verify ----

@pytest.mark.parametrize("spec,algorithm", PAIRS)
def test_signatures_verify_in_the_customers_library(hw, keys, spec, algorithm):
    key_id = keys(spec)
    der = public_der(hw, key_id)
    message = os.urandom(100)
    sm2_key = Sm2Key.from_spki(der) if spec == "SM2" else None
    inputs = []
    if spec != "ED25519":
        inputs.append((digest(algorithm, message, sm2_key), None))
        inputs.append((digest(algorithm, message, sm2_key), "DIGEST"))
    if spec != "SM2":
        inputs.append((message, "RAW"))
    for signed, message_type in inputs:
        signature = sign(hw, key_id, algorithm, signed, message_type)
        assert library_verifies(der, algorithm, signature, message), (algorithm, message_type)
        assert verify(hw, key_id, algorithm, signed, signature, message_type)
        assert not verify(hw, key_id, algorithm, signed, flip(signature), message_type)
        assert not verify(hw, key_id, algorithm, signed, flip(signature, 8), message_type)
        assert not library_verifies(der, algorithm, signature, message + b"x")
    other = os.urandom(100)
    foreign = foreign_signature(spec, algorithm, other)
    foreign_input = (other, "RAW") if spec == "ED25519" else (digest(algorithm, other, sm2_key), None)
    assert not verify(hw, key_id, algorithm, foreign_input[0], foreign, foreign_input[1])
    assert not verify(hw, key_id, algorithm, foreign_input[0], b"\x30\x00", foreign_input[1])


def test_signatures_are_randomized_where_the_scheme_is(hw, keys):
    key_id = keys("EC_P256")
    d = hashlib.sha256(b"same").digest()
    assert sign(hw, key_id, "ECDSA_SHA_256", d) != sign(hw, key_id, "ECDSA_SHA_256", d)
    ed = keys("ED25519")
    assert sign(hw, ed, "ED25519_SHA_512", b"same", "RAW") == sign(hw, ed, "ED25519_SHA_512", b"same", "RAW")


def test_sm2_signs_digests_only_as_the_vendor_does(hw, keys):
    key_id = keys("SM2")
    expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=b64(b"m"),
                                                 signing_algorithm="SM2DSA_SM3", message_type="RAW"))
    der = public_der(hw, key_id)
    sm2_key = Sm2Key.from_spki(der)
    other_id = sm2_key.digest(b"m", user_id=b"another-user-id!")
    signature = sign(hw, key_id, "SM2DSA_SM3", other_id)
    assert not sm2_key.verify(signature, b"m"), "the digest fixes Z; the default user id verifies only its own"


def test_ed25519_signs_messages_only(hw, keys):
    key_id = keys("ED25519")
    for message_type in (None, "DIGEST"):
        expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=b64(os.urandom(64)),
                                                     signing_algorithm="ED25519_SHA_512",
                                                     message_type=message_type))
    for message_type in (None, "DIGEST", "RAW"):
        expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=b64(os.urandom(64)),
                                                     signing_algorithm="ED25519_PH_SHA_512",
                                                     message_type=message_type))


@pytest.mark.parametrize("spec,algorithm", [
    ("EC_P256", "ECDSA_SHA_384"), ("EC_P256", "ECDSA_SHA_512"), ("EC_P384", "ECDSA_SHA_256"),
    ("EC_P384", "ECDSA_SHA_512"), ("EC_P256", "RSASSA_PSS_SHA_256"), ("RSA_2048", "ECDSA_SHA_256"),
    ("RSA_2048", "SM2DSA_SM3"), ("SM2", "ECDSA_SHA_256"), ("SECP256K1", "SM2DSA_SM3"),
    ("ED25519", "ECDSA_SHA_256"), ("SM2", "ED25519_SHA_512"),
])
def test_an_algorithm_the_key_cannot_use_is_refused(hw, keys, spec, algorithm):
    key_id = keys(spec)
    message = os.urandom(48)
    expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=b64(message),
                                                 signing_algorithm=algorithm, message_type="RAW"))
    expect(400, "KMS.0308", hw.validate_signature, verify_body(
        key_id=key_id, message=b64(message), signature=b64(b"\x30\x06\x02\x01\x01\x02\x01\x01"),
        signing_algorithm=algorithm, message_type="RAW"))


@pytest.mark.parametrize("algorithm,length", [("ECDSA_SHA_256", 32), ("RSASSA_PSS_SHA_384", 48),
                                               ("RSASSA_PKCS1_V1_5_SHA_512", 64), ("SM2DSA_SM3", 32)])
def test_a_digest_of_the_wrong_length_is_refused(hw, keys, algorithm, length):
    spec = {"ECDSA_SHA_256": "EC_P256", "SM2DSA_SM3": "SM2"}.get(algorithm, "RSA_2048")
    key_id = keys(spec)
    for wrong in (length - 1, length + 1, 20):
        expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=b64(os.urandom(wrong)),
                                                     signing_algorithm=algorithm))
        expect(400, "KMS.0308", hw.validate_signature, verify_body(
            key_id=key_id, message=b64(os.urandom(wrong)), signature=b64(os.urandom(64)),
            signing_algorithm=algorithm))


def test_sign_and_verify_errors(hw, keys):
    key_id = keys("EC_P256")
    d = b64(hashlib.sha256(b"m").digest())
    sig = b64(sign(hw, key_id, "ECDSA_SHA_256", hashlib.sha256(b"m").digest()))
    good = {"key_id": key_id, "message": d, "signing_algorithm": "ECDSA_SHA_256"}
    for field in good:
        for missing in (None, ""):
            fields = dict(good, **{field: missing})
            expect(400, "KMS.0204", hw.sign, sign_body(**fields))
            expect(400, "KMS.0204", hw.validate_signature, verify_body(signature=sig, **fields))
    expect(400, "KMS.0204", hw.validate_signature, verify_body(**good))
    expect(400, "KMS.0205", hw.sign, sign_body(**dict(good, key_id="not-a-key")))
    expect(404, "KMS.0207", hw.sign, sign_body(**dict(good, key_id=str(uuid.uuid4()))))
    expect(404, "KMS.0207", hw.validate_signature, verify_body(signature=sig, **dict(good, key_id=str(uuid.uuid4()))))
    for name in ("ECDSA_SHA_1", "ecdsa_sha_256", "SM2DSA", "RSA_PSS_SHA_256"):
        expect(400, "KMS.0308", hw.sign, sign_body(**dict(good, signing_algorithm=name)))
    for message_type in ("digest", "raw", "MESSAGE"):
        expect(400, "KMS.0308", hw.sign, sign_body(message_type=message_type, **good))
    for bad in ("not base64!", "YQ", "@@@@"):
        expect(400, "KMS.0308", hw.sign, sign_body(**dict(good, message=bad)))
        expect(400, "KMS.0308", hw.validate_signature, verify_body(signature=bad, **good))
    expect(400, "KMS.0308", hw.sign, sign_body(message_type="RAW", **dict(good, message=b64(os.urandom(4097)))))
    assert sign(hw, key_id, "ECDSA_SHA_256", os.urandom(4096), "RAW")


def test_sign_and_verify_need_an_enabled_sign_verify_key(hw):
    d = b64(hashlib.sha256(b"m").digest())
    for fields in ({"key_spec": "AES_256"}, {"key_spec": "HMAC_256"}, {"key_spec": "SM4"},
                   {"key_spec": "RSA_2048", "key_usage": "ENCRYPT_DECRYPT"},
                   {"key_spec": "EC_P256", "key_usage": "KEY_AGREEMENT"}):
        key_id = new_key(hw, **fields)
        expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=d, signing_algorithm="RSASSA_PSS_SHA_256"))
        expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=d, signing_algorithm="ECDSA_SHA_256"))
    key_id = new_key(hw, key_spec="EC_P256", key_usage="SIGN_VERIFY")
    sig = b64(sign(hw, key_id, "ECDSA_SHA_256", hashlib.sha256(b"m").digest()))
    body = m.OperateKeyRequestBody(key_id=key_id)
    hw.disable_key(m.DisableKeyRequest(body=body))
    expect(400, "KMS.0209", hw.sign, sign_body(key_id=key_id, message=d, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0209", hw.validate_signature, verify_body(
        key_id=key_id, message=d, signature=sig, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0209", hw.show_public_key, m.ShowPublicKeyRequest(body=body))
    hw.enable_key(m.EnableKeyRequest(body=body))
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.0210", hw.sign, sign_body(key_id=key_id, message=d, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0210", hw.validate_signature, verify_body(
        key_id=key_id, message=d, signature=sig, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0210", hw.show_public_key, m.ShowPublicKeyRequest(body=body))


def test_a_number_where_the_sdk_sends_a_string_is_refused(hw, keys):
    key_id = keys("EC_P256")
    d = b64(hashlib.sha256(b"m").digest())
    expect(400, "KMS.0308", hw.sign, sign_body(key_id=123, message=d, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0308", hw.sign, sign_body(key_id=key_id, message=123, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0308", hw.validate_signature, verify_body(
        key_id=key_id, message=d, signature=5, signing_algorithm="ECDSA_SHA_256"))
    expect(400, "KMS.0308", hw.show_public_key, m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody(key_id=7)))
    expect(400, "KMS.0308", hw.generate_mac, m.GenerateMacRequest(body=m.GenerateMacRequestBody(
        key_id=key_id, mac_algorithm=256, message=d)))
    expect(400, "KMS.0308", hw.derive_shared_secret, m.DeriveSharedSecretRequest(
        body=m.DeriveSharedSecretRequestBody(key_id=key_id, key_agreement_algorithm="ECDH", public_key=1)))


# ---- get-publickey ----

@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P384", "SECP256K1",
                                  "SM2", "ED25519"])
def test_public_key_is_pem_of_the_keys_spec(hw, keys, spec):
    key_id = keys(spec)
    pem = public_pem(hw, key_id)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----\n")
    if spec == "SM2":
        assert Sm2Key.from_spki(public_der(hw, key_id)).pem() == pem
        return
    public = serialization.load_pem_public_key(pem.encode())
    if spec.startswith("RSA_"):
        assert public.key_size == int(spec[4:])
    elif spec == "ED25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
    else:
        expected = {"EC_P256": "secp256r1", "EC_P384": "secp384r1", "SECP256K1": "secp256k1"}[spec]
        assert public.curve.name == expected
    assert public_pem(hw, key_id) == pem, "the same key answers the same public key"


def test_public_key_errors(hw):
    show = hw.show_public_key
    for spec in ("AES_256", "SM4", "HMAC_256"):
        expect(400, "KMS.0308", show, m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody(key_id=new_key(hw, key_spec=spec))))
    expect(400, "KMS.0204", show, m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody()))
    expect(400, "KMS.0205", show, m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody(key_id="x")))
    expect(404, "KMS.0207", show, m.ShowPublicKeyRequest(body=m.OperateKeyRequestBody(key_id=str(uuid.uuid4()))))
    rsa_decrypt = new_key(hw, key_spec="RSA_2048", key_usage="ENCRYPT_DECRYPT")
    serialization.load_pem_public_key(public_pem(hw, rsa_decrypt).encode())
    agreement = new_key(hw, key_spec="EC_P256", key_usage="KEY_AGREEMENT")
    serialization.load_pem_public_key(public_pem(hw, agreement).encode())


# ---- generate-mac and verify-mac ----

MAC_PAIRS = [("HMAC_256", "HMAC_SHA_256"), ("HMAC_384", "HMAC_SHA_384"), ("HMAC_512", "HMAC_SHA_512"),
             ("HMAC_SM3", "HMAC_SM3")]
MAC_LENGTHS = {"HMAC_SHA_256": 32, "HMAC_SHA_384": 48, "HMAC_SHA_512": 64, "HMAC_SM3": 32}


def generate_mac(hw, key_id, algorithm, message):
    r = hw.generate_mac(m.GenerateMacRequest(body=m.GenerateMacRequestBody(
        key_id=key_id, mac_algorithm=algorithm, message=b64(message))))
    assert (r.key_id, r.mac_algorithm) == (key_id, algorithm)
    assert r.mac == r.mac.lower() and len(r.mac) == 2 * MAC_LENGTHS[algorithm], "lowercase hex, as the vendor"
    return bytes.fromhex(r.mac)


def verify_mac(hw, key_id, algorithm, message, mac):
    r = hw.verify_mac(m.VerifyMacRequest(body=m.VerifyMacRequestBody(
        key_id=key_id, mac_algorithm=algorithm, message=b64(message), mac=mac)))
    assert (r.key_id, r.mac_algorithm) == (key_id, algorithm)
    assert isinstance(r.mac_valid, bool), "the SDK's model types it as a JSON boolean"
    return r.mac_valid


def hmac_of(hash_fn, key, message, block=64):
    """HMAC (RFC 2104) over `hash_fn`, written out, so SM3 (a 64-byte block) can use it."""
    if len(key) > block:
        key = hash_fn(key)
    key = key.ljust(block, b"\0")
    inner = hash_fn(bytes(b ^ 0x36 for b in key) + message)
    return hash_fn(bytes(b ^ 0x5C for b in key) + inner)


def test_the_written_out_hmac_is_pythons_hmac():
    sha256 = lambda data: hashlib.sha256(data).digest()  # noqa: E731
    for key in (b"", b"key", os.urandom(32), os.urandom(100)):
        message = os.urandom(77)
        assert hmac_of(sha256, key, message) == hmac.new(key, message, hashlib.sha256).digest()


def imported_mac_key(hw, kms, spec, material):
    """An external HMAC key made through Huawei whose material is imported through Tencent, so the
    test knows the key and can check MACs with its own HMAC."""
    key_id = new_key(hw, key_spec=spec, origin="external")
    params = call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                  WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(base64.b64decode(params.PublicKey))
    wrapped = public.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                    algorithm=hashes.SHA256(), label=None))
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=b64(wrapped),
         ImportToken=params.ImportToken, ValidTo=0)
    assert describe(hw, key_id).key_state == "2"
    return key_id


@pytest.mark.parametrize("spec,algorithm", MAC_PAIRS)
def test_macs_match_the_customers_hmac(hw, kms, spec, algorithm):
    material = os.urandom(MAC_LENGTHS[algorithm])
    key_id = imported_mac_key(hw, kms, spec, material)
    for message in (b"a", os.urandom(100), os.urandom(4096)):
        mac = generate_mac(hw, key_id, algorithm, message)
        if algorithm == "HMAC_SM3":
            expected = hmac_of(sm3_hash, material, message)
        else:
            expected = hmac.new(material, message, getattr(hashlib, "sha" + algorithm[-3:])).digest()
        assert mac == expected
        assert verify_mac(hw, key_id, algorithm, message, mac.hex())
        assert verify_mac(hw, key_id, algorithm, message, mac.hex().upper()), "hex of either case"
        assert not verify_mac(hw, key_id, algorithm, message, flip(mac).hex())
        assert not verify_mac(hw, key_id, algorithm, flip(message), mac.hex())
        assert not verify_mac(hw, key_id, algorithm, message, mac[:-1].hex())


@pytest.mark.parametrize("spec,algorithm", MAC_PAIRS)
def test_generated_mac_keys_are_deterministic_and_distinct(hw, spec, algorithm):
    a, b = new_key(hw, key_spec=spec), new_key(hw, key_spec=spec)
    message = os.urandom(64)
    mac = generate_mac(hw, a, algorithm, message)
    assert generate_mac(hw, a, algorithm, message) == mac
    assert generate_mac(hw, b, algorithm, message) != mac
    assert verify_mac(hw, a, algorithm, message, mac.hex())
    assert not verify_mac(hw, b, algorithm, message, mac.hex())


def test_mac_errors(hw):
    key_id = new_key(hw, key_spec="HMAC_256")
    gen = hw.generate_mac
    good = {"key_id": key_id, "mac_algorithm": "HMAC_SHA_256", "message": b64(b"m")}
    mac = generate_mac(hw, key_id, "HMAC_SHA_256", b"m").hex()

    def g(**fields):
        return m.GenerateMacRequest(body=m.GenerateMacRequestBody(**dict(good, **fields)))

    def v(**fields):
        return m.VerifyMacRequest(body=m.VerifyMacRequestBody(**dict(dict(good, mac=mac), **fields)))
    for field in good:
        expect(400, "KMS.0204", gen, g(**{field: None}))
        expect(400, "KMS.0204", gen, g(**{field: ""}))
        expect(400, "KMS.0204", hw.verify_mac, v(**{field: None}))
    expect(400, "KMS.0204", hw.verify_mac, v(mac=None))
    expect(400, "KMS.0205", gen, g(key_id="not-a-key"))
    expect(404, "KMS.0207", gen, g(key_id=str(uuid.uuid4())))
    expect(404, "KMS.0207", hw.verify_mac, v(key_id=str(uuid.uuid4())))
    for name in ("HMAC_SHA_384", "HMAC_SHA_512", "HMAC_SM3", "HMAC_SHA_1", "hmac_sha_256", "SHA_256"):
        expect(400, "KMS.0308", gen, g(mac_algorithm=name))
        expect(400, "KMS.0308", hw.verify_mac, v(mac_algorithm=name))
    for bad in ("not base64!", "YQ"):
        expect(400, "KMS.0308", gen, g(message=bad))
    for bad in ("zz", "abc", "not hex"):
        expect(400, "KMS.0308", hw.verify_mac, v(mac=bad))
    expect(400, "KMS.0308", gen, g(message=b64(os.urandom(4097))))
    for fields in ({"key_spec": "AES_256"}, {"key_spec": "EC_P256", "key_usage": "SIGN_VERIFY"}):
        other = new_key(hw, **fields)
        expect(400, "KMS.0308", gen, g(key_id=other))
        expect(400, "KMS.0308", hw.verify_mac, v(key_id=other))
    body = m.OperateKeyRequestBody(key_id=key_id)
    hw.disable_key(m.DisableKeyRequest(body=body))
    expect(400, "KMS.0209", gen, g())
    expect(400, "KMS.0209", hw.verify_mac, v())
    hw.enable_key(m.EnableKeyRequest(body=body))
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.0210", gen, g())
    expect(400, "KMS.0210", hw.verify_mac, v())


# ---- derive-shared-secret ----

CURVES = {"EC_P256": ec.SECP256R1, "EC_P384": ec.SECP384R1}


def derive(hw, key_id, public_key_b64, algorithm="ECDH", recipient=None):
    return hw.derive_shared_secret(m.DeriveSharedSecretRequest(body=m.DeriveSharedSecretRequestBody(
        key_id=key_id, key_agreement_algorithm=algorithm, public_key=public_key_b64, recipient=recipient)))


def spki(private):
    return private.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec", ["EC_P256", "EC_P384"])
def test_shared_secret_matches_the_customers_ecdh(hw, spec):
    key_id = new_key(hw, key_spec=spec, key_usage="KEY_AGREEMENT")
    info = describe(hw, key_id)
    assert (info.key_spec, info.key_usage) == (spec, "KEY_AGREEMENT")
    kms_public = serialization.load_pem_public_key(public_pem(hw, key_id).encode())
    client = ec.generate_private_key(CURVES[spec]())
    r = derive(hw, key_id, b64(spki(client)))
    assert (r.key_id, r.key_agreement_algorithm) == (key_id, "ECDH")
    assert r.ciphertext_recipient is None
    secret = base64.b64decode(r.shared_secret, validate=True)
    assert secret == client.exchange(ec.ECDH(), kms_public)
    assert len(secret) == {"EC_P256": 32, "EC_P384": 48}[spec]
    other = ec.generate_private_key(CURVES[spec]())
    assert base64.b64decode(derive(hw, key_id, b64(spki(other))).shared_secret) != secret


def test_derive_errors(hw):
    key_id = new_key(hw, key_spec="EC_P256", key_usage="KEY_AGREEMENT")
    peer = b64(spki(ec.generate_private_key(ec.SECP256R1())))
    expect(400, "KMS.0204", derive, hw, None, peer)
    expect(400, "KMS.0204", derive, hw, key_id, None)
    expect(400, "KMS.0204", derive, hw, key_id, peer, None)
    expect(400, "KMS.0205", derive, hw, "not-a-key", peer)
    expect(404, "KMS.0207", derive, hw, str(uuid.uuid4()), peer)
    for algorithm in ("ecdh", "ECDHE", "DH"):
        expect(400, "KMS.0308", derive, hw, key_id, peer, algorithm)
    for bad in ("not base64!", b64(b"not a key"), b64(spki(ec.generate_private_key(ec.SECP384R1()))),
                b64(spki(ed25519.Ed25519PrivateKey.generate())), b64(Sm2Key.generate().spki())):
        expect(400, "KMS.0308", derive, hw, key_id, bad)
    expect(400, "KMS.0308", derive, hw, key_id, peer, "ECDH",
           m.Recipient(attestation_document=b64(b"doc"), key_encryption_algorithm="RSAES_OAEP_SHA_256"))
    for fields in ({"key_spec": "EC_P256", "key_usage": "SIGN_VERIFY"}, {"key_spec": "AES_256"},
                   {"key_spec": "HMAC_256"}):
        expect(400, "KMS.0308", derive, hw, new_key(hw, **fields), peer)
    for fields in ({"key_spec": "SECP256K1", "key_usage": "KEY_AGREEMENT"},
                   {"key_spec": "RSA_2048", "key_usage": "KEY_AGREEMENT"},
                   {"key_spec": "HMAC_256", "key_usage": "KEY_AGREEMENT"}):
        expect(400, "KMS.0308", lambda: new_key(hw, **fields))
    body = m.OperateKeyRequestBody(key_id=key_id)
    hw.disable_key(m.DisableKeyRequest(body=body))
    expect(400, "KMS.0209", derive, hw, key_id, peer)
    hw.enable_key(m.EnableKeyRequest(body=body))
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.0210", derive, hw, key_id, peer)


# ---- across dialects ----

TENCENT = [("ASYMMETRIC_SIGN_VERIFY_SM2", "SM2DSA", "SM2DSA_SM3", "SM2"),
           ("ASYMMETRIC_SIGN_VERIFY_ECC", "ECC_P256_R1", "ECDSA_SHA_256", "EC_P256")]


@pytest.mark.parametrize("usage,tencent_algorithm,algorithm,spec", TENCENT)
def test_a_tencent_key_signs_through_huawei_and_verifies_through_tencent(hw, kms, usage, tencent_algorithm,
                                                                        algorithm, spec):
    key_id = create_key(kms, KeyUsage=usage).KeyId
    info = describe(hw, key_id)
    assert (info.key_spec, info.key_usage) == (spec, "SIGN_VERIFY")
    der = base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey)
    assert public_der(hw, key_id) == der
    message = os.urandom(64)
    sm2_key = Sm2Key.from_spki(der) if spec == "SM2" else None
    d = digest(algorithm, message, sm2_key)
    signature = sign(hw, key_id, algorithm, d)
    for params in ({"Message": b64(message)}, {"Message": b64(d), "MessageType": "DIGEST"}):
        r = call(kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=tencent_algorithm,
                 SignatureValue=b64(signature), **params)
        assert r.SignatureValid is True
    r = call(kms, "VerifyByAsymmetricKey", KeyId=key_id, Algorithm=tencent_algorithm, Message=b64(message),
             SignatureValue=b64(flip(signature)))
    assert r.SignatureValid is False


@pytest.mark.parametrize("usage,tencent_algorithm,algorithm,spec", TENCENT)
def test_a_huawei_key_signs_through_tencent_and_verifies_through_huawei(hw, kms, usage, tencent_algorithm,
                                                                        algorithm, spec):
    key_id = new_key(hw, key_spec=spec, key_usage="SIGN_VERIFY")
    detail = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
    assert detail.KeyUsage == usage
    message = os.urandom(64)
    r = call(kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=tencent_algorithm, Message=b64(message))
    signature = base64.b64decode(r.Signature)
    der = public_der(hw, key_id)
    sm2_key = Sm2Key.from_spki(der) if spec == "SM2" else None
    d = digest(algorithm, message, sm2_key)
    assert verify(hw, key_id, algorithm, d, signature)
    assert not verify(hw, key_id, algorithm, d, flip(signature))
    if spec != "SM2":
        assert verify(hw, key_id, algorithm, message, signature, "RAW")
    assert library_verifies(der, algorithm, signature, message)
