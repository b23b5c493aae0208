"""Huawei key stores (dedicated keystores) over an HSM cluster (`--hsm-cluster`) backed by a
SoftHSM2 token, through huaweicloudsdkkms: the store's lifecycle, its refusals, keys created
in it (generated in the token, used by encrypt-data and decrypt-data), and parallel clients
racing to create a store or to create keys in a store being deleted."""

import re
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import model as m

from conftest import KmsdProcess
from huawei import describe, expect, huawei_client, new_key
from softhsm import MODULE, TOKEN, pin_file, pkcs11_tool, softhsm_token

CLUSTER = "cls-keystores"
SECOND_CLUSTER = "cls-keystores-2"
# One cluster per round of the races: a round may leave its store holding keys.
RACE_CLUSTERS = [f"cls-race-{n}" for n in range(5)]


@pytest.fixture(scope="module")
def softhsm():
    with softhsm_token() as env:
        yield env


@pytest.fixture(scope="module")
def server(softhsm):
    workdir = Path(tempfile.mkdtemp(prefix="kmsd-keystores-"))
    clusters = [CLUSTER, SECOND_CLUSTER, *RACE_CLUSTERS]
    process = KmsdProcess(data_dir=workdir / "data", env=softhsm, extra_args=[
        *[arg for c in clusters for arg in ("--hsm-cluster", f"{c}={TOKEN}")],
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
    software_key = new_key(hw)
    assert describe(hw, software_key).keystore_id == "0"
    # Listings by tag name the key store in each key's details too.
    tag = f"t-{uuid.uuid4().hex[:12]}"
    for tagged in (key_id, software_key):
        hw.create_kms_tag(m.CreateKmsTagRequest(
            key_id=tagged, body=m.CreateKmsTagRequestBody(tag=m.TagItem(key=tag, value="v"))))
    found = hw.list_kms_by_tags(m.ListKmsByTagsRequest(
        resource_instances="resource_instances", body=m.ListKmsByTagsRequestBody(
            action="filter", tags=[m.Tag(key=tag, values=["v"])]))).resources
    assert {r.resource_id: r.resource_detail.keystore_id for r in found} == {
        key_id: created.keystore_id, software_key: "0"}
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


def in_parallel(server, calls):
    """Runs each call with its own client, all released at once; answers each call's result or
    its (status, code)."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        client = huawei_client(server.endpoint)
        barrier.wait()
        try:
            return call(client)
        except ClientRequestException as e:
            return (e.status_code, e.error_code)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def key_total(hw):
    return hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody(limit="1"))).total


def test_of_parallel_creates_over_one_cluster_exactly_one_succeeds(server, hw):
    cluster = RACE_CLUSTERS[0]
    outcomes = in_parallel(server, [
        lambda c: create_store(c, store_alias(), cluster).keystore_id for _ in range(12)])
    made = [o for o in outcomes if isinstance(o, str)]
    assert len(made) == 1, outcomes
    assert sorted(o for o in outcomes if not isinstance(o, str)) == [(400, "KMS.0308")] * 11
    stores = hw.list_key_stores(m.ListKeyStoresRequest()).keystores
    assert [s.keystore_id for s in stores if s.hsm_cluster_id == cluster] == made
    hw.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=made[0]))


def test_no_key_outlives_its_store_when_creates_race_a_delete(softhsm, server, hw):
    # The delete starts a little later each round, so it meets the creations at different points:
    # before their first look at the store, between it and their key's write, after it.
    for cluster, lag in zip(RACE_CLUSTERS, (0, 0.002, 0.005, 0.01, 0.03)):
        store = create_store(hw, store_alias(), cluster).keystore_id
        keys_before, token_before = key_total(hw), token_keys(softhsm)
        creates = [lambda c: new_key(c, keystore_id=store) for _ in range(4)]

        def delete(client):
            time.sleep(lag)
            client.delete_key_store(m.DeleteKeyStoreRequest(keystore_id=store))
            return "deleted"

        *created, deleted = in_parallel(server, [*creates, delete])
        made = [k for k in created if isinstance(k, str)]
        assert all(k in made or k == (404, "KMS.0308") for k in created), created
        assert deleted in ("deleted", (400, "KMS.0308")), deleted
        # The refused creations left nothing behind: no key, no token object.
        assert key_total(hw) - keys_before == len(made)
        assert len(token_keys(softhsm) - token_before) == len(made)
        if deleted == "deleted":
            assert made == [], "a key was acknowledged in a store that was deleted"
            expect(404, "KMS.0308", show, hw, store)
        else:
            assert made, "the delete was refused though no key was made"
            assert {describe(hw, k).keystore_id for k in made} == {store}
