"""The Huawei Cloud KMS dialect through the vendor's own SDK (huaweicloudsdkkms)."""

import base64
import time
import uuid

import pytest
import requests
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY, b64, call, create_key
from huawei import alias, describe, expect, huawei_client, new_key


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


def test_create_and_describe_key(hw):
    name = alias()
    created = hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(
        key_alias=name, key_description="first")))
    assert created.key_info.region_id == "ap-guangzhou"
    assert created.key_info.domain_id
    info = describe(hw, created.key_info.key_id)
    assert (info.key_alias, info.key_description, info.key_state) == (name, "first", "2")
    assert (info.key_spec, info.key_usage, info.origin) == ("AES_256", "ENCRYPT_DECRYPT", "kms")
    assert abs(int(info.creation_date) / 1000 - time.time()) < 60


def test_specs_usages_and_origins(hw):
    sm4 = describe(hw, new_key(hw, key_spec="SM4"))
    assert (sm4.key_spec, sm4.key_usage) == ("SM4", "ENCRYPT_DECRYPT")
    ec = describe(hw, new_key(hw, key_spec="EC_P256", key_usage="SIGN_VERIFY"))
    assert (ec.key_spec, ec.key_usage) == ("EC_P256", "SIGN_VERIFY")
    mac = describe(hw, new_key(hw, key_spec="HMAC_256"))
    assert (mac.key_spec, mac.key_usage) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    ext = describe(hw, new_key(hw, origin="external"))
    assert (ext.origin, ext.key_state) == ("external", "5")
    expect(400, "KMS.0308", lambda: new_key(hw, key_spec="AES_512"))


def test_lifecycle(hw):
    key_id = new_key(hw)
    body = m.OperateKeyRequestBody(key_id=key_id)
    assert hw.disable_key(m.DisableKeyRequest(body=body)).key_info.key_state == "3"
    assert hw.enable_key(m.EnableKeyRequest(body=body)).key_info.key_state == "2"
    expect(400, "KMS.1401", hw.delete_key, m.DeleteKeyRequest(
        body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="1097")))
    scheduled = hw.delete_key(m.DeleteKeyRequest(
        body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="1096")))
    assert scheduled.key_state == "4", "an enabled key may be scheduled, as the vendor allows"
    expect(400, "KMS.1402", hw.delete_key, m.DeleteKeyRequest(
        body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="1096")))
    info = describe(hw, key_id)
    assert info.key_state == "4"
    assert abs(int(info.scheduled_deletion_date) / 1000 - (time.time() + 1096 * 86400)) < 60
    assert hw.cancel_key_deletion(m.CancelKeyDeletionRequest(body=body)).key_state == "3"
    expect(400, "KMS.1501", hw.cancel_key_deletion, m.CancelKeyDeletionRequest(body=body))


def test_alias_and_description(hw):
    key_id = new_key(hw)
    name = alias()
    r = hw.update_key_alias(m.UpdateKeyAliasRequest(
        body=m.UpdateKeyAliasRequestBody(key_id=key_id, key_alias=name)))
    assert r.key_info.key_alias == name
    r = hw.update_key_description(m.UpdateKeyDescriptionRequest(
        body=m.UpdateKeyDescriptionRequestBody(key_id=key_id, key_description="second")))
    assert r.key_info.key_description == "second"
    info = describe(hw, key_id)
    assert (info.key_alias, info.key_description) == (name, "second")
    expect(400, "KMS.1104", lambda: new_key(hw, key_alias=name))


def test_unknown_and_malformed_keys(hw):
    expect(404, "KMS.0207", describe, hw, str(uuid.uuid4()))
    expect(400, "KMS.0205", describe, hw, "not-a-key")


def test_list_keys_pages(hw):
    ids = [new_key(hw) for _ in range(3)]
    sm4 = new_key(hw, key_spec="SM4")
    listed, marker = [], None
    while True:
        r = hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody(limit="2", marker=marker)))
        listed += r.keys
        assert len(r.keys) == len(r.key_details) <= 2
        if r.truncated == "false":
            assert r.total == len(listed)
            break
        marker = r.next_marker
    assert set(ids) <= set(listed)
    assert sm4 not in listed, "without key_spec only AES_256 keys are listed"
    every = hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody(key_spec="ALL")))
    assert sm4 in every.keys
    expect(400, "KMS.1601", hw.list_keys, m.ListKeysRequest(body=m.ListKeysRequestBody(limit="0")))


def test_encrypt_decrypt_with_aad(hw):
    key_id = new_key(hw)
    enc = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text="hello huawei", additional_authenticated_data="ctx")))
    assert enc.key_id == key_id
    base64.b64decode(enc.cipher_text)
    dec = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=enc.cipher_text, additional_authenticated_data="ctx")))
    assert (dec.key_id, dec.plain_text) == (key_id, "hello huawei")
    assert base64.b64decode(dec.plain_text_base64) == b"hello huawei"
    expect(400, "KMS.2201", hw.decrypt_data, m.DecryptDataRequest(
        body=m.DecryptDataRequestBody(cipher_text=enc.cipher_text, additional_authenticated_data="other")))
    expect(400, "KMS.2201", hw.decrypt_data, m.DecryptDataRequest(
        body=m.DecryptDataRequestBody(cipher_text=enc.cipher_text)))
    hw.disable_key(m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))
    expect(400, "KMS.0209", hw.encrypt_data, m.EncryptDataRequest(
        body=m.EncryptDataRequestBody(key_id=key_id, plain_text="x")))


def test_random_and_data_keys(hw):
    r = hw.create_random(m.CreateRandomRequest(body=m.GenRandomRequestBody(random_data_length="512")))
    assert len(bytes.fromhex(r.random_data)) == 64
    key_id = new_key(hw)
    dk = hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(
        key_id=key_id, datakey_length="256")))
    assert len(bytes.fromhex(dk.plain_text)) == 32
    bytes.fromhex(dk.cipher_text)
    dk128 = hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(
        key_id=key_id, key_spec="AES_128")))
    assert len(bytes.fromhex(dk128.plain_text)) == 16
    bare = hw.create_datakey_without_plaintext(m.CreateDatakeyWithoutPlaintextRequest(
        body=m.CreateDatakeyRequestBody(key_id=key_id)))
    assert bare.key_id == key_id and bare.cipher_text
    expect(400, "KMS.1801", hw.create_random, m.CreateRandomRequest(
        body=m.GenRandomRequestBody(random_data_length="7")))


def test_sm3_signatures(server, hw):
    key_id = new_key(hw)
    sm3 = huawei_client(server.endpoint, algorithm=SigningAlgorithm.HMAC_SM3)
    assert describe(sm3, key_id).key_id == key_id
    enc = sm3.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(key_id=key_id, plain_text="sm3")))
    assert enc.cipher_text
    wrong = huawei_client(server.endpoint, sk="not-the-secret", algorithm=SigningAlgorithm.HMAC_SM3)
    expect(401, "APIG.0301", describe, wrong, key_id)


def test_cross_dialect(kms, hw):
    key_id = create_key(kms).KeyId
    info = describe(hw, key_id)
    assert (info.key_state, info.key_spec) == ("2", "AES_256")
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"from tencent")).CiphertextBlob
    dec = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=blob)))
    assert (dec.key_id, dec.plain_text) == (key_id, "from tencent")
    enc = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text="from huawei")))
    back = call(kms, "Decrypt", CiphertextBlob=enc.cipher_text)
    assert base64.b64decode(back.Plaintext) == b"from huawei"


def test_alias_and_description_rules(hw):
    suffix = uuid.uuid4().hex[:8]
    for name in [f"alias/app:one_two-{suffix}", "a" * 247 + suffix, f"x{suffix}"]:
        assert describe(hw, new_key(hw, key_alias=name)).key_alias == name
    for bad in ["has space", "a" * 256, "app/default", "semi;colon", "ünïcode"]:
        expect(400, "KMS.1101", lambda: new_key(hw, key_alias=bad))
    expect(400, "KMS.1103", lambda: new_key(hw, key_description="d" * 256))
    key_id = new_key(hw, key_description="é" * 255)
    assert describe(hw, key_id).key_description == "é" * 255
    expect(400, "KMS.1101", hw.update_key_alias, m.UpdateKeyAliasRequest(
        body=m.UpdateKeyAliasRequestBody(key_id=key_id, key_alias="bad alias")))
    expect(400, "KMS.1103", hw.update_key_description, m.UpdateKeyDescriptionRequest(
        body=m.UpdateKeyDescriptionRequestBody(key_id=key_id, key_description="d" * 256)))
    expect(404, "KMS.0308", lambda: new_key(hw, keystore_id="7"))  # no such key store
    assert describe(hw, new_key(hw, keystore_id="0", sequence=str(uuid.uuid4()))).keystore_id == "0"
