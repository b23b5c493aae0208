"""Huawei key tags, user instances, quotas and regions through the vendor's SDK (huaweicloudsdkkms)."""

import threading
import uuid

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkkms.v2 import model as m

from conftest import KmsdProcess, call, create_key
from huawei import alias, expect, huawei_client, new_key


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


def uid():
    return uuid.uuid4().hex[:12]


def add(hw, key_id, key, value=""):
    return hw.create_kms_tag(m.CreateKmsTagRequest(
        key_id=key_id, body=m.CreateKmsTagRequestBody(tag=m.TagItem(key=key, value=value))))


def batch(hw, key_id, action, tags):
    items = [m.TagItem(key=k, value=v) for k, v in tags]
    return hw.batch_create_kms_tags(m.BatchCreateKmsTagsRequest(
        key_id=key_id, body=m.BatchCreateKmsTagsRequestBody(tags=items, action=action)))


def shown(hw, key_id):
    r = hw.show_kms_tags(m.ShowKmsTagsRequest(key_id=key_id))
    tags = {t.key: t.value for t in r.tags}
    assert r.exist_tags_num == len(tags) == len(r.tags)
    return tags


def by_tags(hw, **body):
    return hw.list_kms_by_tags(m.ListKmsByTagsRequest(
        resource_instances="resource_instances", body=m.ListKmsByTagsRequestBody(**body)))


def tag_filter(key, *values):
    return m.Tag(key=key, values=list(values))


def ids(resp):
    return [r.resource_id for r in resp.resources]


def test_add_show_replace_and_delete_one_tag(hw):
    key_id = new_key(hw)
    assert shown(hw, key_id) == {}
    assert add(hw, key_id, "env", "dev").status_code == 204
    add(hw, key_id, "环境 x:y", "值-1 ~!")
    assert shown(hw, key_id) == {"env": "dev", "环境 x:y": "值-1 ~!"}
    add(hw, key_id, "env", "prod")
    assert shown(hw, key_id) == {"env": "prod", "环境 x:y": "值-1 ~!"}, "a known key takes the new value"
    add(hw, key_id, "empty")
    assert shown(hw, key_id)["empty"] == ""

    deleted = hw.delete_tag(m.DeleteTagRequest(key_id=key_id, key="环境 x:y"))
    assert deleted.status_code == 204
    assert shown(hw, key_id) == {"env": "prod", "empty": ""}
    expect(404, "KMS.0416", hw.delete_tag, m.DeleteTagRequest(key_id=key_id, key="环境 x:y"))
    expect(404, "KMS.0416", hw.delete_tag, m.DeleteTagRequest(key_id=key_id, key="Env"))
    assert shown(hw, key_id) == {"env": "prod", "empty": ""}


def test_tag_writes_answer_204_with_no_body(hw, monkeypatch):
    answers = []
    send = requests.Session.send

    def recording(session, request, **kwargs):
        r = send(session, request, **kwargs)
        answers.append((r.status_code, r.headers, r.content))
        return r

    monkeypatch.setattr(requests.Session, "send", recording)
    key_id = new_key(hw)
    add(hw, key_id, "a", "1")
    batch(hw, key_id, "create", [("b", "2")])
    batch(hw, key_id, "delete", [("b", "")])
    hw.delete_tag(m.DeleteTagRequest(key_id=key_id, key="a"))
    assert len(answers) == 5
    for status, headers, body in answers[1:]:
        assert (status, body) == (204, b"")
        assert "content-length" not in headers and "content-type" not in headers
        assert headers["x-request-id"]


def test_batch_create_and_delete(hw):
    key_id = new_key(hw)
    assert batch(hw, key_id, "create", [("a", "1"), ("b", "2"), ("c", "3")]).status_code == 204
    assert shown(hw, key_id) == {"a": "1", "b": "2", "c": "3"}
    batch(hw, key_id, "create", [("a", "10"), ("d", "4")])
    assert shown(hw, key_id) == {"a": "10", "b": "2", "c": "3", "d": "4"}

    # A deletion with a value takes the tag only while it has that value; unknown keys pass.
    assert batch(hw, key_id, "delete", [("a", "1"), ("b", "2"), ("nope", ""), ("c", "")]).status_code == 204
    assert shown(hw, key_id) == {"a": "10", "d": "4"}
    batch(hw, key_id, "delete", [("a", ""), ("d", "4")])
    assert shown(hw, key_id) == {}


def test_batches_are_all_or_nothing(hw):
    key_id = new_key(hw)
    batch(hw, key_id, "create", [(f"k{i}", "v") for i in range(8)])
    before = shown(hw, key_id)
    expect(400, "KMS.0406", batch, hw, key_id, "create", [("x", "1"), ("bad*key", "2")])
    expect(400, "KMS.0410", batch, hw, key_id, "create", [("x", "1"), ("y", "v" * 44)])
    expect(400, "KMS.0409", batch, hw, key_id, "create", [("x", "1"), ("y", "2"), ("z", "3")])
    expect(400, "KMS.0412", batch, hw, key_id, "create", [("x", "1"), ("x", "2")])
    assert shown(hw, key_id) == before
    batch(hw, key_id, "create", [("x", "1"), ("k0", "w")])
    assert len(shown(hw, key_id)) == 9
    batch(hw, key_id, "create", [("k1", "w"), ("y", "2")])
    assert len(shown(hw, key_id)) == 10
    expect(400, "KMS.0409", add, hw, key_id, "z", "3")
    add(hw, key_id, "k2", "replaced")  # replacing a value at the limit adds nothing
    assert shown(hw, key_id)["k2"] == "replaced"


def test_tag_rules_and_errors(hw):
    key_id = new_key(hw)
    add(hw, key_id, "k" * 36, "v" * 43)
    add(hw, key_id, "键" * 36, "值" * 43)
    expect(400, "KMS.0411", add, hw, key_id, "k" * 37, "v")
    expect(400, "KMS.0410", add, hw, key_id, "k", "v" * 44)
    for bad in ["a*b", "a<b", "a>b", "a\\b", "a=b", "a\tb", "a\x01b"]:
        expect(400, "KMS.0406", add, hw, key_id, bad, "v")
        expect(400, "KMS.0405", add, hw, key_id, "k", bad)
    expect(400, "KMS.0406", add, hw, key_id, "", "v")
    expect(400, "KMS.0204", hw.create_kms_tag, m.CreateKmsTagRequest(
        key_id=key_id, body=m.CreateKmsTagRequestBody()))
    expect(400, "KMS.0401", hw.batch_create_kms_tags, m.BatchCreateKmsTagsRequest(
        key_id=key_id, body=m.BatchCreateKmsTagsRequestBody(action="create")))
    expect(400, "KMS.0401", batch, hw, key_id, "create", [])
    expect(400, "KMS.0404", batch, hw, key_id, "update", [("a", "1")])
    expect(400, "KMS.0204", hw.batch_create_kms_tags, m.BatchCreateKmsTagsRequest(
        key_id=key_id, body=m.BatchCreateKmsTagsRequestBody(tags=[m.TagItem(key="a", value="1")])))
    expect(400, "KMS.0407", batch, hw, key_id, "create", [(f"n{i}", "v") for i in range(11)])
    expect(400, "KMS.0406", batch, hw, key_id, "delete", [("", "v")])
    assert shown(hw, key_id) == {"k" * 36: "v" * 43, "键" * 36: "值" * 43}

    # Numbers where the SDK sends strings, and a tag that is not an object.
    expect(400, "KMS.0308", hw.create_kms_tag, m.CreateKmsTagRequest(
        key_id=key_id, body=m.CreateKmsTagRequestBody(tag=m.TagItem(key=123, value="v"))))
    expect(400, "KMS.0308", hw.create_kms_tag, m.CreateKmsTagRequest(
        key_id=key_id, body=m.CreateKmsTagRequestBody(tag="env=dev")))
    expect(400, "KMS.0308", hw.batch_create_kms_tags, m.BatchCreateKmsTagsRequest(
        key_id=key_id, body=m.BatchCreateKmsTagsRequestBody(tags={"key": "a"}, action="create")))

    # Keys that are malformed or not there.
    missing = str(uuid.uuid4())
    expect(400, "KMS.0205", add, hw, "not-a-key-id", "a", "1")
    expect(404, "KMS.0207", add, hw, missing, "a", "1")
    expect(404, "KMS.0207", hw.show_kms_tags, m.ShowKmsTagsRequest(key_id=missing))
    expect(404, "KMS.0207", hw.delete_tag, m.DeleteTagRequest(key_id=missing, key="a"))
    expect(400, "KMS.0205", batch, hw, "x" * 36, "create", [("a", "1")])


def test_project_tags_list_each_key_with_its_values(hw):
    team, env = f"team-{uid()}", f"env-{uid()}"
    a, b = new_key(hw), new_key(hw)
    batch(hw, a, "create", [(team, "blue"), (env, "")])
    batch(hw, b, "create", [(team, "alpha"), (env, "")])
    add(hw, b, team, "zeta")  # b's value replaced: "alpha" is carried by no key any more
    listed = {t.key: t.values for t in hw.list_kms_tags(m.ListKmsTagsRequest()).tags}
    assert listed[team] == ["blue", "zeta"]
    assert listed[env] == [""]
    hw.delete_tag(m.DeleteTagRequest(key_id=a, key=team))
    listed = {t.key: t.values for t in hw.list_kms_tags(m.ListKmsTagsRequest()).tags}
    assert listed[team] == ["zeta"]


@pytest.fixture(scope="module")
def tagged(hw):
    """Five keys with tags of this module's own: team a, b, c, a, (none), and env on two."""
    team, env, prefix = f"team-{uid()}", f"env-{uid()}", f"tagged-{uid()}"
    keys = []
    for i, value in enumerate(["a", "b", "c", "a", None]):
        key_alias = f"{prefix}-{i}"
        key_id = new_key(hw, key_alias=key_alias)
        if value is not None:
            add(hw, key_id, team, value)
        if i in (0, 1):
            add(hw, key_id, env, "prod")
        keys.append((key_id, key_alias))
    return team, env, prefix, keys


def test_list_and_count_by_tags(hw, tagged):
    team, env, prefix, keys = tagged
    key_ids = [k for k, _ in keys]

    r = by_tags(hw, action="filter", tags=[tag_filter(team, "a")])
    assert ids(r) == [key_ids[0], key_ids[3]] and r.total_count == 2
    first = r.resources[0]
    assert first.resource_name == keys[0][1]
    assert first.resource_detail.key_id == key_ids[0]
    assert first.resource_detail.key_alias == keys[0][1]
    assert first.resource_detail.key_state == "2"
    assert {(t.key, t.value) for t in first.tags} == {(team, "a"), (env, "prod")}

    # Several values of one tag key: any of them; several tag keys: all of them.
    assert ids(by_tags(hw, action="filter", tags=[tag_filter(team, "a", "b")])) == key_ids[:2] + [key_ids[3]]
    assert ids(by_tags(hw, action="filter", tags=[tag_filter(team)])) == key_ids[:4]
    assert ids(by_tags(hw, action="filter", tags=[tag_filter(team, "a", "b"), tag_filter(env, "prod")])) == key_ids[:2]
    assert ids(by_tags(hw, action="filter", tags=[tag_filter(team, "nope")])) == []

    # Count agrees with filter's total and pages nothing.
    for tags in ([tag_filter(team)], [tag_filter(team, "a", "c")], [tag_filter(env)]):
        filtered = by_tags(hw, action="filter", tags=tags)
        counted = by_tags(hw, action="count", tags=tags)
        assert counted.total_count == filtered.total_count == len(filtered.resources)
        assert counted.resources == []

    # matches searches key names.
    r = by_tags(hw, action="filter", matches=[m.TagItem(key="resource_name", value=prefix)])
    assert ids(r) == key_ids
    r = by_tags(hw, action="filter", matches=[m.TagItem(key="resource_name", value=keys[2][1])],
                tags=[tag_filter(team)])
    assert ids(r) == [key_ids[2]]
    r = by_tags(hw, action="count", matches=[m.TagItem(key="resource_name", value=prefix)],
                tags=[tag_filter(env, "prod")])
    assert r.total_count == 2


def test_list_by_tags_pages(hw, tagged):
    _, _, prefix, keys = tagged
    key_ids = [k for k, _ in keys]
    name = [m.TagItem(key="resource_name", value=prefix)]
    seen = []
    for offset in ("0", "2", "4"):
        r = by_tags(hw, action="filter", matches=name, limit="2", offset=offset)
        assert r.total_count == 5
        assert len(r.resources) <= 2
        seen += ids(r)
    assert seen == key_ids, "pages cover every key once, oldest first"
    assert ids(by_tags(hw, action="filter", matches=name, offset="5")) == []
    assert len(by_tags(hw, action="filter", matches=name, limit="1000").resources) == 5
    default = by_tags(hw, action="filter")
    assert len(default.resources) == min(10, default.total_count), "the vendor's default page is 10"


def test_list_by_tags_errors(hw, tagged):
    team = tagged[0]

    def refused(code, **body):
        expect(400, code, lambda: by_tags(hw, **body))

    refused("KMS.0204")
    refused("KMS.0404", action="list")
    for limit in ("0", "1001", "-1", "ten"):
        refused("KMS.1601", action="filter", limit=limit)
    for offset in ("-1", "x"):
        refused("KMS.0417", action="filter", offset=offset)
    refused("KMS.0418", action="count", offset="1")
    refused("KMS.0403", action="filter", matches=[m.TagItem(key="key_alias", value="x")])
    refused("KMS.0402", action="filter", matches=[m.TagItem(key="resource_name", value="")])
    refused("KMS.0402", action="filter",
            matches=[m.TagItem(key="resource_name", value="n" * 256)])
    refused("KMS.0415", action="filter",
            matches=[m.TagItem(key="resource_name", value="a"), m.TagItem(key="resource_name", value="b")])
    refused("KMS.0413", action="filter", tags=[tag_filter(team, *map(str, range(11)))])
    refused("KMS.0407", action="filter", tags=[tag_filter(f"t{i}") for i in range(11)])
    refused("KMS.0412", action="filter", tags=[tag_filter(team), tag_filter(team)])
    refused("KMS.0406", action="filter", tags=[tag_filter("", "a")])
    refused("KMS.0411", action="filter", tags=[tag_filter("k" * 37)])
    refused("KMS.0410", action="filter", tags=[tag_filter(team, "v" * 44)])
    refused("KMS.0308", action="filter", limit=10)
    refused("KMS.0308", action="filter", tags=[{"key": team, "values": "a"}])


def test_concurrent_taggers_lose_nothing(hw, server):
    """Sixteen threads tag one key at once: ten fit, the rest get the vendor's code, none is lost."""
    key_id = new_key(hw)
    results = {}

    def tag(i):
        client = huawei_client(server.endpoint)
        try:
            if i % 2:
                add(client, key_id, f"t{i}", str(i))
            else:
                batch(client, key_id, "create", [(f"t{i}", str(i))])
            results[i] = "ok"
        except ClientRequestException as e:
            results[i] = (e.status_code, e.error_code)

    threads = [threading.Thread(target=tag, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sorted(i for i, r in results.items() if r == "ok")
    refused = [r for r in results.values() if r != "ok"]
    assert len(results) == 16
    assert len(ok) == 10
    assert refused == [(400, "KMS.0409")] * 6
    assert shown(hw, key_id) == {f"t{i}": str(i) for i in ok}

    # Concurrent removals and replacements of one key's tags: the survivors are exact.
    def untag(i):
        client = huawei_client(server.endpoint)
        if i % 2:
            client.delete_tag(m.DeleteTagRequest(key_id=key_id, key=f"t{i}"))
        else:
            add(client, key_id, f"t{i}", "new")

    threads = [threading.Thread(target=untag, args=(i,)) for i in ok]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shown(hw, key_id) == {f"t{i}": "new" for i in ok if i % 2 == 0}


def test_tencent_tags_show_through_huawei(kms, hw):
    team = f"team-{uid()}"
    key_id = create_key(kms, Tags=[{"TagKey": team, "TagValue": "tc"},
                                   {"TagKey": "owner", "TagValue": "ops"}]).KeyId
    assert shown(hw, key_id) == {team: "tc", "owner": "ops"}
    assert ids(by_tags(hw, action="filter", tags=[tag_filter(team, "tc")])) == [key_id]
    assert dict((t.key, t.values) for t in hw.list_kms_tags(m.ListKmsTagsRequest()).tags)[team] == ["tc"]
    add(hw, key_id, team, "hw")
    batch(hw, key_id, "delete", [("owner", "")])
    assert shown(hw, key_id) == {team: "hw"}


def test_huawei_tags_found_by_tencent(kms, hw):
    team = f"team-{uid()}"
    key_id = new_key(hw)
    batch(hw, key_id, "create", [(team, "x"), ("env", "dev")])

    def listed(values):
        r = call(kms, "ListKeyDetail", Limit=100, TagFilters=[{"TagKey": team, "TagValue": values}])
        return [k.KeyId for k in r.KeyMetadatas]

    assert listed(["x"]) == [key_id]
    add(hw, key_id, team, "y")
    assert listed(["x"]) == []
    assert listed(["y"]) == [key_id]
    hw.delete_tag(m.DeleteTagRequest(key_id=key_id, key=team))
    assert listed(["y"]) == []


def test_user_instances_and_quotas(hw):
    def instances():
        return hw.show_user_instances(m.ShowUserInstancesRequest()).instance_num

    def cmk_quota():
        resources = hw.show_user_quotas(m.ShowUserQuotasRequest()).quotas.resources
        assert [r.type for r in resources] == ["CMK", "grant_per_CMK"]
        return resources[0].used, resources[0].quota

    before, (used, quota) = instances(), cmk_quota()
    assert quota == 200000, "the server's default key limit"
    key_id = new_key(hw)
    new_key(hw)
    assert instances() == before + 2
    assert cmk_quota() == (used + 2, quota)
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    assert instances() == before + 2, "a key pending deletion is still an instance"
    assert cmk_quota() == (used + 1, quota), "but no longer counts toward the quota"


def test_quota_is_the_configured_limit():
    proc = KmsdProcess(extra_args=["--max-keys-per-region", "3"]).start()
    try:
        client = huawei_client(proc.endpoint)
        for _ in range(3):
            new_key(client)
        r = client.show_user_quotas(m.ShowUserQuotasRequest()).quotas.resources[0]
        assert (r.type, r.used, r.quota) == ("CMK", 3, 3)
        assert client.show_user_instances(m.ShowUserInstancesRequest()).instance_num == 3
        expect(400, "KMS.1105", new_key, client)
    finally:
        proc.cleanup()


def test_regions(hw):
    regions = hw.list_support_regions(m.ListSupportRegionsRequest()).regions
    assert regions[0] == "ap-guangzhou" and "ap-shanghai" in regions and len(set(regions)) == len(regions)
    assert hw.list_support_regions(m.ListSupportRegionsRequest(limit=1, offset=0)).regions == ["ap-guangzhou"]
    assert hw.list_support_regions(m.ListSupportRegionsRequest(limit=1, offset=1)).regions == regions[1:2]
    assert hw.list_support_regions(m.ListSupportRegionsRequest(offset=len(regions))).regions == []
    expect(400, "KMS.1601", hw.list_support_regions, m.ListSupportRegionsRequest(limit="x"))


def test_regions_are_the_configured_ones_and_the_root_project_is_the_first():
    proc = KmsdProcess(extra_args=["--regions", "ap-shanghai,ap-guangzhou"]).start()
    try:
        client = huawei_client(proc.endpoint)
        assert client.list_support_regions(m.ListSupportRegionsRequest()).regions == ["ap-shanghai", "ap-guangzhou"]
        created = client.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias=alias())))
        assert created.key_info.region_id == "ap-shanghai"
        tencent = proc.client(region="ap-guangzhou")
        assert call(tencent, "ListKeys", Limit=10).TotalCount == 0, "the key lives in the root project's region"
    finally:
        proc.cleanup()
