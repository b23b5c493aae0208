"""Bring your own key through the Huawei dialect and its SDK (huaweicloudsdkkms): import parameters,
symmetric and asymmetric key material, material expiry and deletion, the vendor's error codes, and
keys imported through one dialect used through the other.

The customer's side is done here as a customer would: `cryptography` wraps with RSA and with AES
key wrap with padding (RFC 5649) and makes the private keys; `gmssl` (through gm.py) wraps with
SM2 and makes SM2 keys."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import time

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY, b64, call, create_key
from gm import SM2_SPKI_PREFIX, Sm2Key, der_int, der_octets, der_seq, der_tlv
from huawei import describe, expect, huawei_client, new_key

RSA_PADDINGS = {
    "RSAES_PKCS1_V1_5": lambda: padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    "RSAES_OAEP_SHA_256": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
}
ALGORITHMS = list(RSA_PADDINGS) + ["SM2_ENCRYPT"]
# The page's own example (Obtaining Key Import Parameters), byte for byte.
SEED_KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
SEED_BODY = """{
  "key_id" : "0d0466b0-e727-4d9c-b35d-f84bb474a37f",
  "wrapping_algorithm" : "RSAES_OAEP_SHA_256"
}"""


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


# ---- the customer's side ----

def external(hw, spec="AES_256", usage=None):
    fields = {"origin": "external", "key_spec": spec}
    if usage:
        fields["key_usage"] = usage
    return new_key(hw, **fields)


def params(hw, key_id, algorithm="RSAES_OAEP_SHA_256", **extra):
    body = m.GetParametersForImportRequestBody(key_id=key_id, wrapping_algorithm=algorithm, **extra)
    return hw.create_parameters_for_import(m.CreateParametersForImportRequest(body=body))


def wrap(p, data, algorithm="RSAES_OAEP_SHA_256"):
    """`data` encrypted to the parameters' public key, base64."""
    der = base64.b64decode(p.public_key)
    if algorithm == "SM2_ENCRYPT":
        return b64(Sm2Key.from_spki(der).encrypt_asn1(data))
    public = serialization.load_der_public_key(der)
    return b64(public.encrypt(data, RSA_PADDINGS[algorithm]()))


def import_material(hw, key_id, p, encrypted, private=None, expiration_time=None, **extra):
    body = m.ImportKeyMaterialRequestBody(key_id=key_id, import_token=p.import_token,
                                          encrypted_key_material=encrypted, encrypted_privatekey=private,
                                          expiration_time=expiration_time, **extra)
    return hw.import_key_material(m.ImportKeyMaterialRequest(body=body))


def imported(hw, spec="AES_256", material=None, algorithm="RSAES_OAEP_SHA_256", expiration_time=None):
    key_id = external(hw, spec)
    material = material or os.urandom(16 if spec == "SM4" else 32)
    p = params(hw, key_id, algorithm)
    import_material(hw, key_id, p, wrap(p, material, algorithm), expiration_time=expiration_time)
    return key_id, material


def envelope(p, pkcs8, temporary=None, algorithm="RSAES_OAEP_SHA_256"):
    """(encrypted_key_material, encrypted_privatekey): a temporary AES key wrapped to the
    parameters' public key, and the PKCS#8 private key under it (AES key wrap with padding)."""
    temporary = temporary or os.urandom(32)
    return wrap(p, temporary, algorithm), b64(aes_key_wrap_with_padding(temporary, pkcs8))


def pkcs8_of(private):
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def sm2_pkcs8(key):
    """PKCS#8 of an SM2 key: id-ecPublicKey with the sm2p256v1 curve (as in its SPKI) around an
    ECPrivateKey (RFC 5915) holding the scalar and the public point."""
    algorithm = SM2_SPKI_PREFIX[2:2 + 2 + 0x13]
    ec_private = der_seq(der_int(1), der_octets(key.private.to_bytes(32, "big")),
                         der_tlv(0xA1, der_tlv(0x03, b"\x00\x04" + key.point)))
    return der_seq(der_int(0), algorithm, der_octets(ec_private))


def import_private(hw, spec, pkcs8, temporary=None, algorithm="RSAES_OAEP_SHA_256"):
    key_id = external(hw, spec, "SIGN_VERIFY")
    p = params(hw, key_id, algorithm)
    encrypted, private = envelope(p, pkcs8, temporary, algorithm)
    import_material(hw, key_id, p, encrypted, private)
    return key_id


def encrypt(hw, key_id, text):
    body = m.EncryptDataRequestBody(key_id=key_id, plain_text=text)
    return hw.encrypt_data(m.EncryptDataRequest(body=body)).cipher_text


def decrypt(hw, cipher_text):
    return hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=cipher_text))).plain_text


def delete_material(hw, key_id):
    return hw.delete_imported_key_material(
        m.DeleteImportedKeyMaterialRequest(body=m.OperateKeyRequestBody(key_id=key_id)))


def signed_post(server, path, body):
    """A raw request signed as the SDK signs (SDK-HMAC-SHA256), for bodies the SDK would reshape."""
    host = server.endpoint
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {"content-type": "application/json", "host": host, "x-project-id": PROJECT_ID, "x-sdk-date": date}
    names = sorted(headers)
    canonical = "\n".join([
        "POST", path + "/", "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names),
        hashlib.sha256(body.encode()).hexdigest()])
    to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(SECRET_KEY.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"SDK-HMAC-SHA256 Access={SECRET_ID}, SignedHeaders={';'.join(names)}, "
                                f"Signature={signature}")
    return requests.post(f"http://{host}{path}", data=body.encode(), headers=headers, timeout=30)


# ---- the seed page ----

def test_seed_example_request_as_the_page_shows_it(server, hw):
    path = f"/v1.0/{PROJECT_ID}/kms/get-parameters-for-import"
    r = signed_post(server, path, SEED_BODY)
    assert r.status_code == 404, "the page's key does not exist in this store"
    assert r.json()["error"]["error_code"] == "KMS.0207"
    assert r.headers["X-Request-Id"]
    key_id = external(hw)
    r = signed_post(server, path, SEED_BODY.replace(SEED_KEY_ID, key_id))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"key_id", "import_token", "expiration_time", "public_key"}
    assert answer["key_id"] == key_id
    assert isinstance(answer["expiration_time"], int)
    assert abs(answer["expiration_time"] - (time.time() + 86400)) < 60
    public = serialization.load_der_public_key(base64.b64decode(answer["public_key"], validate=True))
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048, "RSA_2048 by default"
    material = os.urandom(32)
    p = m.CreateParametersForImportResponse(**answer)
    import_material(hw, key_id, p, wrap(p, material))
    assert decrypt(hw, encrypt(hw, key_id, "seed")) == "seed"


# ---- get-parameters-for-import ----

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_parameters_per_algorithm(hw, algorithm):
    key_id = external(hw)
    first = params(hw, key_id, algorithm, sequence="919c82d4-8046-4722-9094-35c3c6524cff")
    second = params(hw, key_id, algorithm)
    assert first.key_id == key_id
    assert first.import_token != second.import_token
    assert first.public_key != second.public_key, "a fresh wrapping key pair per request"
    assert abs(first.expiration_time - (time.time() + 86400)) < 60
    der = base64.b64decode(first.public_key, validate=True)
    if algorithm == "SM2_ENCRYPT":
        assert der.startswith(SM2_SPKI_PREFIX) and len(der) == len(SM2_SPKI_PREFIX) + 65
    else:
        assert serialization.load_der_public_key(der).key_size == 2048


def test_parameters_errors(hw):
    key_id = external(hw)
    get = hw.create_parameters_for_import

    def req(**fields):
        return m.CreateParametersForImportRequest(body=m.GetParametersForImportRequestBody(**fields))

    expect(400, "KMS.0204", get, req(wrapping_algorithm="RSAES_OAEP_SHA_256"))
    expect(400, "KMS.0204", get, req(key_id=key_id))
    expect(400, "KMS.0204", get, req(key_id=key_id, wrapping_algorithm=""))
    for bad in ("RSAES_OAEP_SHA_512", "rsaes_oaep_sha_256", "SM2PKE", "RSA_2048"):
        expect(400, "KMS.0308", get, req(key_id=key_id, wrapping_algorithm=bad))
    expect(400, "KMS.0205", get, req(key_id="bad", wrapping_algorithm="RSAES_OAEP_SHA_256"))
    expect(404, "KMS.0207", get, req(key_id="00000000-0000-4000-8000-000000000000",
                                     wrapping_algorithm="RSAES_OAEP_SHA_256"))
    expect(400, "KMS.0309", get, req(key_id=new_key(hw), wrapping_algorithm="RSAES_OAEP_SHA_256"))
    expect(400, "KMS.0206", get, req(key_id=key_id, wrapping_algorithm="RSAES_OAEP_SHA_256", sequence="s" * 37))
    expect(400, "KMS.0308", get, req(key_id=123, wrapping_algorithm="RSAES_OAEP_SHA_256"))
    expect(400, "KMS.0308", get, req(key_id=key_id, wrapping_algorithm=["RSAES_OAEP_SHA_256"]))
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.0210", get, req(key_id=key_id, wrapping_algorithm="RSAES_OAEP_SHA_256"))


# ---- symmetric material ----

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("spec", ["AES_256", "SM4"])
def test_symmetric_import_then_encrypt_and_decrypt(hw, spec, algorithm):
    key_id, _ = imported(hw, spec, algorithm=algorithm)
    info = describe(hw, key_id)
    assert (info.key_state, info.origin, info.key_spec, info.expiration_time) == ("2", "external", spec, "")
    cipher = encrypt(hw, key_id, "imported " + spec)
    assert decrypt(hw, cipher) == "imported " + spec


def test_the_same_material_imports_into_two_keys_that_stay_apart(hw):
    material = os.urandom(32)
    first, _ = imported(hw, material=material)
    second, _ = imported(hw, material=material)
    cipher = encrypt(hw, first, "mine")
    assert decrypt(hw, cipher) == "mine"
    expect(400, "KMS.2201", hw.decrypt_data, m.DecryptDataRequest(
        body=m.DecryptDataRequestBody(cipher_text=cipher, key_id=second)))


def test_material_expires_and_comes_back_with_the_same_material(hw):
    expiration = int(time.time()) + 3
    key_id, material = imported(hw, expiration_time=expiration)
    assert describe(hw, key_id).expiration_time == str(expiration * 1000)
    cipher = encrypt(hw, key_id, "until then")
    while time.time() < expiration + 1:
        time.sleep(0.2)
    info = describe(hw, key_id)
    assert (info.key_state, info.expiration_time) == ("5", "")
    with pytest.raises(ClientRequestException) as refused:
        decrypt(hw, cipher)
    assert refused.value.status_code == 400
    p = params(hw, key_id)
    import_material(hw, key_id, p, wrap(p, material))
    assert describe(hw, key_id).key_state == "2"
    assert decrypt(hw, cipher) == "until then"


def test_delete_material_then_reimport_the_same_material(hw):
    key_id, material = imported(hw)
    cipher = encrypt(hw, key_id, "kept")
    delete_material(hw, key_id)
    assert describe(hw, key_id).key_state == "5"
    with pytest.raises(ClientRequestException):
        decrypt(hw, cipher)
    expect(400, "KMS.2607", delete_material, hw, key_id)
    p = params(hw, key_id)
    expect(400, "KMS.2606", import_material, hw, key_id, p, wrap(p, os.urandom(32)))
    assert describe(hw, key_id).key_state == "5"
    import_material(hw, key_id, p, wrap(p, material))
    assert decrypt(hw, cipher) == "kept"
    hw.disable_key(m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))
    delete_material(hw, key_id)
    assert describe(hw, key_id).key_state == "5", "a disabled key's material may be deleted too"


def test_delete_material_errors(hw):
    expect(400, "KMS.0309", delete_material, hw, new_key(hw))
    expect(400, "KMS.0205", delete_material, hw, "bad")
    expect(404, "KMS.0207", delete_material, hw, "00000000-0000-4000-8000-000000000000")
    expect(400, "KMS.0204", delete_material, hw, None)
    expect(400, "KMS.2607", delete_material, hw, external(hw))
    key_id, _ = imported(hw)
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.2607", delete_material, hw, key_id)
    expect(400, "KMS.0308", hw.delete_imported_key_material,
           m.DeleteImportedKeyMaterialRequest(body=m.OperateKeyRequestBody(key_id=["x"])))


# ---- asymmetric material ----

def sign_through_tencent(kms, key_id, algorithm, message):
    r = call(kms, "SignByAsymmetricKey", KeyId=key_id, Algorithm=algorithm, Message=b64(message))
    return base64.b64decode(r.Signature)


def test_ec_p256_imports_and_signs_as_the_customers_key(hw, kms):
    private = ec.generate_private_key(ec.SECP256R1())
    key_id = import_private(hw, "EC_P256", pkcs8_of(private))
    info = describe(hw, key_id)
    assert (info.key_state, info.key_spec, info.key_usage, info.origin) == ("2", "EC_P256", "SIGN_VERIFY", "external")
    signature = sign_through_tencent(kms, key_id, "ECC_P256_R1", b"imported ec")
    private.public_key().verify(signature, b"imported ec", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("temporary_length", [16, 32])
def test_rsa_2048_imports_and_signs_as_the_customers_key(hw, kms, temporary_length):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = import_private(hw, "RSA_2048", pkcs8_of(private), os.urandom(temporary_length))
    signature = sign_through_tencent(kms, key_id, "RSA_PKCS1_SHA_256", b"imported rsa")
    private.public_key().verify(signature, b"imported rsa", padding.PKCS1v15(), hashes.SHA256())


def test_sm2_imports_through_sm2_wrapping_and_signs_as_the_customers_key(hw, kms):
    key = Sm2Key.generate()
    key_id = import_private(hw, "SM2", sm2_pkcs8(key), algorithm="SM2_ENCRYPT")
    signature = sign_through_tencent(kms, key_id, "SM2DSA", b"imported sm2")
    assert key.verify(signature, b"imported sm2")
    assert base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey) == key.spki()


def test_imported_keys_sign_through_huawei(hw):
    private = ec.generate_private_key(ec.SECP256R1())
    key_id = import_private(hw, "EC_P256", pkcs8_of(private))
    digest = hashlib.sha256(b"through huawei").digest()
    body = m.SignRequestBody(key_id=key_id, message=b64(digest), signing_algorithm="ECDSA_SHA_256",
                             message_type="DIGEST")
    try:
        signature = hw.sign(m.SignRequest(body=body)).signature
    except ClientRequestException as e:
        if e.error_code == "KMS.0201":
            pytest.skip("sign is not offered by this build of the Huawei dialect")
        raise
    private.public_key().verify(base64.b64decode(signature), b"through huawei", ec.ECDSA(hashes.SHA256()))


def test_asymmetric_import_errors(hw):
    private = pkcs8_of(ec.generate_private_key(ec.SECP256R1()))
    key_id = external(hw, "EC_P256", "SIGN_VERIFY")
    p = params(hw, key_id)
    encrypted, wrapped_private = envelope(p, private)
    expect(400, "KMS.0204", import_material, hw, key_id, p, encrypted)
    for length in (8, 24, 48):
        bad = wrap(p, os.urandom(length))
        expect(400, "KMS.2610", import_material, hw, key_id, p, bad, wrapped_private)
    _, other = envelope(p, private)
    expect(400, "KMS.0311", import_material, hw, key_id, p, encrypted, other)
    expect(400, "KMS.0311", import_material, hw, key_id, p, encrypted, b64(os.urandom(48)))
    expect(400, "KMS.0308", import_material, hw, key_id, p, encrypted, "%%%not base64%%%")
    temporary = os.urandom(32)
    wrong_type = pkcs8_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    expect(400, "KMS.0308", import_material, hw, key_id, p, wrap(p, temporary),
           b64(aes_key_wrap_with_padding(temporary, wrong_type)))
    expect(400, "KMS.0308", import_material, hw, key_id, p, wrap(p, temporary),
           b64(aes_key_wrap_with_padding(temporary, b"not a private key")))
    assert describe(hw, key_id).key_state == "5"
    import_material(hw, key_id, p, encrypted, wrapped_private)
    symmetric = external(hw)
    sp = params(hw, symmetric)
    expect(400, "KMS.0308", import_material, hw, symmetric, sp, wrap(sp, os.urandom(32)), wrapped_private)


# ---- import-key-material errors and bad input ----

def test_import_errors(hw):
    key_id = external(hw)
    p = params(hw, key_id)
    material = os.urandom(32)
    good = wrap(p, material)
    expect(400, "KMS.2604", import_material, hw, key_id, p, wrap(p, os.urandom(16)))
    expect(400, "KMS.2604", import_material, hw, key_id, p, wrap(p, os.urandom(33)))
    expect(400, "KMS.0311", import_material, hw, key_id, p, b64(os.urandom(256)))
    expect(400, "KMS.0311", import_material, hw, key_id, p, wrap(p, material, "RSAES_PKCS1_V1_5"))
    expect(400, "KMS.0308", import_material, hw, key_id, p, "%%%")
    expect(400, "KMS.2602", import_material, hw, key_id, p, good, None, int(time.time()) - 10)
    expect(400, "KMS.2602", import_material, hw, key_id, p, good, None, 0)
    expect(400, "KMS.0308", import_material, hw, key_id, p, good, None, 2 ** 40)
    expect(400, "KMS.0206", lambda: import_material(hw, key_id, p, good, sequence="s" * 37))
    forged = m.CreateParametersForImportResponse(import_token=b64(os.urandom(32)))
    expect(400, "KMS.2605", import_material, hw, key_id, forged, good)
    expect(400, "KMS.2605", import_material, hw, key_id, m.CreateParametersForImportResponse(import_token="%%%"), good)
    other = external(hw)
    expect(400, "KMS.2605", import_material, hw, other, p, good)
    no_token = m.CreateParametersForImportResponse(import_token=None)
    expect(400, "KMS.0204", import_material, hw, key_id, no_token, good)
    expect(400, "KMS.0204", import_material, hw, key_id, p, None)
    expect(400, "KMS.0204", import_material, hw, None, p, good)
    expect(400, "KMS.0205", import_material, hw, "bad", p, good)
    expect(400, "KMS.0309", import_material, hw, new_key(hw), p, good)
    assert describe(hw, key_id).key_state == "5", "no refused call changed the key"
    import_material(hw, key_id, p, good, None, int(time.time()) + 3600)
    expect(400, "KMS.0310", import_material, hw, key_id, params(hw, key_id), good)
    hw.disable_key(m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))
    expect(400, "KMS.0310", import_material, hw, key_id, p, good)


def test_import_bad_json_types(server, hw):
    key_id = external(hw)
    p = params(hw, key_id)
    good = wrap(p, os.urandom(32))
    path = f"/v1.0/{PROJECT_ID}/kms/import-key-material"
    body = {"key_id": key_id, "import_token": p.import_token, "encrypted_key_material": good}
    for field, value, code in [("expiration_time", str(int(time.time()) + 3600), "KMS.0308"),
                               ("expiration_time", 1.5, "KMS.0308"), ("expiration_time", -1, "KMS.2602"),
                               ("key_id", 7, "KMS.0308"), ("encrypted_key_material", {"a": 1}, "KMS.0308"),
                               ("encrypted_privatekey", 5, "KMS.0308"), ("sequence", 1, "KMS.0308")]:
        r = signed_post(server, path, json.dumps({**body, field: value}))
        assert (r.status_code, r.json()["error"]["error_code"]) == (400, code), (field, value, r.text)
    r = signed_post(server, path, json.dumps({**body, "encrypted_key_material": "A" * 100_000}))
    assert r.status_code == 400
    r = signed_post(server, path, json.dumps(body))
    assert r.status_code == 200 and r.json() == {}


# ---- across dialects ----

def test_tencent_key_imported_through_huawei(hw, kms):
    key_id = create_key(kms, Type=2).KeyId
    p = params(hw, key_id)
    import_material(hw, key_id, p, wrap(p, os.urandom(32)))
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"from tencent")).CiphertextBlob
    assert decrypt(hw, blob) == "from tencent"
    delete_material(hw, key_id)
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "PendingImport"


def test_huawei_key_imported_through_tencent(hw, kms):
    key_id = external(hw)
    tp = call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
              WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(base64.b64decode(tp.PublicKey))
    wrapped = public.encrypt(os.urandom(32), RSA_PADDINGS["RSAES_OAEP_SHA_256"]())
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=b64(wrapped), ImportToken=tp.ImportToken)
    assert describe(hw, key_id).key_state == "2"
    cipher = encrypt(hw, key_id, "from huawei")
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=cipher).Plaintext) == b"from huawei"
    call(kms, "DeleteImportedKeyMaterial", KeyId=key_id)
    assert describe(hw, key_id).key_state == "5"


def test_tencent_parameters_do_not_import_through_huawei_for_another_key(hw, kms):
    key_id = external(hw)
    tp = call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
              WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(base64.b64decode(tp.PublicKey))
    wrapped = b64(public.encrypt(os.urandom(32), RSA_PADDINGS["RSAES_OAEP_SHA_256"]()))
    token = m.CreateParametersForImportResponse(import_token=tp.ImportToken)
    expect(400, "KMS.2605", import_material, hw, external(hw), token, wrapped)
    import_material(hw, key_id, token, wrapped)
    assert describe(hw, key_id).key_state == "2", "a Tencent token works through Huawei for its key"


# ---- every asymmetric spec ----

def customer_key(spec):
    if spec.startswith("RSA_"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    if spec == "ED25519":
        from cryptography.hazmat.primitives.asymmetric import ed25519
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key({"EC_P256": ec.SECP256R1(), "EC_P384": ec.SECP384R1(),
                                    "SECP256K1": ec.SECP256K1()}[spec])


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P384", "SECP256K1", "ED25519"])
def test_every_asymmetric_spec_imports_the_customers_key(hw, kms, spec):
    private = customer_key(spec)
    key_id = import_private(hw, spec, pkcs8_of(private))
    assert describe(hw, key_id).key_state == "2"
    der = base64.b64decode(call(kms, "GetPublicKey", KeyId=key_id).PublicKey, validate=True)
    assert der == private.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
