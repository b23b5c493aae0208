"""CMK management through the official SDK, action by action: each action's success path with the
values it returns, every vendor error code it can answer, and malformed input.

Tests that count or list keys work in a region of their own, so keys that other tests create in
ap-guangzhou do not disturb them. Requests the SDK cannot express (wrong JSON types inside lists,
unknown parameters) go through `tc3_post`.
"""

import base64
import time
import uuid

import pytest
from tencentcloud.kms.v20190118 import models

from conftest import KmsdProcess, b64, call, create_key, expect_error, tc3_post, unique_alias

MISSING_ID = "00000000-0000-4000-8000-000000000000"
ASYMMETRIC_USAGES = [
    "ASYMMETRIC_DECRYPT_RSA_2048",
    "ASYMMETRIC_DECRYPT_SM2",
    "ASYMMETRIC_SIGN_VERIFY_SM2",
    "ASYMMETRIC_SIGN_VERIFY_ECC",
    "ASYMMETRIC_SIGN_VERIFY_RSA_2048",
    "ASYMMETRIC_SIGN_VERIFY_ECDSA384",
]
DAY = 86400


# ---- helpers ----

def meta(kms, key_id):
    return call(kms, "DescribeKey", KeyId=key_id).KeyMetadata


def state(kms, key_id):
    return meta(kms, key_id).KeyState


def disabled_key(kms):
    key_id = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    return key_id


def pending_delete_key(kms):
    key_id = disabled_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    return key_id


def archived_key(kms):
    key_id = create_key(kms).KeyId
    call(kms, "ArchiveKey", KeyId=key_id)
    return key_id


def external_key(kms):
    return create_key(kms, Type=2).KeyId


KEY_IN_STATE = {
    "Enabled": lambda kms: create_key(kms).KeyId,
    "Disabled": disabled_key,
    "PendingDelete": pending_delete_key,
    "PendingImport": external_key,
    "Archived": archived_key,
}


def raw_error(server, action, body, region="ap-guangzhou"):
    """The error code of a hand-built request (for shapes the SDK cannot send)."""
    r = tc3_post(server.endpoint, action, body, region=region)
    assert "Error" in r, f"{action} {body} succeeded: {r}"
    return r["Error"]["Code"]


def encrypt(kms, key_id, data=b"payload"):
    return call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(data)).CiphertextBlob


def decrypt(kms, blob):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext)


def near(actual, expected, slack=30):
    return abs(actual - expected) <= slack


# ==== CreateKey ====

def test_create_key_answers_the_new_key(kms):
    """The response carries the key as stored, with the vendor's tag and HSM fields."""
    alias = unique_alias()
    before = int(time.time())
    r = call(kms, "CreateKey", Alias=alias, Description="orders db", KeyUsage="ENCRYPT_DECRYPT", Type=1)
    after = int(time.time())
    assert str(uuid.UUID(r.KeyId)) == r.KeyId, "a lowercase hyphenated UUID"
    assert (r.Alias, r.Description, r.KeyState, r.KeyUsage) == (alias, "orders db", "Enabled", "ENCRYPT_DECRYPT")
    assert before <= r.CreateTime <= after
    assert (r.TagCode, r.TagMsg, r.HsmClusterId) == (0, "Success", ""), "as the vendor's example answers"
    assert r.RequestId


def test_create_key_defaults(kms):
    """Only Alias is required: no description, ENCRYPT_DECRYPT, Type 1 (material made by KMS)."""
    r = call(kms, "CreateKey", Alias=unique_alias())
    m = meta(kms, r.KeyId)
    assert (m.Description, m.KeyUsage, m.KeyState, m.Origin) == ("", "ENCRYPT_DECRYPT", "Enabled", "TENCENT_KMS")
    assert call(kms, "CreateKey", Alias=unique_alias(), KeyUsage="").KeyUsage == "ENCRYPT_DECRYPT"
    assert create_key(kms).KeyId != r.KeyId


def test_create_key_type_1_makes_a_usable_kms_key(kms):
    r = create_key(kms, Type=1)
    assert r.KeyState == "Enabled" and meta(kms, r.KeyId).Origin == "TENCENT_KMS"
    assert decrypt(kms, encrypt(kms, r.KeyId, b"t1")) == b"t1"


def test_create_key_type_2_waits_for_imported_material(kms):
    """An EXTERNAL key has no material until one is imported, so it cannot encrypt yet."""
    r = create_key(kms, Type=2)
    assert r.KeyState == "PendingImport"
    m = meta(kms, r.KeyId)
    assert (m.KeyState, m.Origin, m.ValidTo) == ("PendingImport", "EXTERNAL", 0)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "Encrypt", KeyId=r.KeyId, Plaintext=b64(b"x"))


@pytest.mark.parametrize("alias", [
    "a", "Z", "7", "x" * 60, "A-b_c", "9-_-_", "kms", "kmsx-1", "Kms_1", "k-ms-",
])
def test_alias_accepted(server, alias):
    """1-60 letters, digits, '-' and '_' starting with a letter or digit; only `kms-` is reserved."""
    kms = server.client(region="ap-tokyo")
    assert call(kms, "CreateKey", Alias=alias).Alias == alias


@pytest.mark.parametrize("alias", [
    "", "-a", "_a", "a b", " a", "a ", "a.b", "a/b", "a@b", "a+b", "a\n", "kms-", "kms-x", "kms-reserved",
    "x" * 61, "中文", "é1", "a\u00a0b",
])
def test_alias_refused(kms, alias):
    expect_error("InvalidParameterValue.InvalidAlias", kms, "CreateKey", Alias=alias)


def test_alias_missing_or_mistyped(kms):
    expect_error("MissingParameter", kms, "CreateKey")
    expect_error("MissingParameter", kms, "CreateKey", Description="no alias")
    expect_error("InvalidParameter", kms, "CreateKey", Alias=123)
    expect_error("InvalidParameter", kms, "CreateKey", Alias=["a"])


def test_duplicate_alias_is_refused_within_a_region_only(server, kms):
    alias = unique_alias()
    first = call(kms, "CreateKey", Alias=alias).KeyId
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=alias)
    other = call(server.client(region="ap-beijing"), "CreateKey", Alias=alias)
    assert other.Alias == alias and other.KeyId != first
    assert meta(kms, first).Alias == alias, "the first key keeps its alias"


def test_alias_stays_taken_while_the_key_is_disabled_or_pending_deletion(kms):
    for key_id in (disabled_key(kms), pending_delete_key(kms), archived_key(kms), external_key(kms)):
        expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=meta(kms, key_id).Alias)


def test_description_limit_is_1024_bytes(kms):
    assert call(kms, "CreateKey", Alias=unique_alias(), Description="d" * 1024).Description == "d" * 1024
    expect_error("InvalidParameterValue", kms, "CreateKey", Alias=unique_alias(), Description="d" * 1025)
    wide = "密" * 341  # 1023 bytes of UTF-8
    r = call(kms, "CreateKey", Alias=unique_alias(), Description=wide)
    assert meta(kms, r.KeyId).Description == wide
    expect_error("InvalidParameterValue", kms, "CreateKey", Alias=unique_alias(), Description="密" * 342)
    expect_error("InvalidParameter", kms, "CreateKey", Alias=unique_alias(), Description=5)


@pytest.mark.parametrize("usage", ["SIGN_VERIFY", "encrypt_decrypt", "AES_256", "ALL", " ENCRYPT_DECRYPT", "E" * 65])
def test_unknown_key_usage(kms, usage):
    expect_error("InvalidParameterValue.InvalidKeyUsage", kms, "CreateKey", Alias=unique_alias(), KeyUsage=usage)


def test_key_usage_of_the_wrong_type(kms):
    expect_error("InvalidParameter", kms, "CreateKey", Alias=unique_alias(), KeyUsage=1)


@pytest.mark.parametrize("key_type", [0, 3, 4, 100])
def test_unknown_type(kms, key_type):
    alias = unique_alias()
    expect_error("InvalidParameterValue.InvalidType", kms, "CreateKey", Alias=alias, Type=key_type)
    assert call(kms, "CreateKey", Alias=alias).Alias == alias, "the refused request created nothing"


def test_type_of_the_wrong_type(kms):
    expect_error("InvalidParameter", kms, "CreateKey", Alias=unique_alias(), Type="1")
    expect_error("InvalidParameter", kms, "CreateKey", Alias=unique_alias(), Type=1.5)


def test_tags_are_stored_and_findable(server):
    """Tags come back through ListKeyDetail's TagFilters (KeyMetadata carries no tags)."""
    kms = server.client(region="ap-seoul")
    value = uuid.uuid4().hex
    tagged = create_key(kms, Tags=[{"TagKey": "owner", "TagValue": value}, {"TagKey": "tier", "TagValue": ""}]).KeyId
    create_key(kms, Tags=[{"TagKey": "owner", "TagValue": "someone-else"}])
    found = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "owner", "TagValue": [value]}])
    assert (found.TotalCount, [m.KeyId for m in found.KeyMetadatas]) == (1, [tagged])
    found = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "tier", "TagValue": [""]}])
    assert [m.KeyId for m in found.KeyMetadatas] == [tagged]


def test_tag_rules(server, kms):
    tags = [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(50)]
    assert create_key(kms, Tags=tags).TagCode == 0, "50 tags are allowed"
    expect_error("InvalidParameterValue", kms, "CreateKey", Alias=unique_alias(),
                 Tags=tags + [{"TagKey": "k50", "TagValue": "v"}])
    alias = unique_alias()
    expect_error("InvalidParameterValue.TagKeysDuplicated", kms, "CreateKey", Alias=alias,
                 Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])
    expect_error("InvalidParameterValue.TagKeysDuplicated", kms, "CreateKey", Alias=alias,
                 Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "1"}])
    assert call(kms, "CreateKey", Alias=alias).Alias == alias, "the refused requests created nothing"
    assert create_key(kms, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "1"}]).TagCode == 0
    expect_error("InvalidParameterValue", kms, "CreateKey", Alias=unique_alias(), Tags=[{"TagKey": "", "TagValue": "v"}])
    expect_error("MissingParameter", kms, "CreateKey", Alias=unique_alias(), Tags=[{"TagKey": "a"}])
    expect_error("MissingParameter", kms, "CreateKey", Alias=unique_alias(), Tags=[{"TagValue": "v"}])
    assert raw_error(server, "CreateKey", {"Alias": unique_alias(), "Tags": "env=dev"}) == "InvalidParameter"
    assert raw_error(server, "CreateKey", {"Alias": unique_alias(), "Tags": ["env"]}) == "InvalidParameter"
    assert raw_error(server, "CreateKey", {"Alias": unique_alias(), "Tags": [{"TagKey": "a", "TagValue": 1}]}) == "InvalidParameter"


def test_hsm_cluster_id(kms):
    """This server has only the shared cluster: an empty id is fine, any named one is unknown."""
    assert create_key(kms, HsmClusterId="").KeyState == "Enabled"
    alias = unique_alias()
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "CreateKey", Alias=alias, HsmClusterId="cls-1234")
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "CreateKey", Alias=alias, HsmClusterId="c" * 129)
    assert call(kms, "CreateKey", Alias=alias).Alias == alias, "the refused requests created nothing"


def test_create_key_unknown_parameter(server):
    assert raw_error(server, "CreateKey", {"Alias": unique_alias(), "KeySpec": "AES_256"}) == "UnknownParameter"


def test_key_limit_per_region():
    proc = KmsdProcess(extra_args=["--max-keys-per-region", "2"]).start()
    try:
        kms = proc.client()
        create_key(kms)
        create_key(kms, Type=2)
        expect_error("LimitExceeded.CmkLimitExceeded", kms, "CreateKey", Alias=unique_alias())
        status = call(kms, "GetServiceStatus")
        assert (status.CmkUserCount, status.CmkLimit) == (2, 2)
        assert create_key(proc.client(region="ap-shanghai")).KeyState == "Enabled", "the limit is per region"
        assert call(kms, "ListKeys").TotalCount == 2, "the refused request created nothing"
    finally:
        proc.cleanup()


def test_keys_pending_deletion_do_not_count_toward_the_limit():
    """Vendor FAQ: up to 200 CMKs per account and region, excluding those scheduled for deletion."""
    proc = KmsdProcess(extra_args=["--max-keys-per-region", "2"]).start()
    try:
        kms = proc.client()
        create_key(kms)
        pending_delete_key(kms)
        assert create_key(kms).KeyState == "Enabled"
    finally:
        proc.cleanup()


# ==== DescribeKey ====

def test_describe_key_reports_every_field(kms):
    created = call(kms, "CreateKey", Alias=unique_alias(), Description="all fields")
    m = meta(kms, created.KeyId)
    assert m.CreatorUin > 0
    expected = {
        "KeyId": created.KeyId, "Alias": created.Alias, "CreateTime": created.CreateTime,
        "Description": "all fields", "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "Type": 2,
        "CreatorUin": m.CreatorUin, "KeyRotationEnabled": False, "Owner": "user", "NextRotateTime": 0,
        "DeletionDate": 0, "Origin": "TENCENT_KMS", "ValidTo": 0,
        "ResourceId": f"creatorUin/{m.CreatorUin}/{created.KeyId}", "HsmClusterId": "", "RotateDays": 0,
        "LastRotateTime": 0, "IsSyncReplica": 0, "SourceRegion": "", "SyncStatus": 0, "SyncMessages": "",
        "SyncStartTime": 0, "SyncEndTime": 0, "SourceHsmClusterId": "", "CreatorUinString": str(m.CreatorUin),
    }
    assert {k: getattr(m, k) for k in expected} == expected
    assert meta(kms, create_key(kms).KeyId).CreatorUin == m.CreatorUin, "one account, one creator"


def test_describe_key_answers_every_field_of_the_sdk_model(server, kms):
    """The SDK's KeyMetadata lists the fields the vendor answers; none may be missing."""
    key_id = create_key(kms).KeyId
    r = tc3_post(server.endpoint, "DescribeKey", {"KeyId": key_id})
    declared = {name.lstrip("_") for name in vars(models.KeyMetadata())}
    assert declared - set(r["KeyMetadata"]) == set()


def test_describe_key_follows_state_changes(kms):
    key_id = create_key(kms).KeyId
    call(kms, "DisableKey", KeyId=key_id)
    assert state(kms, key_id) == "Disabled"
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    m = meta(kms, key_id)
    assert m.KeyState == "PendingDelete" and near(m.DeletionDate, time.time() + 7 * DAY)


@pytest.mark.parametrize("key_id", [
    "not-a-uuid", "", "x" * 129, MISSING_ID.replace("-", ""), "{" + MISSING_ID + "}",
    MISSING_ID + " ", " " + MISSING_ID, "urn:uuid:" + MISSING_ID, MISSING_ID[:-1] + "g",
    "00000000-0000-4000-8000-00000000000",
])
def test_describe_key_malformed_id(kms, key_id):
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKey", KeyId=key_id)


def test_describe_key_missing_or_mistyped_id(kms):
    expect_error("MissingParameter", kms, "DescribeKey")
    expect_error("InvalidParameter", kms, "DescribeKey", KeyId=5)
    expect_error("InvalidParameter", kms, "DescribeKey", KeyId=[MISSING_ID])


def test_describe_key_unknown_and_other_regions_keys(server, kms):
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=MISSING_ID)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=str(uuid.uuid4()))
    shanghai = server.client(region="ap-shanghai")
    elsewhere = create_key(shanghai).KeyId
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DescribeKey", KeyId=elsewhere)
    assert meta(shanghai, elsewhere).KeyId == elsewhere


# ==== DescribeKeys ====

def test_describe_keys_returns_the_keys_that_exist(server, kms):
    a, b = create_key(kms), create_key(kms, Type=2)
    foreign = create_key(server.client(region="ap-shanghai")).KeyId
    found = call(kms, "DescribeKeys", KeyIds=[a.KeyId, MISSING_ID, b.KeyId, foreign]).KeyMetadatas
    by_id = {m.KeyId: m for m in found}
    assert set(by_id) == {a.KeyId, b.KeyId}, "missing and other regions' keys are left out"
    assert (by_id[a.KeyId].Alias, by_id[a.KeyId].KeyState) == (a.Alias, "Enabled")
    assert (by_id[b.KeyId].Alias, by_id[b.KeyId].KeyState, by_id[b.KeyId].Origin) == (b.Alias, "PendingImport", "EXTERNAL")
    assert call(kms, "DescribeKeys", KeyIds=[MISSING_ID]).KeyMetadatas == []


def test_describe_keys_takes_up_to_100_ids(kms):
    key_id = create_key(kms).KeyId
    ids = [key_id] + [str(uuid.uuid4()) for _ in range(99)]
    assert [m.KeyId for m in call(kms, "DescribeKeys", KeyIds=ids).KeyMetadatas] == [key_id]
    expect_error("InvalidParameterValue", kms, "DescribeKeys", KeyIds=ids + [str(uuid.uuid4())])
    expect_error("InvalidParameterValue", kms, "DescribeKeys", KeyIds=[])


def test_describe_keys_bad_ids(server, kms):
    key_id = create_key(kms).KeyId
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "DescribeKeys", KeyIds=[key_id, key_id])
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "DescribeKeys", KeyIds=[MISSING_ID, key_id, MISSING_ID])
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKeys", KeyIds=[key_id, "bad"])
    expect_error("MissingParameter", kms, "DescribeKeys")
    assert raw_error(server, "DescribeKeys", {"KeyIds": key_id}) == "InvalidParameter"
    assert raw_error(server, "DescribeKeys", {"KeyIds": [1]}) == "InvalidParameter"


# ==== ListKeys / ListKeyDetail (in a region of their own) ====

LISTING_REGION = "ap-chongqing"


@pytest.fixture(scope="module")
def listing(server):
    """12 keys det-00..det-11 (team a/b alternating, env=prod on the first four) and one external
    key; det-00 Disabled, det-01 PendingDelete, det-02 Archived; created in this order."""
    kms = server.client(region=LISTING_REGION)
    ids = []
    for i in range(12):
        tags = [{"TagKey": "team", "TagValue": "a" if i % 2 else "b"}]
        if i < 4:
            tags.append({"TagKey": "env", "TagValue": "prod"})
        ids.append(call(kms, "CreateKey", Alias=f"det-{i:02d}", Tags=tags).KeyId)
    external = call(kms, "CreateKey", Alias="ext-key", Type=2).KeyId
    call(kms, "DisableKey", KeyId=ids[0])
    call(kms, "DisableKey", KeyId=ids[1])
    call(kms, "ScheduleKeyDeletion", KeyId=ids[1], PendingWindowInDays=7)
    call(kms, "ArchiveKey", KeyId=ids[2])
    return kms, ids, external


def test_list_keys_shows_enabled_disabled_and_pending_import_keys(listing):
    kms, ids, external = listing
    r = call(kms, "ListKeys", Limit=200)
    listed = [k.KeyId for k in r.Keys]
    expected = set(ids + [external]) - {ids[1], ids[2]}
    assert r.TotalCount == len(expected) == 11
    assert set(listed) == expected and len(listed) == 11


def test_list_keys_paging(listing):
    kms, ids, external = listing
    everything = [k.KeyId for k in call(kms, "ListKeys", Limit=200).Keys]
    first = call(kms, "ListKeys")
    assert ([k.KeyId for k in first.Keys], first.TotalCount) == (everything[:10], 11), "Limit defaults to 10"
    assert [k.KeyId for k in call(kms, "ListKeys", Limit=0).Keys] == everything[:10]
    pages = [call(kms, "ListKeys", Offset=o, Limit=4) for o in (0, 4, 8)]
    assert [k.KeyId for p in pages for k in p.Keys] == everything, "pages partition the listing"
    assert {p.TotalCount for p in pages} == {11}
    past = call(kms, "ListKeys", Offset=11, Limit=5)
    assert (past.Keys, past.TotalCount) == ([], 11)
    assert call(kms, "ListKeys", Offset=10).Keys[0].KeyId == everything[10]


def test_list_keys_role_and_cluster(listing):
    kms, ids, external = listing
    r = call(kms, "ListKeys", Role=1)
    assert (r.TotalCount, r.Keys) == (0, []), "no keys were created by cloud products"
    assert call(kms, "ListKeys", Role=0).TotalCount == 11
    assert call(kms, "ListKeys", HsmClusterId="default").TotalCount == 11
    assert call(kms, "ListKeys", HsmClusterId="").TotalCount == 11
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "ListKeys", HsmClusterId="cls-1")


def test_list_keys_bad_input(listing):
    kms, _, _ = listing
    expect_error("InvalidParameterValue", kms, "ListKeys", Limit=201)
    expect_error("InvalidParameterValue", kms, "ListKeys", Role=2)
    expect_error("InvalidParameter", kms, "ListKeys", Limit="5")
    expect_error("InvalidParameter", kms, "ListKeys", Offset="0")
    expect_error("InvalidParameter", kms, "ListKeys", Limit=2.5)


def test_list_keys_in_an_empty_region(server):
    r = call(server.client(region="ap-bangkok"), "ListKeys")
    assert (r.TotalCount, r.Keys) == (0, [])


def detail(kms, **filters):
    r = call(kms, "ListKeyDetail", Limit=200, **filters)
    return r.TotalCount, [m.KeyId for m in r.KeyMetadatas]


def test_list_key_detail_key_state_filter(listing):
    kms, ids, external = listing
    everything = set(ids + [external])
    total, keys = detail(kms)
    assert total == 13 and set(keys) == everything, "KeyState 0 (the default) lists every state"
    assert detail(kms, KeyState=0)[0] == 13
    assert set(detail(kms, KeyState=1)[1]) == set(ids[3:])
    assert detail(kms, KeyState=2) == (1, [ids[0]])
    assert detail(kms, KeyState=3) == (1, [ids[1]])
    assert detail(kms, KeyState=4) == (1, [external])
    assert detail(kms, KeyState=5) == (1, [ids[2]])


def test_list_key_detail_order(listing):
    kms, ids, external = listing
    assert detail(kms, OrderType=1)[1] == ids + [external], "1: oldest first"
    assert detail(kms, OrderType=0)[1] == list(reversed(ids + [external])), "0: newest first"
    assert detail(kms)[1] == list(reversed(ids + [external])), "newest first by default"


def test_list_key_detail_search(listing):
    kms, ids, external = listing
    assert detail(kms, SearchKeyAlias="det-03") == (1, [ids[3]])
    assert set(detail(kms, SearchKeyAlias="det-0")[1]) == set(ids[:10]), "substring of the alias"
    assert detail(kms, SearchKeyAlias="t-1", OrderType=1)[1] == ids[10:]
    assert detail(kms, SearchKeyAlias=ids[4][-12:]) == (1, [ids[4]]), "or of the key id"
    assert detail(kms, SearchKeyAlias="nothing-like-this") == (0, [])
    assert detail(kms, SearchKeyAlias="")[0] == 13


def test_list_key_detail_origin_and_usage(listing):
    kms, ids, external = listing
    assert detail(kms, Origin="EXTERNAL") == (1, [external])
    assert set(detail(kms, Origin="TENCENT_KMS")[1]) == set(ids)
    assert detail(kms, Origin="ALL")[0] == 13
    assert detail(kms, Origin="")[0] == 13
    assert detail(kms, KeyUsage="ALL")[0] == 13
    assert detail(kms, KeyUsage="ENCRYPT_DECRYPT")[0] == 13
    assert detail(kms, KeyUsage="")[0] == 13, "empty means ENCRYPT_DECRYPT"
    for usage in ASYMMETRIC_USAGES:
        assert detail(kms, KeyUsage=usage) == (0, []), usage


def test_list_key_detail_tag_filters(listing):
    kms, ids, external = listing
    team_a = {ids[i] for i in range(12) if i % 2}
    assert set(detail(kms, TagFilters=[{"TagKey": "team", "TagValue": ["a"]}])[1]) == team_a
    assert set(detail(kms, TagFilters=[{"TagKey": "team"}])[1]) == set(ids), "a key alone: any value"
    assert set(detail(kms, TagFilters=[{"TagKey": "team", "TagValue": ["a", "b"]}])[1]) == set(ids), "values are ORed"
    both = [{"TagKey": "team", "TagValue": ["a"]}, {"TagKey": "env", "TagValue": ["prod"]}]
    assert set(detail(kms, TagFilters=both)[1]) == {ids[1], ids[3]}, "filters are ANDed"
    assert detail(kms, TagFilters=[{"TagKey": "team", "TagValue": ["c"]}]) == (0, [])
    assert detail(kms, TagFilters=[{"TagKey": "absent"}]) == (0, [])
    combined = detail(kms, TagFilters=[{"TagKey": "env"}], KeyState=1)
    assert combined == (1, [ids[3]]), "tag and state filters combine"


def test_list_key_detail_paging(listing):
    kms, ids, external = listing
    page = call(kms, "ListKeyDetail", Offset=2, Limit=3, OrderType=1)
    assert (page.TotalCount, [m.KeyId for m in page.KeyMetadatas]) == (13, ids[2:5])
    first = call(kms, "ListKeyDetail")
    assert (first.TotalCount, len(first.KeyMetadatas)) == (13, 10), "Limit defaults to 10"
    past = call(kms, "ListKeyDetail", Offset=13)
    assert (past.TotalCount, past.KeyMetadatas) == (13, [])
    filtered = call(kms, "ListKeyDetail", KeyState=1, Offset=8, Limit=5)
    assert (filtered.TotalCount, len(filtered.KeyMetadatas)) == (9, 1), "TotalCount counts the filtered set"


def test_list_key_detail_metadata_matches_describe_key(listing):
    kms, ids, external = listing
    listed = {m.KeyId: m for m in call(kms, "ListKeyDetail", Limit=200).KeyMetadatas}
    for key_id in (ids[0], ids[1], ids[2], ids[5], external):
        assert listed[key_id]._serialize() == meta(kms, key_id)._serialize()


def test_list_key_detail_role_and_cluster(listing):
    kms, _, _ = listing
    assert detail(kms, Role=1) == (0, [])
    assert detail(kms, HsmClusterId="default")[0] == 13
    expect_error("InvalidParameterValue.InvalidHsmClusterId", kms, "ListKeyDetail", HsmClusterId="cls-1")


def test_list_key_detail_bad_input(server, listing):
    kms, _, _ = listing
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", KeyState=6)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", OrderType=2)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", Limit=201)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", Role=2)
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", Origin="external")  # Origin is case-sensitive
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", Origin="OTHER")
    expect_error("InvalidParameterValue.InvalidKeyUsage", kms, "ListKeyDetail", KeyUsage="NOPE")
    expect_error("InvalidParameterValue", kms, "ListKeyDetail", SearchKeyAlias="s" * 129)
    expect_error("InvalidParameter", kms, "ListKeyDetail", KeyState="1")
    body = {"TagFilters": [{"TagKey": "team", "TagValue": "a"}]}
    assert raw_error(server, "ListKeyDetail", body, region=LISTING_REGION) == "InvalidParameter"
    assert raw_error(server, "ListKeyDetail", {"TagFilters": {"TagKey": "team"}}, region=LISTING_REGION) == "InvalidParameter"


# ==== EnableKey / DisableKey ====

def test_disable_and_enable(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"kept")
    call(kms, "DisableKey", KeyId=key_id)
    assert state(kms, key_id) == "Disabled"
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Decrypt", CiphertextBlob=blob)
    call(kms, "EnableKey", KeyId=key_id)
    assert state(kms, key_id) == "Enabled"
    assert decrypt(kms, blob) == b"kept"


def test_enable_and_disable_are_idempotent(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKey", KeyId=key_id)
    assert state(kms, key_id) == "Enabled"
    call(kms, "DisableKey", KeyId=key_id)
    call(kms, "DisableKey", KeyId=key_id)
    assert state(kms, key_id) == "Disabled"


@pytest.mark.parametrize("start", ["PendingDelete", "Archived", "PendingImport"])
@pytest.mark.parametrize("action", ["EnableKey", "DisableKey"])
def test_enable_disable_refused_outside_enabled_and_disabled(kms, start, action):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, action, KeyId=key_id)
    assert state(kms, key_id) == start


@pytest.mark.parametrize("action", ["EnableKey", "DisableKey"])
def test_enable_disable_bad_ids(server, kms, action):
    expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=MISSING_ID)
    expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=create_key(server.client(region="ap-shanghai")).KeyId)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, action, KeyId="x")
    expect_error("MissingParameter", kms, action)
    expect_error("InvalidParameter", kms, action, KeyId=1)


# ==== EnableKeys / DisableKeys ====

def test_batch_disable_and_enable(kms):
    a, b, c = create_key(kms).KeyId, create_key(kms).KeyId, disabled_key(kms)
    call(kms, "DisableKeys", KeyIds=[a, b, c])
    assert [state(kms, k) for k in (a, b, c)] == ["Disabled"] * 3, "already-disabled keys are fine"
    call(kms, "EnableKeys", KeyIds=[a, b])
    assert [state(kms, k) for k in (a, b, c)] == ["Enabled", "Enabled", "Disabled"]
    call(kms, "EnableKeys", KeyIds=[a, c])
    assert [state(kms, k) for k in (a, b, c)] == ["Enabled"] * 3


@pytest.mark.parametrize("bad", ["PendingDelete", "Archived", "PendingImport"])
def test_batch_is_all_or_nothing_on_state(kms, bad):
    enabled, disabled = create_key(kms).KeyId, disabled_key(kms)
    culprit = KEY_IN_STATE[bad](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "DisableKeys", KeyIds=[enabled, culprit])
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKeys", KeyIds=[disabled, culprit])
    assert (state(kms, enabled), state(kms, disabled), state(kms, culprit)) == ("Enabled", "Disabled", bad)


def test_batch_is_all_or_nothing_on_bad_ids(server, kms):
    enabled, disabled = create_key(kms).KeyId, disabled_key(kms)
    foreign = create_key(server.client(region="ap-shanghai")).KeyId
    expect_error("ResourceUnavailable.CmkNotFound", kms, "DisableKeys", KeyIds=[enabled, MISSING_ID])
    expect_error("ResourceUnavailable.CmkNotFound", kms, "EnableKeys", KeyIds=[disabled, foreign])
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DisableKeys", KeyIds=[enabled, "nope"])
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "EnableKeys", KeyIds=[disabled, disabled])
    expect_error("InvalidParameterValue.DuplicatedKeyId", kms, "DisableKeys", KeyIds=[enabled, enabled])
    assert (state(kms, enabled), state(kms, disabled)) == ("Enabled", "Disabled")


@pytest.mark.parametrize("action", ["EnableKeys", "DisableKeys"])
def test_batch_list_limits(server, kms, action):
    expect_error("InvalidParameterValue", kms, action, KeyIds=[str(uuid.uuid4()) for _ in range(101)])
    expect_error("InvalidParameterValue", kms, action, KeyIds=[])
    expect_error("MissingParameter", kms, action)
    assert raw_error(server, action, {"KeyIds": MISSING_ID}) == "InvalidParameter"
    assert raw_error(server, action, {"KeyIds": [7]}) == "InvalidParameter"


def test_batch_takes_100_ids(kms):
    ids = [create_key(kms).KeyId for _ in range(100)]
    call(kms, "DisableKeys", KeyIds=ids)
    assert {m.KeyState for m in call(kms, "DescribeKeys", KeyIds=ids).KeyMetadatas} == {"Disabled"}
    call(kms, "EnableKeys", KeyIds=ids)
    assert {m.KeyState for m in call(kms, "DescribeKeys", KeyIds=ids).KeyMetadatas} == {"Enabled"}


# ==== UpdateAlias ====

def test_update_alias(kms):
    key = create_key(kms)
    new = unique_alias("renamed")
    assert call(kms, "UpdateAlias", KeyId=key.KeyId, Alias=new).RequestId
    assert meta(kms, key.KeyId).Alias == new
    assert call(kms, "CreateKey", Alias=key.Alias).Alias == key.Alias, "the old alias is free again"
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=new)


@pytest.mark.parametrize("start", ["Disabled", "Archived", "PendingImport"])
def test_update_alias_in_other_states(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    new = unique_alias()
    call(kms, "UpdateAlias", KeyId=key_id, Alias=new)
    m = meta(kms, key_id)
    assert (m.Alias, m.KeyState) == (new, start)


def test_update_alias_refused_while_pending_deletion(kms):
    key_id = pending_delete_key(kms)
    old = meta(kms, key_id).Alias
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "UpdateAlias", KeyId=key_id, Alias=unique_alias())
    assert meta(kms, key_id).Alias == old


def test_update_alias_to_a_taken_alias(server, kms):
    key_id = create_key(kms).KeyId
    taken = create_key(kms).Alias
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "UpdateAlias", KeyId=key_id, Alias=taken)
    shanghai_alias = create_key(server.client(region="ap-shanghai")).Alias
    call(kms, "UpdateAlias", KeyId=key_id, Alias=shanghai_alias)
    assert meta(kms, key_id).Alias == shanghai_alias, "aliases are unique per region only"


@pytest.mark.parametrize("alias", ["", "-a", "a b", "kms-x", "x" * 61, "名字"])
def test_update_alias_invalid(kms, alias):
    key = create_key(kms)
    expect_error("InvalidParameterValue.InvalidAlias", kms, "UpdateAlias", KeyId=key.KeyId, Alias=alias)
    assert meta(kms, key.KeyId).Alias == key.Alias


def test_update_alias_bad_input(kms):
    key_id = create_key(kms).KeyId
    expect_error("MissingParameter", kms, "UpdateAlias", KeyId=key_id)
    expect_error("MissingParameter", kms, "UpdateAlias", Alias=unique_alias())
    expect_error("InvalidParameter", kms, "UpdateAlias", KeyId=key_id, Alias=1)
    expect_error("ResourceUnavailable.CmkNotFound", kms, "UpdateAlias", KeyId=MISSING_ID, Alias=unique_alias())
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "UpdateAlias", KeyId="bad", Alias=unique_alias())


# ==== UpdateKeyDescription ====

def test_update_description(kms):
    key_id = create_key(kms, Description="before").KeyId
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="after")
    assert meta(kms, key_id).Description == "after"
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="")
    assert meta(kms, key_id).Description == ""
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="d" * 1024)
    assert meta(kms, key_id).Description == "d" * 1024
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description="说明 ✓")
    assert meta(kms, key_id).Description == "说明 ✓"


@pytest.mark.parametrize("start", ["Disabled", "Archived", "PendingImport"])
def test_update_description_in_other_states(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    call(kms, "UpdateKeyDescription", KeyId=key_id, Description=start)
    assert (meta(kms, key_id).Description, state(kms, key_id)) == (start, start)


def test_update_description_refused_while_pending_deletion(kms):
    key_id = pending_delete_key(kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "UpdateKeyDescription", KeyId=key_id, Description="x")
    assert meta(kms, key_id).Description == ""


def test_update_description_bad_input(kms):
    key_id = create_key(kms, Description="kept").KeyId
    expect_error("InvalidParameterValue", kms, "UpdateKeyDescription", KeyId=key_id, Description="x" * 1025)
    expect_error("InvalidParameterValue", kms, "UpdateKeyDescription", KeyId=key_id, Description="密" * 342)
    expect_error("MissingParameter", kms, "UpdateKeyDescription", KeyId=key_id)
    expect_error("InvalidParameter", kms, "UpdateKeyDescription", KeyId=key_id, Description=7)
    assert meta(kms, key_id).Description == "kept"
    expect_error("ResourceUnavailable.CmkNotFound", kms, "UpdateKeyDescription", KeyId=MISSING_ID, Description="x")
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "UpdateKeyDescription", KeyId="bad", Description="x")


# ==== ScheduleKeyDeletion ====

@pytest.mark.parametrize("days", [7, 30])
def test_schedule_deletion(kms, days):
    key_id = disabled_key(kms)
    r = call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=days)
    assert r.KeyId == key_id
    assert near(r.DeletionDate, time.time() + days * DAY)
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == ("PendingDelete", r.DeletionDate)


def test_schedule_deletion_of_a_key_awaiting_import(kms):
    key_id = external_key(kms)
    r = call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=10)
    assert near(r.DeletionDate, time.time() + 10 * DAY)
    assert state(kms, key_id) == "PendingDelete"


@pytest.mark.parametrize("start", ["Enabled", "Archived"])
def test_schedule_deletion_requires_a_disabled_key(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkShouldBeDisabled", kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == (start, 0)


def test_schedule_deletion_twice(kms):
    key_id = pending_delete_key(kms)
    date = meta(kms, key_id).DeletionDate
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=30)
    assert meta(kms, key_id).DeletionDate == date, "the first schedule stands"


@pytest.mark.parametrize("days", [0, 1, 6, 31, 365, 2**32])
def test_schedule_deletion_window_out_of_range(kms, days):
    key_id = disabled_key(kms)
    expect_error("InvalidParameter.InvalidPendingWindowInDays", kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=days)
    assert state(kms, key_id) == "Disabled"


def test_schedule_deletion_bad_input(kms):
    key_id = disabled_key(kms)
    expect_error("MissingParameter", kms, "ScheduleKeyDeletion", KeyId=key_id)
    expect_error("MissingParameter", kms, "ScheduleKeyDeletion", PendingWindowInDays=7)
    expect_error("InvalidParameter", kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays="7")
    expect_error("ResourceUnavailable.CmkNotFound", kms, "ScheduleKeyDeletion", KeyId=MISSING_ID, PendingWindowInDays=7)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "ScheduleKeyDeletion", KeyId="bad", PendingWindowInDays=7)
    assert state(kms, key_id) == "Disabled"


# ==== CancelKeyDeletion ====

def test_cancel_deletion_returns_the_key_disabled(kms):
    key_id = pending_delete_key(kms)
    assert call(kms, "CancelKeyDeletion", KeyId=key_id).KeyId == key_id
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == ("Disabled", 0)
    call(kms, "EnableKey", KeyId=key_id)
    assert decrypt(kms, encrypt(kms, key_id, b"back")) == b"back"


def test_cancel_deletion_of_an_external_key_returns_it_to_pending_import(kms):
    key_id = external_key(kms)
    call(kms, "ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    call(kms, "CancelKeyDeletion", KeyId=key_id)
    m = meta(kms, key_id)
    assert (m.KeyState, m.DeletionDate) == ("PendingImport", 0)


@pytest.mark.parametrize("start", ["Enabled", "Disabled", "Archived", "PendingImport"])
def test_cancel_deletion_of_a_key_not_pending_deletion(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkNotPendingDelete", kms, "CancelKeyDeletion", KeyId=key_id)
    assert state(kms, key_id) == start


def test_cancel_deletion_twice(kms):
    key_id = pending_delete_key(kms)
    call(kms, "CancelKeyDeletion", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkNotPendingDelete", kms, "CancelKeyDeletion", KeyId=key_id)


def test_cancel_deletion_bad_ids(kms):
    expect_error("ResourceUnavailable.CmkNotFound", kms, "CancelKeyDeletion", KeyId=MISSING_ID)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "CancelKeyDeletion", KeyId="bad")
    expect_error("MissingParameter", kms, "CancelKeyDeletion")


# ==== ArchiveKey / CancelKeyArchive ====

def test_archived_key_decrypts_but_does_not_encrypt(kms):
    key_id = create_key(kms).KeyId
    blob = encrypt(kms, key_id, b"before archive")
    call(kms, "ArchiveKey", KeyId=key_id)
    assert state(kms, key_id) == "Archived"
    assert decrypt(kms, blob) == b"before archive"
    expect_error("ResourceUnavailable.CmkArchived", kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"new"))
    expect_error("ResourceUnavailable.CmkArchived", kms, "GenerateDataKey", KeyId=key_id, KeySpec="AES_256")


def test_cancel_archive_restores_encryption(kms):
    key_id = archived_key(kms)
    call(kms, "CancelKeyArchive", KeyId=key_id)
    assert state(kms, key_id) == "Enabled"
    assert decrypt(kms, encrypt(kms, key_id, b"again")) == b"again"


@pytest.mark.parametrize("start", ["Disabled", "PendingDelete", "PendingImport", "Archived"])
def test_archive_requires_an_enabled_key(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "ArchiveKey", KeyId=key_id)
    assert state(kms, key_id) == start


@pytest.mark.parametrize("start", ["Enabled", "Disabled", "PendingDelete", "PendingImport"])
def test_cancel_archive_requires_an_archived_key(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "CancelKeyArchive", KeyId=key_id)
    assert state(kms, key_id) == start


@pytest.mark.parametrize("action", ["ArchiveKey", "CancelKeyArchive"])
def test_archive_bad_ids(kms, action):
    expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=MISSING_ID)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, action, KeyId="bad")
    expect_error("MissingParameter", kms, action)


# ==== EnableKeyRotation / DisableKeyRotation / GetKeyRotationStatus ====

def test_enable_rotation_defaults_to_365_days(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id)
    m = meta(kms, key_id)
    assert (m.KeyRotationEnabled, m.RotateDays) == (True, 365)
    assert near(m.NextRotateTime, time.time() + 365 * DAY)
    assert m.LastRotateTime == 0, "enabling rotation does not rotate"
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is True


@pytest.mark.parametrize("days", [7, 90, 365])
def test_enable_rotation_with_a_period(kms, days):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=days)
    m = meta(kms, key_id)
    assert m.RotateDays == days and near(m.NextRotateTime, time.time() + days * DAY)


def test_enable_rotation_again_changes_the_period(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=30)
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=10)
    m = meta(kms, key_id)
    assert m.RotateDays == 10 and near(m.NextRotateTime, time.time() + 10 * DAY)


@pytest.mark.parametrize("days", [0, 1, 6, 366, 1000])
def test_enable_rotation_period_out_of_range(kms, days):
    key_id = create_key(kms).KeyId
    expect_error("InvalidParameterValue", kms, "EnableKeyRotation", KeyId=key_id, RotateDays=days)
    assert meta(kms, key_id).KeyRotationEnabled is False


@pytest.mark.parametrize("start", ["Disabled", "PendingDelete", "Archived"])
def test_enable_rotation_requires_an_enabled_key(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "EnableKeyRotation", KeyId=key_id)
    assert meta(kms, key_id).KeyRotationEnabled is False


def test_external_keys_cannot_rotate(kms):
    key_id = external_key(kms)
    for action in ("EnableKeyRotation", "RotateKey"):
        expect_error("UnsupportedOperation.ExternalCmkCanNotRotate", kms, action, KeyId=key_id)
    # Turning rotation off is always allowed (the vendor lists no state or origin error for it).
    call(kms, "DisableKeyRotation", KeyId=key_id)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is False


def test_disable_rotation(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=30)
    call(kms, "DisableKeyRotation", KeyId=key_id)
    m = meta(kms, key_id)
    assert (m.KeyRotationEnabled, m.NextRotateTime) == (False, 0)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is False
    call(kms, "DisableKeyRotation", KeyId=key_id)
    assert meta(kms, key_id).KeyRotationEnabled is False, "disabling twice is harmless"


def test_rotation_status_survives_disabling_the_key(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id)
    call(kms, "DisableKey", KeyId=key_id)
    assert call(kms, "GetKeyRotationStatus", KeyId=key_id).KeyRotationEnabled is True


@pytest.mark.parametrize("action", ["EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus"])
def test_rotation_settings_bad_ids(server, kms, action):
    expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=MISSING_ID)
    expect_error("ResourceUnavailable.CmkNotFound", kms, action, KeyId=create_key(server.client(region="ap-shanghai")).KeyId)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, action, KeyId="bad")
    expect_error("MissingParameter", kms, action)


def test_enable_rotation_bad_period_type(kms):
    expect_error("InvalidParameter", kms, "EnableKeyRotation", KeyId=create_key(kms).KeyId, RotateDays="30")


# ==== RotateKey ====

def test_rotate_key_keeps_old_ciphertexts_readable(kms):
    key_id = create_key(kms).KeyId
    v1 = encrypt(kms, key_id, b"v1")
    r = call(kms, "RotateKey", KeyId=key_id)
    assert isinstance(r.TaskId, str) and r.TaskId
    v2 = encrypt(kms, key_id, b"v2")
    call(kms, "RotateKey", KeyId=key_id)
    v3 = encrypt(kms, key_id, b"v3")
    assert [decrypt(kms, b) for b in (v1, v2, v3)] == [b"v1", b"v2", b"v3"]
    m = meta(kms, key_id)
    assert near(m.LastRotateTime, time.time()) and m.KeyState == "Enabled"


def test_re_encrypt_moves_old_ciphertexts_to_the_new_version(kms):
    key_id = create_key(kms).KeyId
    old = encrypt(kms, key_id, b"old")
    call(kms, "RotateKey", KeyId=key_id)
    r = call(kms, "ReEncrypt", CiphertextBlob=old)
    assert (r.ReEncrypted, r.KeyId, r.SourceKeyId) == (True, key_id, key_id)
    assert r.CiphertextBlob != old and decrypt(kms, r.CiphertextBlob) == b"old"


def test_rotate_key_restarts_the_schedule(kms):
    key_id = create_key(kms).KeyId
    call(kms, "EnableKeyRotation", KeyId=key_id, RotateDays=7)
    call(kms, "RotateKey", KeyId=key_id)
    m = meta(kms, key_id)
    assert m.KeyRotationEnabled is True
    assert near(m.NextRotateTime, m.LastRotateTime + 7 * DAY, slack=0)


@pytest.mark.parametrize("start", ["Disabled", "PendingDelete", "Archived"])
def test_rotate_key_requires_an_enabled_key(kms, start):
    key_id = KEY_IN_STATE[start](kms)
    expect_error("ResourceUnavailable.CmkStateNotSupport", kms, "RotateKey", KeyId=key_id)
    assert meta(kms, key_id).LastRotateTime == 0


def test_rotate_key_bad_ids(kms):
    expect_error("ResourceUnavailable.CmkNotFound", kms, "RotateKey", KeyId=MISSING_ID)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "RotateKey", KeyId="bad")
    expect_error("MissingParameter", kms, "RotateKey")


# ==== negative integers ====

def test_negative_integers_are_type_errors(kms):
    """The vendor's fields are unsigned (uint64 in the spec): a negative number does not parse as
    one, so it is a type error (InvalidParameter), like a string where a number belongs."""
    expect_error("InvalidParameter", kms, "CreateKey", Alias=unique_alias(), Type=-1)
    expect_error("InvalidParameter", kms, "ListKeys", Limit=-1)
    expect_error("InvalidParameter", kms, "ListKeyDetail", Offset=-1)
    expect_error("InvalidParameter", kms, "ScheduleKeyDeletion", KeyId=disabled_key(kms), PendingWindowInDays=-7)
    expect_error("InvalidParameter", kms, "EnableKeyRotation", KeyId=create_key(kms).KeyId, RotateDays=-30)


# ==== GetServiceStatus ====

def test_service_status_counts_the_regions_keys(server):
    kms = server.client(region="ap-hongkong")
    s = call(kms, "GetServiceStatus")
    assert (s.ServiceEnabled, s.InvalidType, s.CmkUserCount) == (True, 1, 0)
    create_key(kms)
    create_key(kms, Type=2)
    s = call(kms, "GetServiceStatus")
    assert s.CmkUserCount == 2
    assert s.CmkLimit >= s.CmkUserCount
    assert call(server.client(region="ap-singapore"), "GetServiceStatus").CmkUserCount == 0, "per region"


def test_service_status_takes_no_parameters(server):
    assert raw_error(server, "GetServiceStatus", {"Verbose": True}) == "UnknownParameter"


# ==== GetRegions (ListAlgorithms: test_algorithms.py) ====

def test_get_regions(server, kms):
    regions = call(kms, "GetRegions").Regions
    assert {"ap-guangzhou", "ap-shanghai", "ap-beijing"} <= set(regions)
    assert len(regions) == len(set(regions)) and all(isinstance(r, str) and r for r in regions)
    for region in regions:
        assert call(server.client(region=region), "GetServiceStatus").ServiceEnabled is True, region


def test_unlisted_region_is_refused(server):
    expect_error("UnsupportedRegion", server.client(region="xx-nowhere"), "GetRegions")
