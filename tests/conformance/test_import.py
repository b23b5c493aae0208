"""Bring your own key through the official SDK: external CMKs, import parameters, material import,
expiry and deletion. The customer side (wrapping the material) uses the `cryptography` package,
as a customer would."""

import base64
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import b64, call, create_key, expect_error

PADDINGS = {
    "RSAES_PKCS1_V1_5": lambda: padding.PKCS1v15(),
    "RSAES_OAEP_SHA_1": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    "RSAES_OAEP_SHA_256": lambda: padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
}


def params_for(kms, key_id, algorithm="RSAES_OAEP_SHA_256"):
    return call(kms, "GetParametersForImport", KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")


def wrap(params, material, algorithm="RSAES_OAEP_SHA_256"):
    public = serialization.load_der_public_key(base64.b64decode(params.PublicKey))
    return b64(public.encrypt(material, PADDINGS[algorithm]()))


def external_key(kms):
    return create_key(kms, Type=2).KeyId


def imported_key(kms, material=None, valid_to=0):
    key_id = external_key(kms)
    material = material or os.urandom(32)
    params = params_for(kms, key_id)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(params, material),
         ImportToken=params.ImportToken, ValidTo=valid_to)
    return key_id, material, params


def state(kms, key_id):
    return call(kms, "DescribeKey", KeyId=key_id).KeyMetadata


# ---- GetParametersForImport ----

def test_parameters_are_fresh_and_valid_for_a_day(kms):
    key_id = external_key(kms)
    first = params_for(kms, key_id)
    second = params_for(kms, key_id)
    assert first.KeyId == key_id
    assert first.ImportToken != second.ImportToken
    assert first.PublicKey != second.PublicKey, "a fresh wrapping key pair per request"
    public = serialization.load_der_public_key(base64.b64decode(first.PublicKey))
    assert public.key_size == 2048
    assert abs(first.ParametersValidTo - (time.time() + 86400)) < 60


def test_parameters_only_for_external_keys_in_importable_states(kms):
    expect_error("UnsupportedOperation.NotExternalCmk", kms, "GetParametersForImport",
                 KeyId=create_key(kms).KeyId, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    key_id = external_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "GetParametersForImport",
                 KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "GetParametersForImport",
                 KeyId="00000000-0000-4000-8000-000000000000", WrappingAlgorithm="RSAES_OAEP_SHA_256",
                 WrappingKeySpec="RSA_2048")
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "GetParametersForImport",
                 KeyId="nope", WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")


def test_parameters_bad_input(kms):
    key_id = external_key(kms)
    expect_error("InvalidParameterValue", kms, "GetParametersForImport",
                 KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_512", WrappingKeySpec="RSA_2048")
    expect_error("InvalidParameterValue", kms, "GetParametersForImport",
                 KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_1024")
    expect_error("MissingParameter", kms, "GetParametersForImport", KeyId=key_id, WrappingKeySpec="RSA_2048")


# ---- ImportKeyMaterial ----

@pytest.mark.parametrize("algorithm", sorted(PADDINGS))
def test_every_wrapping_algorithm_imports(kms, algorithm):
    key_id = external_key(kms)
    assert state(kms, key_id).KeyState == "PendingImport"
    assert state(kms, key_id).Origin == "EXTERNAL"
    params = params_for(kms, key_id, algorithm)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(params, os.urandom(32), algorithm),
         ImportToken=params.ImportToken)
    meta = state(kms, key_id)
    assert (meta.KeyState, meta.Origin, meta.ValidTo) == ("Enabled", "EXTERNAL", 0)
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"byok")).CiphertextBlob
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"byok"


def test_same_material_in_two_keys_does_not_cross_decrypt(kms):
    material = os.urandom(32)
    a, _, _ = imported_key(kms, material)
    b, _, _ = imported_key(kms, material)
    blob = call(kms, "Encrypt", KeyId=a, Plaintext=b64(b"x")).CiphertextBlob
    raw = bytearray(base64.b64decode(blob))
    raw[2:18] = bytes.fromhex(b.replace("-", ""))
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=b64(bytes(raw)))


def test_tokens_that_are_wrong_forged_or_foreign_are_refused(kms):
    """ImportKeyMaterial's vendor codes have no token-specific one: a token that is not one
    issued for this key is a bad parameter (InvalidParameter)."""
    key_id = external_key(kms)
    params = params_for(kms, key_id)
    wrapped = wrap(params, os.urandom(32))
    expect_error("InvalidParameter", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrapped, ImportToken=b64(os.urandom(32)))
    forged = bytearray(base64.b64decode(params.ImportToken))
    forged[-1] ^= 1
    expect_error("InvalidParameter", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrapped, ImportToken=b64(bytes(forged)))
    other = external_key(kms)
    expect_error("InvalidParameter", kms, "ImportKeyMaterial", KeyId=other,
                 EncryptedKeyMaterial=wrapped, ImportToken=params.ImportToken)
    expect_error("InvalidParameter", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrapped, ImportToken="%%%")
    assert state(kms, key_id).KeyState == "PendingImport"
    assert state(kms, other).KeyState == "PendingImport"


def test_garbage_and_wrong_length_material_are_refused(kms):
    key_id = external_key(kms)
    params = params_for(kms, key_id)
    expect_error("InvalidParameter.DecryptMaterialError", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=b64(os.urandom(256)), ImportToken=params.ImportToken)
    expect_error("InvalidParameter.DecryptMaterialError", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrap(params, os.urandom(16)), ImportToken=params.ImportToken)
    expect_error("InvalidParameter", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial="not base64!", ImportToken=params.ImportToken)
    pkcs1 = wrap(params, os.urandom(32), "RSAES_PKCS1_V1_5")
    expect_error("InvalidParameter.DecryptMaterialError", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=pkcs1, ImportToken=params.ImportToken)
    assert state(kms, key_id).KeyState == "PendingImport"


def test_valid_to_limits(kms):
    key_id = external_key(kms)
    params = params_for(kms, key_id)
    wrapped = wrap(params, os.urandom(32))
    for bad in (int(time.time()) - 10, 2147443201):
        expect_error("InvalidParameterValue", kms, "ImportKeyMaterial", KeyId=key_id,
                     EncryptedKeyMaterial=wrapped, ImportToken=params.ImportToken, ValidTo=bad)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrapped,
         ImportToken=params.ImportToken, ValidTo=2147443200)
    assert state(kms, key_id).ValidTo == 2147443200


def test_retry_with_the_same_token_and_material_succeeds(kms):
    key_id, material, params = imported_key(kms)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(params, material),
         ImportToken=params.ImportToken)
    assert state(kms, key_id).KeyState == "Enabled"


def test_reimport_must_bring_the_same_material(kms):
    key_id, material, _ = imported_key(kms)
    fresh = params_for(kms, key_id)
    expect_error("InvalidParameterValue.MaterialNotMatch", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrap(fresh, os.urandom(32)), ImportToken=fresh.ImportToken)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(fresh, material),
         ImportToken=fresh.ImportToken, ValidTo=2000000000)
    assert state(kms, key_id).ValidTo == 2000000000, "a re-import may set a new expiry"


def test_import_into_non_external_or_disabled_keys_is_refused(kms):
    normal = create_key(kms).KeyId
    expect_error("UnsupportedOperation.NotExternalCmk", kms, "ImportKeyMaterial", KeyId=normal,
                 EncryptedKeyMaterial=b64(b"x"), ImportToken=b64(b"y"))
    key_id, material, params = imported_key(kms)
    call(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ImportKeyMaterial", KeyId=key_id,
                 EncryptedKeyMaterial=wrap(params, material), ImportToken=params.ImportToken)


def test_external_keys_cannot_rotate(kms):
    key_id, _, _ = imported_key(kms)
    expect_error("UnsupportedOperation.ExternalCmkCanNotRotate", kms, "EnableKeyRotation", KeyId=key_id)
    expect_error("UnsupportedOperation.ExternalCmkCanNotRotate", kms, "RotateKey", KeyId=key_id)


# ---- expiry and deletion ----

def test_material_expires_on_time_and_comes_back_with_the_same_material(kms):
    valid_to = int(time.time()) + 3
    key_id, material, _ = imported_key(kms, valid_to=valid_to)
    assert state(kms, key_id).ValidTo == valid_to
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"until then")).CiphertextBlob
    while time.time() < valid_to + 1:
        time.sleep(0.2)
    meta = state(kms, key_id)
    assert (meta.KeyState, meta.ValidTo) == ("PendingImport", 0)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Decrypt", CiphertextBlob=blob)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    fresh = params_for(kms, key_id)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(fresh, material),
         ImportToken=fresh.ImportToken)
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"until then"


def test_deleting_material_makes_the_key_wait_for_it(kms, server):
    key_id, material, _ = imported_key(kms)
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"secret")).CiphertextBlob
    call(kms, "DeleteImportedKeyMaterial", KeyId=key_id)
    assert state(kms, key_id).KeyState == "PendingImport"
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Decrypt", CiphertextBlob=blob)
    db = (Path(server.data_dir) / "kms.redb").read_bytes()
    assert material not in db, "plaintext material never reaches the store"
    fresh = params_for(kms, key_id)
    call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(fresh, material),
         ImportToken=fresh.ImportToken)
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"secret"


def test_deleting_material_errors(kms):
    expect_error("UnsupportedOperation.NotExternalCmk", kms, "DeleteImportedKeyMaterial", KeyId=create_key(kms).KeyId)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DeleteImportedKeyMaterial", KeyId="bad")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DeleteImportedKeyMaterial",
                 KeyId="00000000-0000-4000-8000-000000000000")
    expect_error("MissingParameter", kms, "DeleteImportedKeyMaterial")
    key_id = external_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "DeleteImportedKeyMaterial", KeyId=key_id)


def sealed_materials(data_dir):
    """Every sealed material string anywhere in the store file, live or in free pages."""
    import re
    db = (Path(data_dir) / "kms.redb").read_bytes()
    return set(re.findall(rb'"sealed_material":"([A-Za-z0-9+/=]+)"', db))


# The server scrubs the store's free space in the background, within a second or two of an
# erasure (ARCHITECTURE.md, "Erasure is real in the file too").
SCRUB_BOUND_SECS = 5


def wait_until_scrubbed(data_dir, erased):
    """Waits until no copy of any of the `erased` sealed materials is left in the store file."""
    deadline = time.time() + SCRUB_BOUND_SECS
    while erased & sealed_materials(data_dir):
        assert time.time() < deadline, "erased material still in the store file"
        time.sleep(0.1)


def test_erased_material_leaves_no_copy_in_the_store(fresh_server):
    """After deletion or expiry the store file holds no copy of the (sealed) material, not even
    in pages the copy-on-write store freed."""
    kms = fresh_server.start().client()
    deleted, _, _ = imported_key(kms)
    (sealed,) = sealed_materials(fresh_server.data_dir)
    call(kms, "DeleteImportedKeyMaterial", KeyId=deleted)
    wait_until_scrubbed(fresh_server.data_dir, {sealed})

    valid_to = int(time.time()) + 2
    expiring, _, _ = imported_key(kms, valid_to=valid_to)
    (sealed,) = sealed_materials(fresh_server.data_dir)
    while time.time() < valid_to + 1:
        time.sleep(0.2)
    assert state(kms, expiring).KeyState == "PendingImport"
    wait_until_scrubbed(fresh_server.data_dir, {sealed})
    assert sealed_materials(fresh_server.data_dir) == set()


def test_deleting_material_in_a_loop_is_quick_and_does_not_grow_the_store(fresh_server):
    """DeleteImportedKeyMaterial in a tight loop, with and without material to erase, answers
    quickly, leaves the store file its size, and the scrub still erases every copy."""
    kms = fresh_server.start().client()
    db = Path(fresh_server.data_dir) / "kms.redb"
    key_id, material, _ = imported_key(kms)
    start_size = db.stat().st_size
    erased = set()
    slowest = 0.0
    for i in range(100):
        if i % 10 == 0:
            fresh = params_for(kms, key_id)
            call(kms, "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrap(fresh, material),
                 ImportToken=fresh.ImportToken)
            assert state(kms, key_id).KeyState == "Enabled"
            erased |= sealed_materials(fresh_server.data_dir)
        started = time.time()
        answer = call(kms, "DeleteImportedKeyMaterial", KeyId=key_id)
        slowest = max(slowest, time.time() - started)
        assert answer.RequestId
        assert state(kms, key_id).KeyState == "PendingImport"
    assert len(erased) == 10, "each import sealed the material afresh"
    assert slowest < 0.5, f"a call took {slowest:.2f} s: no scrub on the request path"
    assert db.stat().st_size <= start_size + (4 << 20), (start_size, db.stat().st_size)
    wait_until_scrubbed(fresh_server.data_dir, erased)
    assert db.stat().st_size <= start_size + (4 << 20), (start_size, db.stat().st_size)


def wait_for_scrub_logged(server, offset):
    """Waits until the server's log shows a scrub finished after `offset`."""
    deadline = time.time() + SCRUB_BOUND_SECS
    while b"scrubbed the store's free space" not in server.log_path.read_bytes()[offset:]:
        assert time.time() < deadline, "no scrub logged"
        time.sleep(0.1)


def test_a_start_after_a_crash_scrubs_what_was_erased_and_a_clean_stop_spares_the_next(fresh_server):
    """A graceful stop that owes no scrub leaves the mark that spares the next start its scrub
    (on a large store the scrub rewrites the whole file); a start takes the mark before serving,
    so material erased just before a kill -9 is scrubbed after the restart (ARCHITECTURE.md,
    "Erasure is real in the file too")."""
    mark = Path(fresh_server.data_dir) / "scrubbed-at-stop"
    fresh_server.extra_env["KMSD_LOG"] = "info,kmsd=debug"
    kms = fresh_server.start().client()
    wait_for_scrub_logged(fresh_server, 0)
    key_id, _, _ = imported_key(kms)
    assert fresh_server.stop() == 0
    assert mark.exists(), "a stop owing no scrub leaves the mark"

    offset = fresh_server.log_path.stat().st_size
    kms = fresh_server.start().client()
    assert not mark.exists(), "the start took the mark before serving"
    time.sleep(1.5)
    assert b"scrubbed the store's free space" not in fresh_server.log_path.read_bytes()[offset:], \
        "a start after a clean stop scrubs nothing"

    (sealed,) = sealed_materials(fresh_server.data_dir)
    call(kms, "DeleteImportedKeyMaterial", KeyId=key_id)
    fresh_server.kill()
    assert not mark.exists(), "a crash leaves no mark"
    offset = fresh_server.log_path.stat().st_size
    kms = fresh_server.start().client()
    wait_for_scrub_logged(fresh_server, offset)
    wait_until_scrubbed(fresh_server.data_dir, {sealed})
    assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "PendingImport"
