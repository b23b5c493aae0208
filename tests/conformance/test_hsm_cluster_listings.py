"""Tencent's HsmClusterId beyond CreateKey, against a SoftHSM2 token: the key and data key
listings filter by cluster (an id for its keys, `default` for the keys outside every cluster,
empty for all), and GenerateDataKey and ImportDataKey refuse a CMK outside the cluster they
name. Hosted data keys carry their CMK's cluster in their metadata."""

import base64
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import KmsdProcess, b64, call, create_key, expect_error
from softhsm import MODULE, TOKEN, pin_file, softhsm_token

CLUSTER = "cls-listing"
BAD_CLUSTER = "InvalidParameterValue.InvalidHsmClusterId"


@pytest.fixture(scope="module")
def kms():
    """A fresh server with one HSM cluster, two keys in it and two in software."""
    with softhsm_token() as env:
        workdir = Path(tempfile.mkdtemp(prefix="kmsd-cluster-listing-"))
        server = KmsdProcess(data_dir=workdir / "data", env=env, extra_args=[
            "--hsm-cluster", f"{CLUSTER}={TOKEN}", "--pkcs11-module", MODULE,
            "--pkcs11-pin-file", str(pin_file(workdir))])
        server.start()
        try:
            yield server.client()
        finally:
            server.cleanup()
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def keys(kms):
    in_cluster = [create_key(kms, HsmClusterId=CLUSTER).KeyId for _ in range(2)]
    signing = create_key(kms, HsmClusterId=CLUSTER, KeyUsage="ASYMMETRIC_SIGN_VERIFY_ECC").KeyId
    software = [create_key(kms).KeyId for _ in range(2)]
    return {"cluster": in_cluster, "cluster_signing": signing, "software": software}


def listed_keys(kms, **params):
    answer = call(kms, "ListKeys", Limit=200, **params)
    ids = [k.KeyId for k in answer.Keys]
    assert answer.TotalCount == len(ids)
    return ids


def listed_key_details(kms, **params):
    params.setdefault("KeyUsage", "ALL")
    answer = call(kms, "ListKeyDetail", Limit=200, **params)
    assert answer.TotalCount == len(answer.KeyMetadatas)
    return answer.KeyMetadatas


def test_key_listings_filter_by_cluster(kms, keys):
    cluster = keys["cluster"] + [keys["cluster_signing"]]
    assert listed_keys(kms, HsmClusterId=CLUSTER) == cluster
    assert listed_keys(kms, HsmClusterId="default") == keys["software"]
    assert listed_keys(kms, HsmClusterId="") == cluster + keys["software"]
    assert listed_keys(kms) == cluster + keys["software"]

    detail = listed_key_details(kms, HsmClusterId=CLUSTER, OrderType=1)
    assert [k.KeyId for k in detail] == cluster
    assert {k.HsmClusterId for k in detail} == {CLUSTER}
    shared = listed_key_details(kms, HsmClusterId="default", OrderType=1)
    assert [(k.KeyId, k.HsmClusterId) for k in shared] == [(k, "") for k in keys["software"]]
    # With the other filters: the usage and the state narrow the cluster's keys.
    symmetric = listed_key_details(kms, HsmClusterId=CLUSTER, KeyUsage="ENCRYPT_DECRYPT",
                                   OrderType=1)
    assert [k.KeyId for k in symmetric] == keys["cluster"]
    call(kms, "DisableKey", KeyId=keys["cluster"][1])
    try:
        disabled = listed_key_details(kms, HsmClusterId=CLUSTER, KeyState=2)
        assert [k.KeyId for k in disabled] == [keys["cluster"][1]]
        assert listed_key_details(kms, HsmClusterId="default", KeyState=2) == []
    finally:
        call(kms, "EnableKey", KeyId=keys["cluster"][1])
    # A page of the cluster's keys.
    page = call(kms, "ListKeyDetail", HsmClusterId=CLUSTER, KeyUsage="ALL", OrderType=1, Offset=1,
                Limit=1)
    assert (page.TotalCount, [k.KeyId for k in page.KeyMetadatas]) == (3, [cluster[1]])


@pytest.mark.parametrize("action", ["ListKeys", "ListKeyDetail", "ListDataKeys", "ListDataKeyDetail"])
def test_listings_refuse_an_unknown_cluster(kms, action):
    expect_error(BAD_CLUSTER, kms, action, HsmClusterId="cls-unknown")


def test_generate_data_key_checks_the_cmk_is_in_the_cluster(kms, keys):
    cmk = keys["cluster"][0]
    data_key = call(kms, "GenerateDataKey", KeyId=cmk, KeySpec="AES_256", HsmClusterId=CLUSTER)
    assert data_key.KeyId == cmk
    assert call(kms, "Decrypt", CiphertextBlob=data_key.CiphertextBlob).Plaintext == data_key.Plaintext
    expect_error(BAD_CLUSTER, kms, "GenerateDataKey", KeyId=keys["software"][0], KeySpec="AES_256",
                 HsmClusterId=CLUSTER)
    expect_error(BAD_CLUSTER, kms, "GenerateDataKey", KeyId=cmk, KeySpec="AES_256",
                 HsmClusterId="cls-unknown")
    # Without HsmClusterId the CMK is taken wherever it is.
    assert call(kms, "GenerateDataKey", KeyId=keys["software"][0], KeySpec="AES_128").KeyId \
        == keys["software"][0]


def test_hosted_data_keys_carry_their_cmk_cluster(kms, keys):
    before = call(kms, "ListDataKeys", Limit=200).TotalCount
    hosted = call(kms, "GenerateDataKey", KeyId=keys["cluster"][0], NumberOfBytes=32,
                  IsHostedByKms=1, DataKeyName="in-cluster", HsmClusterId=CLUSTER)
    plain = call(kms, "GenerateDataKey", KeyId=keys["software"][0], NumberOfBytes=16,
                 IsHostedByKms=1, DataKeyName="in-software")
    imported = call(kms, "ImportDataKey", DataKeyName="imported-in-cluster", ImportType=2,
                    KeyId=keys["cluster"][1], ImportKeyMaterial=b64(b"k" * 24),
                    HsmClusterId=CLUSTER)
    rehosted = call(kms, "GenerateDataKey", KeyId=keys["cluster"][1], NumberOfBytes=32)
    from_blob = call(kms, "ImportDataKey", DataKeyName="blob-in-cluster", ImportType=1,
                     ImportKeyMaterial=rehosted.CiphertextBlob, HsmClusterId=CLUSTER)
    cluster_ids = [hosted.DataKeyId, imported.DataKeyId, from_blob.DataKeyId]

    for data_key_id, cluster in [(hosted.DataKeyId, CLUSTER), (plain.DataKeyId, ""),
                                 (imported.DataKeyId, CLUSTER), (from_blob.DataKeyId, CLUSTER)]:
        metadata = call(kms, "DescribeDataKey", DataKeyId=data_key_id).DataKeyMetadata
        assert metadata.HsmClusterId == cluster, data_key_id
    described = call(kms, "DescribeDataKeys", DataKeyIds=cluster_ids).DataKeyMetadatas
    assert {d.HsmClusterId for d in described} == {CLUSTER}
    plaintext = call(kms, "GetDataKeyPlaintext", DataKeyId=imported.DataKeyId).Plaintext
    assert base64.b64decode(plaintext) == b"k" * 24

    listed = call(kms, "ListDataKeys", Limit=200, HsmClusterId=CLUSTER)
    assert ([d.DataKeyId for d in listed.DataKeys], listed.TotalCount) == (cluster_ids, 3)
    shared = call(kms, "ListDataKeys", Limit=200, HsmClusterId="default")
    assert plain.DataKeyId in [d.DataKeyId for d in shared.DataKeys]
    assert not set(cluster_ids) & {d.DataKeyId for d in shared.DataKeys}
    assert call(kms, "ListDataKeys", Limit=200).TotalCount == before + 4
    detail = call(kms, "ListDataKeyDetail", Limit=200, OrderType=1, HsmClusterId=CLUSTER)
    assert [d.DataKeyId for d in detail.DataKeyMetadatas] == cluster_ids
    assert {d.HsmClusterId for d in detail.DataKeyMetadatas} == {CLUSTER}
    by_cmk = call(kms, "ListDataKeyDetail", HsmClusterId=CLUSTER, KeyId=keys["cluster"][1],
                  OrderType=1)
    assert [d.DataKeyId for d in by_cmk.DataKeyMetadatas] == cluster_ids[1:]


def test_data_keys_refused_for_the_cluster_are_not_kept(kms, keys):
    before = call(kms, "ListDataKeys", Limit=200).TotalCount
    expect_error(BAD_CLUSTER, kms, "GenerateDataKey", KeyId=keys["software"][1], NumberOfBytes=32,
                 IsHostedByKms=1, DataKeyName="refused-generated", HsmClusterId=CLUSTER)
    expect_error(BAD_CLUSTER, kms, "ImportDataKey", DataKeyName="refused-plain", ImportType=2,
                 KeyId=keys["software"][1], ImportKeyMaterial=b64(b"p" * 16), HsmClusterId=CLUSTER)
    blob = call(kms, "GenerateDataKey", KeyId=keys["software"][1], NumberOfBytes=32).CiphertextBlob
    expect_error(BAD_CLUSTER, kms, "ImportDataKey", DataKeyName="refused-blob", ImportType=1,
                 ImportKeyMaterial=blob, HsmClusterId=CLUSTER)
    expect_error(BAD_CLUSTER, kms, "ImportDataKey", DataKeyName="refused-unknown", ImportType=1,
                 ImportKeyMaterial=blob, HsmClusterId="cls-unknown")
    assert call(kms, "ListDataKeys", Limit=200).TotalCount == before
    # The names stay free.
    kept = call(kms, "ImportDataKey", DataKeyName="refused-blob", ImportType=1,
                ImportKeyMaterial=blob)
    assert call(kms, "DescribeDataKey", DataKeyId=kept.DataKeyId).DataKeyMetadata.HsmClusterId == ""
