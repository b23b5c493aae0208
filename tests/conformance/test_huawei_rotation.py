"""Huawei KMS key rotation through the SDK: enable (365 days by default), disable, status,
interval (30 to 365 days) and rotation on demand, with Tencent's view of the same keys."""

import base64
import threading
import time
import uuid

import pytest
from huaweicloudsdkkms.v2 import model as m

from conftest import b64, call, create_key
from huawei import describe, expect, huawei_client, new_key


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


def body(key_id):
    return m.OperateKeyRequestBody(key_id=key_id)


def enable(hw, key_id):
    return hw.enable_key_rotation(m.EnableKeyRotationRequest(body=body(key_id)))


def disable(hw, key_id):
    return hw.disable_key_rotation(m.DisableKeyRotationRequest(body=body(key_id)))


def status(hw, key_id):
    return hw.show_key_rotation_status(m.ShowKeyRotationStatusRequest(body=body(key_id)))


def interval(hw, key_id, days):
    return hw.update_key_rotation_interval(m.UpdateKeyRotationIntervalRequest(
        body=m.UpdateKeyRotationIntervalRequestBody(key_id=key_id, rotation_interval=days)))


def rotate(hw, key_id):
    return hw.rotate_on_demand(m.RotateOnDemandRequest(body=m.RotateOnDemandRequestBody(key_id=key_id)))


def encrypt(hw, key_id, text):
    return hw.encrypt_data(m.EncryptDataRequest(
        body=m.EncryptDataRequestBody(key_id=key_id, plain_text=text))).cipher_text


def decrypt(hw, blob):
    return hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=blob))).plain_text


def test_enable_status_interval_disable(hw):
    key_id = new_key(hw)
    s = status(hw, key_id)
    assert (s.key_rotation_enabled, s.rotation_interval, s.number_of_rotations) == (False, 365, 0)
    assert s.last_rotation_time == ""
    assert enable(hw, key_id).status_code == 200
    s = status(hw, key_id)
    assert (s.key_rotation_enabled, s.rotation_interval) == (True, 365), "the vendor's default"
    assert describe(hw, key_id).key_rotation_enabled == "true"
    interval(hw, key_id, 30)
    assert status(hw, key_id).rotation_interval == 30
    interval(hw, key_id, 365)
    assert status(hw, key_id).rotation_interval == 365
    assert disable(hw, key_id).status_code == 200
    s = status(hw, key_id)
    assert (s.key_rotation_enabled, s.rotation_interval) == (False, 365)
    assert describe(hw, key_id).key_rotation_enabled == "false"


def test_preconditions_of_enable_disable_and_interval(hw):
    key_id = new_key(hw)
    expect(400, "KMS.0313", disable, hw, key_id)
    expect(400, "KMS.0313", interval, hw, key_id, 90)
    enable(hw, key_id)
    expect(400, "KMS.2901", enable, hw, key_id)
    disable(hw, key_id)
    expect(400, "KMS.0313", disable, hw, key_id)


def test_interval_bounds_and_types(hw):
    key_id = new_key(hw)
    enable(hw, key_id)
    for bad in (29, 366, 0, -5, 30.5):
        expect(400, "KMS.3001", interval, hw, key_id, bad)
    expect(400, "KMS.0308", interval, hw, key_id, "30")
    expect(400, "KMS.0204", interval, hw, key_id, None)
    assert status(hw, key_id).rotation_interval == 365, "refusals change nothing"


def test_rotate_on_demand_keeps_old_ciphertexts_decrypting(kms, hw):
    key_id = new_key(hw)
    before_hw = encrypt(hw, key_id, "before, via huawei")
    before_tc = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"before, via tencent")).CiphertextBlob
    r = rotate(hw, key_id)
    assert (r.status_code, r.key_id) == (200, key_id)
    s = status(hw, key_id)
    assert s.number_of_rotations == 1
    assert abs(int(s.last_rotation_time) / 1000 - time.time()) < 60
    assert s.key_rotation_enabled is False, "rotating on demand does not turn rotation on"
    rotate(hw, key_id)
    assert status(hw, key_id).number_of_rotations == 2
    after = encrypt(hw, key_id, "after")
    assert after != before_hw
    for blob, text in ((before_hw, "before, via huawei"), (before_tc, "before, via tencent"), (after, "after")):
        assert decrypt(hw, blob) == text
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == text.encode()


def test_sm4_keys_rotate(hw):
    key_id = new_key(hw, key_spec="SM4")
    blob = encrypt(hw, key_id, "sm4 before")
    enable(hw, key_id)
    rotate(hw, key_id)
    assert status(hw, key_id).number_of_rotations == 1
    assert decrypt(hw, blob) == "sm4 before"


@pytest.mark.parametrize("spec,usage,code", [
    ("RSA_2048", "SIGN_VERIFY", "KMS.0324"),
    ("EC_P256", "SIGN_VERIFY", "KMS.0325"),
    ("SM2", "SIGN_VERIFY", "KMS.0325"),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "KMS.0341"),
])
def test_keys_that_do_not_rotate(hw, spec, usage, code):
    key_id = new_key(hw, key_spec=spec, key_usage=usage)
    expect(400, code, enable, hw, key_id)
    expect(400, code, rotate, hw, key_id)
    expect(400, code, interval, hw, key_id, 30)
    expect(400, "KMS.0313", disable, hw, key_id)
    s = status(hw, key_id)
    assert (s.key_rotation_enabled, s.number_of_rotations) == (False, 0)


def test_external_keys_do_not_rotate(hw):
    key_id = new_key(hw, origin="external")
    expect(400, "KMS.0312", enable, hw, key_id)
    expect(400, "KMS.0312", rotate, hw, key_id)
    assert status(hw, key_id).number_of_rotations == 0


def test_key_states(hw):
    key_id = new_key(hw)
    enable(hw, key_id)
    hw.disable_key(m.DisableKeyRequest(body=body(key_id)))
    expect(400, "KMS.0209", rotate, hw, key_id)
    expect(400, "KMS.0209", interval, hw, key_id, 60)
    assert status(hw, key_id).key_rotation_enabled is True
    disable(hw, key_id)
    expect(400, "KMS.0209", enable, hw, key_id)
    doomed = new_key(hw)
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7")))
    expect(400, "KMS.0210", enable, hw, doomed)
    expect(400, "KMS.0210", rotate, hw, doomed)
    assert status(hw, doomed).key_rotation_enabled is False


@pytest.mark.parametrize("op", [enable, disable, status, rotate])
def test_key_id_errors(hw, op):
    expect(404, "KMS.0207", op, hw, str(uuid.uuid4()))
    expect(400, "KMS.0205", op, hw, "not-a-key")
    expect(400, "KMS.0204", op, hw, None)
    expect(400, "KMS.0204", op, hw, "")
    expect(400, "KMS.0308", op, hw, 123)


def test_interval_key_id_errors(hw):
    expect(404, "KMS.0207", interval, hw, str(uuid.uuid4()), 30)
    expect(400, "KMS.0205", interval, hw, "not-a-key", 30)
    expect(400, "KMS.0204", interval, hw, None, 30)


def test_concurrent_enables_one_wins(server, hw):
    key_id = new_key(hw)
    results = []
    start = threading.Barrier(6)

    def worker():
        client = huawei_client(server.endpoint)
        start.wait()
        try:
            enable(client, key_id)
            results.append("ok")
        except Exception as e:
            results.append((e.status_code, e.error_code))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    assert [r for r in results if r != "ok"] == [(400, "KMS.2901")] * 5


def test_concurrent_rotations_count_every_one(server, hw):
    key_id = new_key(hw)
    blob = encrypt(hw, key_id, "kept")

    def worker():
        client = huawei_client(server.endpoint)
        for _ in range(3):
            rotate(client, key_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert status(hw, key_id).number_of_rotations == 12
    assert decrypt(hw, blob) == "kept"


def test_rotation_set_through_tencent_shows_through_huawei(kms, hw):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=7)
    s = status(hw, key_id)
    assert (s.key_rotation_enabled, s.rotation_interval) == (True, 7), "Tencent's 7 days, as set"
    expect(400, "KMS.2901", enable, hw, key_id)
    call(kms, "RotateKey", KeyId=key_id)
    assert status(hw, key_id).number_of_rotations == 1
    call(kms, "DisableKeyRotation", KeyId=key_id)
    assert status(hw, key_id).key_rotation_enabled is False


def test_rotation_set_through_huawei_shows_through_tencent(kms, hw):
    key_id = new_key(hw)
    enable(hw, key_id)
    interval(hw, key_id, 45)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is True
    meta = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
    assert (meta.KeyRotationEnabled, meta.RotateDays) == (True, 45)
    assert abs(meta.NextRotateTime - (time.time() + 45 * 86400)) < 120
    rotate(hw, key_id)
    meta = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
    assert abs(meta.LastRotateTime - time.time()) < 60
    disable(hw, key_id)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is False
    call(kms, "DisableKeyRotation", KeyId=key_id)
