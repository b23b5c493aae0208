"""Huawei key stores (dedicated keystores) over an HSM cluster (`--hsm-cluster`) backed by a
SoftHSM2 token, through huaweicloudsdkkms: the store's lifecycle, its refusals, and keys created
in it (generated in the token, used by encrypt-data and decrypt-data)."""

import re
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from huaweicloudsdkkms.v2 import model as m

from conftest import KmsdProcess
from huawei import describe, expect, huawei_client, new_key
from softhsm import MODULE, TOKEN, pin_file, pkcs11_tool, softhsm_token

CLUSTER = "cls-keystores"
SECOND_CLUSTER = "cls-keystores-2"


@pytest.fixture(scope="module")
def softhsm():
    with softhsm_token() as env:
        yield env


@pytest.fixture(scope="module")
def server(softhsm):
    workdir = Path(tempfile.mkdtemp(prefix="kmsd-keystores-"))
    process = KmsdProcess(data_dir=workdir / "data", env=softhsm, extra_args=[
        "--hsm-cluster", f"{CLUSTER}={TOKEN}", "--hsm-cluster", f"{SECOND_CLUSTER}={TOKEN}",
        "--pkcs11-module", MODULE, "--pkcs11-pin-file", str(pin_file(workdir))])
    process.start()
    yield process
    process.cleanup()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def hw(server):
    """A client per test: a restart moves the server to another port."""
    return huawei_client(server.endpoint)


def store_alias():
    return f"ks-{uuid.uuid4().hex[:16]}"


def create_store(hw, alias, cluster):
    return hw.create_key_store(m.CreateKeyStoreRequest(body=m.CreateKeyStoreRequestBody(
        keystore_alias=alias, hsm_cluster_id=cluster))).keystore


def show(hw, keystore_id):
    return hw.show_key_store(m.ShowKeyStoreRequest(keystore_id=keystore_id)).keystore


def token_keys(softhsm):
    listing = pkcs11_tool(softhsm, "--list-objects", "--type", "secrkey")
    return set(re.findall(r"label:\s+(\S+)", listing))


def test_a_key_store_lives_through_its_lifecycle(softhsm, hw, server):
    alias = store_alias()
    created = create_store(hw, alias, CLUSTER)
    assert created.domain_id and uuid.UUID(created.keystore_id)
    shown = show(hw, created.keystore_id)
    assert (shown.keystore_id, shown.keystore_alias, shown.hsm_cluster_id, shown.keystore_type) == (
        created.keystore_id, alias, CLUSTER, "1")
    assert shown.domain_id == created.domain_id and int(shown.create_time) > 0
    listed = hw.list_key_stores(m.ListKeyStoresRequest())
    assert listed.total >= 1
    assert created.keystore_id in [s.keystore_id for s in listed.keystores]

    disabled = hw.disable_key_store(m.DisableKeyStoreRequest(keystore_id=created.keystore_id))
    assert (disabled.keystore.keystore_id, disabled.keystore.keystore_state) == (created.keystore_id, "3")
    expect(400, "KMS.0308", lambda: new_key(hw, keystore_id=created.keystore_id))
    enabled = hw.enable_key_store(m.EnableKeyStoreRequest(keystore_id=created.keystore_id))
    assert enabled.keystore.keystore_state == "2"

    before = token_keys(softhsm)
    key_id = new_key(hw, keystore_id=created.keystore_id)
    assert len(token_keys(softhsm) - before) == 1, "the key was generated in the token"
    assert describe(hw, key_id).keystore_id == created.keystore_id
    assert describe(hw, new_key(hw)).keystore_id == "0"
    sealed = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
        key_id=key_id, plain_text="held by the key store"))).cipher_text
    opened = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=sealed)))
    assert (opened.key_id, opened.plain_text) == (key_id, "held by the key store")

    delete = m.DeleteKeyStoreRequest(keystore_id=created.keystore_id)
    expect(400, "KMS.0308", hw.delete_key_store, delete)
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(
        key_id=key_id, pending_days="7")))
    expect(400, "KMS.0308", hw.delete_key_store, delete)

    assert server.stop() == 0
    server.start()
    hw = huawei_client(server.endpoint)
    assert show(hw, created.keystore_id).keystore_alias == alias, "the key store survives a restart"
    expect(400, "KMS.0308", hw.delete_key_store, delete)


def test_a_key_store_without_keys_is_deleted(hw):
    created = create_store(hw, store_alias(), SECOND_CLUSTER)
    hw.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=created.keystore_id))
    expect(404, "KMS.0308", show, hw, created.keystore_id)
    expect(404, "KMS.0308", hw.delete_key_store, m.DeleteKeyStoreRequest(keystore_id=created.keystore_id))
    assert created.keystore_id not in [
        s.keystore_id for s in hw.list_key_stores(m.ListKeyStoresRequest()).keystores]
    # Its cluster is free again.
    again = create_store(hw, store_alias(), SECOND_CLUSTER)
    hw.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=again.keystore_id))


def test_key_store_refusals(hw):
    expect(400, "KMS.0308", create_store, hw, store_alias(), "cls-unknown")
    expect(400, "KMS.0204", create_store, hw, store_alias(), None)
    expect(400, "KMS.0204", create_store, hw, None, SECOND_CLUSTER)
    expect(400, "KMS.1101", create_store, hw, "not a valid alias", SECOND_CLUSTER)
    expect(400, "KMS.1101", create_store, hw, "x" * 256, SECOND_CLUSTER)

    alias = store_alias()
    first = create_store(hw, alias, SECOND_CLUSTER)
    expect(400, "KMS.1104", create_store, hw, alias, SECOND_CLUSTER)
    # One key store per cluster in an account.
    expect(400, "KMS.0308", create_store, hw, store_alias(), SECOND_CLUSTER)
    hw.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=first.keystore_id))

    for unknown in [str(uuid.uuid4()), "not-a-uuid"]:
        expect(404, "KMS.0308", show, hw, unknown)
        expect(404, "KMS.0308", hw.enable_key_store, m.EnableKeyStoreRequest(keystore_id=unknown))
        expect(404, "KMS.0308", hw.disable_key_store, m.DisableKeyStoreRequest(keystore_id=unknown))
        expect(404, "KMS.0308", lambda: new_key(hw, keystore_id=unknown))
    expect(400, "KMS.1601", hw.list_key_stores, m.ListKeyStoresRequest(limit=0))
    expect(400, "KMS.1601", hw.list_key_stores, m.ListKeyStoresRequest(limit=101))


def test_key_stores_are_listed_in_pages(hw):
    made = [create_store(hw, store_alias(), cluster).keystore_id for cluster in (SECOND_CLUSTER,)]
    total = hw.list_key_stores(m.ListKeyStoresRequest()).total
    page = hw.list_key_stores(m.ListKeyStoresRequest(limit=1, offset=total - 1))
    assert (page.total, [s.keystore_id for s in page.keystores]) == (total, made)
    assert hw.list_key_stores(m.ListKeyStoresRequest(offset=total)).keystores == []
    hw.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=made[0]))
