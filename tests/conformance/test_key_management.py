"""Key management actions through the official SDK: creation, description, listing, state
changes, aliases, deletion, archiving, rotation and the service-level actions."""

import base64
import time
import uuid

import pytest

from conftest import KmsdProcess, b64, call, create_key, expect_error, unique_alias

MISSING_ID = "00000000-0000-4000-8000-000000000000"


def meta(kms, key_id):
    return call(kms, "DescribeKey", KeyId=key_id).KeyMetadata


def disabled_key(kms):
    key_id = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    return key_id


# ---- CreateKey ----

def test_create_key_returns_and_stores_its_metadata(kms):
    alias = unique_alias()
    before = int(time.time())
    r = call(kms, "CreateKey", Alias=alias, Description="orders", Tags=[{"TagKey": "env", "TagValue": "dev"}])
    assert (r.Alias, r.Description, r.KeyState, r.KeyUsage, r.TagCode) == (alias, "orders", "Enabled", "ENCRYPT_DECRYPT", 0)
    assert uuid.UUID(r.KeyId) and before <= r.CreateTime <= time.time() + 1
    m = meta(kms, r.KeyId)
    assert (m.KeyId, m.Alias, m.Description, m.KeyState, m.Origin, m.Owner) == (
        r.KeyId, alias, "orders", "Enabled", "TENCENT_KMS", "user")
    assert (m.KeyRotationEnabled, m.NextRotateTime, m.DeletionDate, m.ValidTo) == (False, 0, 0, 0)
    assert m.ResourceId == f"creatorUin/{m.CreatorUin}/{r.KeyId}"
    assert m.CreatorUinString == str(m.CreatorUin)


def test_external_keys_wait_for_material(kms):
    r = create_key(kms, Type=2)
    assert r.KeyState == "PendingImport"
    assert meta(kms, r.KeyId).Origin == "EXTERNAL"


@pytest.mark.parametrize("alias", ["-lead", "_lead", "has space", "slash/y", "kms-reserved", "x" * 61, "中文"])
def test_invalid_aliases(kms, alias):
    expect_error("InvalidParameterValue.InvalidAlias", kms, "CreateKey", Alias=alias)


def test_alias_edges_are_accepted(kms):
    for alias in ("a", "9" + uuid.uuid4().hex[:59], f"A-b_{uuid.uuid4().hex[:8]}"):
        assert call(kms, "CreateKey", Alias=alias).Alias == alias


def test_duplicate_alias_is_refused_per_region(server, kms):
    alias = unique_alias()
    call(kms, "CreateKey", Alias=alias)
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=alias)
    assert call(server.client(region="ap-beijing"), "CreateKey", Alias=alias).Alias == alias


def test_create_key_bad_input(kms):
    expect_error("MissingParameter", kms, "CreateKey")
    expect_error("InvalidParameterValue", kms, "CreateKey", Alias=unique_alias(), Description="d" * 1025)
    expect_error("InvalidParameterValue.InvalidKeyUsage", kms, "CreateKey", Alias=unique_alias(), KeyUsage="SIGN_ALL")
    expect_error("UnsupportedOperation.UnsupportedKeyUsageInCurrentRegion", kms, "CreateKey",
                 Alias=unique_alias(), KeyUsage="ASYMMETRIC_DECRYPT_RSA_2048")
    expect_error("InvalidParameterValue.InvalidType", kms, "CreateKey", Alias=unique_alias(), Type=3)
    expect_error("InvalidParameterValue.TagKeysDuplicated", kms, "CreateKey", Alias=unique_alias(),
                 Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "CreateKey", Alias=unique_alias(),
                 HsmClusterId="cluster-1")
    assert call(kms, "CreateKey", Alias=unique_alias(), Description="d" * 1024).Description == "d" * 1024


def test_key_limit():
    proc = KmsdProcess(extra_args=["--max-keys-per-region", "2"]).start()
    try:
        kms = proc.client()
        create_key(kms)
        create_key(kms)
        expect_error("LimitExceeded.CmkLimitExceeded", kms, "CreateKey", Alias=unique_alias())
        status = call(kms, "GetServiceStatus")
        assert (status.CmkUserCount, status.CmkLimit) == (2, 2)
        assert create_key(proc.client(region="ap-shanghai")).KeyState == "Enabled"
    finally:
        proc.cleanup()


# ---- DescribeKey(s) ----

def test_describe_errors(server, kms):
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKey", KeyId="not-a-uuid")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=MISSING_ID)
    elsewhere = create_key(server.client(region="ap-shanghai")).KeyId
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=elsewhere)


def test_describe_keys_omits_missing_and_refuses_duplicates(kms):
    a, b = create_key(kms).KeyId, create_key(kms).KeyId
    found = call(kms, "DescribeKeys", KeyIds=[a, MISSING_ID, b]).KeyMetadatas
    assert sorted(m.KeyId for m in found) == sorted([a, b])
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "DescribeKeys", KeyIds=[a, a])
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKeys", KeyIds=[a, "bad"])
    expect_error("InvalidParameterValue", kms, "DescribeKeys", KeyIds=[str(uuid.uuid4()) for _ in range(101)])
    expect_error("InvalidParameterValue", kms, "DescribeKeys", KeyIds=[])


# ---- ListKeys / ListKeyDetail (in a region of their own) ----

@pytest.fixture(scope="module")
def listing(server):
    kms = server.client(region="ap-chengdu")
    ids = []
    for i in range(12):
        tags = [{"TagKey": "team", "TagValue": "a" if i % 2 else "b"}]
        ids.append(call(kms, "CreateKey", Alias=f"list-{i:02d}", Tags=tags).KeyId)
    external = create_key(kms, Type=2).KeyId
    call(kms, "DisableKey", KeyId=ids[0])
    call(kms, "DisableKey", KeyId=ids[1])
    call(kms, "ScheduleKeyDeletion", KeyId=ids[1], PendingWindowInDays=7)
    call(kms, "ArchiveKey", KeyId=ids[2])
    return kms, ids, external


def test_list_keys_pages_in_creation_order(listing):
    kms, ids, external = listing
    first = call(kms, "ListKeys")
    shown = [i for i in ids + [external] if i not in (ids[1], ids[2])]
    assert first.TotalCount == len(shown), "Enabled, Disabled and PendingImport keys only"
    assert [k.KeyId for k in first.Keys] == shown[:10], "default Limit is 10"
    rest = call(kms, "ListKeys", Offset=10, Limit=200)
    assert [k.KeyId for k in rest.Keys] == shown[10:]
    assert call(kms, "ListKeys", Role=1).TotalCount == 0
    expect_error("InvalidParameterValue", kms, "ListKeys", Limit=201)
    expect_error("InvalidParameterValue", kms, "ListKeys", Role=2)


def test_list_key_detail_filters(listing):
    kms, ids, external = listing

    def detail(**f):
        r = call(kms, "ListKeyDetail", Limit=200, **f)
        return r.TotalCount, [m.KeyId for m in r.KeyMetadatas]

    total, newest_first = detail()
    assert total == 13, "KeyUsage defaults to ENCRYPT_DECRYPT; every state is listed"
    assert newest_first[0] == external
    assert detail(OrderType=1)[1] == ids + [external]
    assert detail(KeyState=1)[0] == 9
    assert detail(KeyState=2) == (1, [ids[0]])
    assert detail(KeyState=3) == (1, [ids[1]])
    assert detail(KeyState=4) == (1, [external])
    assert detail(KeyState=5) == (1, [ids[2]])
    assert detail(Origin="EXTERNAL") == (1, [external])
    assert detail(Origin="TENCENT_KMS")[0] == 12
    assert detail(Origin="ALL")[0] == 13
    assert detail(KeyUsage="ALL")[0] == 13
    assert detail(KeyUsage="ASYMMETRIC_SIGN_VERIFY_SM2")[0] == 0
    assert detail(SearchKeyAlias="list-03") == (1, [ids[3]])
    assert detail(SearchKeyAlias=ids[4][:13])[1] == [ids[4]]
    assert detail(TagFilters=[{"TagKey": "team", "TagValue": ["a"]}])[0] == 6
    assert detail(TagFilters=[{"TagKey": "team"}])[0] == 12
    assert detail(TagFilters=[{"TagKey": "absent"}])[0] == 0
    page = call(kms, "ListKeyDetail", Offset=2, Limit=3, OrderType=1)
    assert (page.TotalCount, [m.KeyId for m in page.KeyMetadatas]) == (13, ids[2:5])
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", KeyState=6)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", OrderType=2)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", Origin="OTHER")
    expect_error("InvalidParameterValue.InvalidKeyUsage", kms, "ListKeyDetail", KeyUsage="NOPE")


# ---- state changes ----

def test_enable_and_disable(kms):
    key_id = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    assert meta(kms, key_id).KeyState == "Disabled"
    call(kms, "DisableKey", KeyId=key_id)
    call(kms, "EnableKey", KeyId=key_id)
    call(kms, "EnableKey", KeyId=key_id)
    assert meta(kms, key_id).KeyState == "Enabled"
    expect_error("ResourceUnavailable.CmkNotFound", kms, "EnableKey", KeyId=MISSING_ID)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DisableKey", KeyId="x")


def test_state_changes_refused_where_the_vendor_refuses_them(kms):
    pending = disabled_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=pending, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKey", KeyId=pending)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "DisableKey", KeyId=pending)
    archived = create_key(kms).KeyId
    call(kms, "ArchiveKey", KeyId=archived)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "DisableKey", KeyId=archived)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKey", KeyId=archived)
    external = create_key(kms, Type=2).KeyId
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKey", KeyId=external)


def test_batch_state_changes_are_all_or_nothing(kms):
    a, b = create_key(kms).KeyId, create_key(kms).KeyId
    call(kms, "DisableKeys", KeyIds=[a, b])
    assert {meta(kms, k).KeyState for k in (a, b)} == {"Disabled"}
    call(kms, "EnableKeys", KeyIds=[a, b])
    assert {meta(kms, k).KeyState for k in (a, b)} == {"Enabled"}
    archived = create_key(kms).KeyId
    call(kms, "ArchiveKey", KeyId=archived)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "DisableKeys", KeyIds=[a, archived])
    assert meta(kms, a).KeyState == "Enabled", "nothing changed"
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DisableKeys", KeyIds=[a, MISSING_ID])
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "EnableKeys", KeyIds=[a, a])
    expect_error("InvalidParameterValue", kms, "EnableKeys", KeyIds=[str(uuid.uuid4()) for _ in range(101)])


# ---- aliases and descriptions ----

def test_update_alias(kms):
    key_id = create_key(kms).KeyId
    new = unique_alias("renamed")
    call(kms, "UpdateAlias", KeyId=key_id, Alias=new)
    assert meta(kms, key_id).Alias == new
    taken = create_key(kms).Alias
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "UpdateAlias", KeyId=key_id, Alias=taken)
    expect_error("InvalidParameterValue.InvalidAlias", kms, "UpdateAlias", KeyId=key_id, Alias="bad alias")
    old = meta(kms, key_id).Alias
    call(kms, "UpdateAlias", KeyId=key_id, Alias=unique_alias())
    assert call(kms, "CreateKey", Alias=old).Alias == old, "the old alias is free again"


def test_update_description(kms):
    key_id = create_key(kms).KeyId
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="new words")
    assert meta(kms, key_id).Description == "new words"
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="")
    assert meta(kms, key_id).Description == ""
    expect_error("InvalidParameterValue", kms, "UpdateKeyDescription", KeyId=key_id, Description="x" * 1025)


def test_pending_delete_keys_cannot_be_renamed(kms):
    key_id = disabled_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "UpdateAlias", KeyId=key_id, Alias=unique_alias())
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "UpdateKeyDescription", KeyId=key_id, Description="x")


# ---- deletion ----

def test_schedule_and_cancel_deletion(kms):
    key_id = disabled_key(kms)
    r = call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=30)
    assert r.KeyId == key_id and abs(r.DeletionDate - (time.time() + 30 * 86400)) < 60
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == ("PendingDelete", r.DeletionDate)
    assert call(kms, "CancelKeyDeletion", KeyId=key_id).KeyId == key_id
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == ("Disabled", 0)
    expect_error("ResourceUnavailable.CmkNotPendingDelete", kms, "CancelKeyDeletion", KeyId=key_id)


def test_schedule_deletion_rules(kms):
    enabled = create_key(kms).KeyId
    expect_error("ResourceUnavailable.CmkShouldBeDisabled", kms, "ScheduleKeyDeletion", KeyId=enabled, PendingWindowInDays=7)
    key_id = disabled_key(kms)
    for days in (6, 31, 0):
        expect_error("InvalidParameter.InvalidPendingWindowInDays", kms, "ScheduleKeyDeletion",
                     KeyId=key_id, PendingWindowInDays=days)
    expect_error("MissingParameter", kms, "ScheduleKeyDeletion", KeyId=key_id)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    external = create_key(kms, Type=2).KeyId
    call(kms, "ScheduleKeyDeletion", KeyId=external, PendingWindowInDays=7)
    call(kms, "CancelKeyDeletion", KeyId=external)
    assert meta(kms, external).KeyState == "PendingImport"


# ---- archiving ----

def test_archive_and_cancel(kms):
    key_id = create_key(kms).KeyId
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"old")).CiphertextBlob
    call(kms, "ArchiveKey", KeyId=key_id)
    assert meta(kms, key_id).KeyState == "Archived"
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"old"
    expect_error("ResourceUnavailable.CmkArchived", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"new"))
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ArchiveKey", KeyId=key_id)
    call(kms, "CancelKeyArchive", KeyId=key_id)
    assert meta(kms, key_id).KeyState == "Enabled"
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "CancelKeyArchive", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ArchiveKey", KeyId=disabled_key(kms))


# ---- rotation ----

def test_rotation_settings(kms):
    key_id = create_key(kms).KeyId
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is False
    call(kms, "EnableKeyRotation", KeyId=key_id)
    status = call(kms, "GetKeyRotationStatus", KeyId=key_id)
    assert status.KeyRotationEnabled is True
    m = meta(kms, key_id)
    assert m.RotateDays == 365 and abs(m.NextRotateTime - (time.time() + 365 * 86400)) < 60
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=7)
    m = meta(kms, key_id)
    assert m.RotateDays == 7 and abs(m.NextRotateTime - (time.time() + 7 * 86400)) < 60
    for days in (6, 366):
        expect_error("InvalidParameterValue", kms, "EnableKeyRotation", KeyId=key_id, RotateDays=days)
    call(kms, "DisableKeyRotation", KeyId=key_id)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is False
    assert meta(kms, key_id).NextRotateTime == 0


def test_rotation_refused_for_unfit_keys(kms):
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKeyRotation", KeyId=disabled_key(kms))
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "RotateKey", KeyId=disabled_key(kms))
    external = create_key(kms, Type=2).KeyId
    expect_error("UnsupportedOperation.ExternalCmkCanNotRotate", kms, "EnableKeyRotation", KeyId=external)
    expect_error("UnsupportedOperation.ExternalCmkCanNotRotate", kms, "DisableKeyRotation", KeyId=external)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "GetKeyRotationStatus", KeyId=MISSING_ID)


def test_rotate_now(kms):
    key_id = create_key(kms).KeyId
    before = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"v1")).CiphertextBlob
    r = call(kms, "RotateKey", KeyId=key_id)
    assert r.TaskId
    assert abs(meta(kms, key_id).LastRotateTime - time.time()) < 60
    after = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"v2")).CiphertextBlob
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=before).Plaintext) == b"v1"
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=after).Plaintext) == b"v2"


# ---- service-level actions ----

def test_service_status(server):
    kms = server.client(region="ap-nanjing")
    create_key(kms)
    s = call(kms, "GetServiceStatus")
    assert (s.ServiceEnabled, s.InvalidType, s.CmkUserCount) == (True, 1, 1)
    assert s.CmkLimit >= 100000


def test_regions_and_algorithms(kms):
    regions = call(kms, "GetRegions").Regions
    assert {"ap-guangzhou", "ap-shanghai", "ap-beijing"} <= set(regions)
    algs = call(kms, "ListAlgorithms")
    assert [(a.KeyUsage, a.Algorithm) for a in algs.SymmetricAlgorithms] == [("ENCRYPT_DECRYPT", "AES_256")]
    assert algs.AsymmetricAlgorithms == [] and algs.AsymmetricSignVerifyAlgorithms == []
