"""Huawei KMS aliases (CreateAlias, DeleteAlias, ListAliases, AssociateAlias) through the SDK.

Aliases share one namespace per account and region with every key's own alias (Huawei's
key_alias, Tencent's one Alias): a name held either way cannot be taken the other way. Tencent
shows a key's own alias only; ListAliases shows alias resources only. Other operations take key
ids, never aliases.
"""

import json
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from huaweicloudsdkkms.v2 import model as m

from conftest import REGION, call, create_key, expect_error
from huawei import alias, describe, expect, huawei_client, new_key


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


def create(hw, key_id, name):
    return hw.create_alias(m.CreateAliasRequest(body=m.CreateAliasRequestBody(key_id=key_id, alias=name)))


def delete(hw, key_id, names):
    return hw.delete_alias(m.DeleteAliasRequest(body=m.DeleteAliasRequestBody(aliases=names, key_id=key_id)))


def associate(hw, name, target):
    return hw.associate_alias(m.AssociateAliasRequest(
        body=m.AssociateAliasRequestBody(alias=name, target_key_id=target)))


def listing(hw, key_id=None, limit=None, marker=None):
    r = hw.list_aliases(m.ListAliasesRequest(key_id=key_id, limit=limit, marker=marker))
    assert len(r.body) == 1
    return r.body[0]


def names_of(hw, key_id):
    return [a.alias for a in listing(hw, key_id).aliases]


def parse_time(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def test_create_answers_201_with_the_alias_entity(hw):
    key_id = new_key(hw)
    domain_id = describe(hw, key_id).domain_id
    name = "app:prod/" + alias()
    r = create(hw, key_id, name)
    assert r.status_code == 201
    assert (r.key_id, r.alias, r.domain_id) == (key_id, name, domain_id)
    assert r.alias_urn == f"kms:{REGION}:{domain_id}:alias:{name}"
    assert abs(parse_time(r.create_time) - time.time()) < 60
    assert r.update_time == r.create_time
    entry, = listing(hw, key_id).aliases
    assert (entry.key_id, entry.alias, entry.alias_urn, entry.create_time) == (
        key_id, name, r.alias_urn, r.create_time)
    assert describe(hw, key_id).key_alias != name, "an alias is not the key's own alias"


def test_list_pages_one_keys_aliases_in_name_order(hw):
    key_id = new_key(hw)
    other = new_key(hw)
    create(hw, other, alias())
    names = sorted(f"page-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(7))
    for n in names:
        create(hw, key_id, n)
    seen, marker, pages = [], None, 0
    while True:
        page = listing(hw, key_id, limit="3", marker=marker)
        pages += 1
        assert page.page_info.current_count == len(page.aliases) <= 3
        assert all(a.key_id == key_id for a in page.aliases)
        seen += [a.alias for a in page.aliases]
        marker = page.page_info.next_marker
        if not marker:
            break
    assert (seen, pages) == (names, 3)
    whole = listing(hw, key_id)
    assert [a.alias for a in whole.aliases] == names and not whole.page_info.next_marker
    assert listing(hw, key_id, marker="7").aliases == []
    region = listing(hw, limit="1000")
    listed = {a.alias for a in region.aliases}
    assert set(names) <= listed and len(listed) == region.page_info.current_count
    assert [a.alias for a in region.aliases] == sorted(a.alias for a in region.aliases)


def test_list_errors(hw):
    expect(400, "KMS.1601", listing, hw, None, "0")
    expect(400, "KMS.1601", listing, hw, None, "1001")
    expect(400, "KMS.1601", listing, hw, None, "ten")
    expect(400, "KMS.1602", listing, hw, None, None, "-1")
    expect(400, "KMS.1602", listing, hw, None, None, "x")
    expect(400, "KMS.0205", listing, hw, "not-a-key")
    expect(404, "KMS.0207", listing, hw, str(uuid.uuid4()))


def test_delete_answers_204_and_is_all_or_nothing(hw):
    key_id = new_key(hw)
    other = new_key(hw)
    a, b, c, elsewhere = alias(), alias(), alias(), alias()
    for n in (a, b, c):
        create(hw, key_id, n)
    create(hw, other, elsewhere)
    expect(400, "KMS.1101", delete, hw, key_id, [a, "missing-" + alias()])
    expect(400, "KMS.1101", delete, hw, key_id, [a, elsewhere])
    expect(400, "KMS.1101", delete, hw, key_id, [describe(hw, key_id).key_alias])
    assert names_of(hw, key_id) == sorted([a, b, c])
    r = delete(hw, key_id, [a, b])
    assert r.status_code == 204
    assert names_of(hw, key_id) == [c]
    assert names_of(hw, other) == [elsewhere]
    create(hw, other, a)
    assert a in names_of(hw, other), "a deleted alias's name is free again"


def test_delete_errors(hw):
    key_id = new_key(hw)
    expect(400, "KMS.0204", delete, hw, key_id, [])
    expect(400, "KMS.0204", delete, hw, key_id, None)
    expect(400, "KMS.0204", delete, hw, None, [alias()])
    expect(400, "KMS.0205", delete, hw, "not-a-key", [alias()])
    expect(404, "KMS.0207", delete, hw, str(uuid.uuid4()), [alias()])
    expect(400, "KMS.1101", delete, hw, key_id, ["bad name"])
    expect(400, "KMS.0308", delete, hw, key_id, [alias() for _ in range(51)])
    expect(400, "KMS.0308", delete, hw, key_id, "not-a-list")


def test_associate_moves_an_alias_to_another_key(hw):
    first, second = new_key(hw), new_key(hw)
    name = alias()
    created = create(hw, first, name)
    time.sleep(1.1)
    r = associate(hw, name, second)
    assert r.status_code == 200
    assert (r.key_id, r.alias, r.alias_urn) == (second, name, created.alias_urn)
    assert r.create_time == created.create_time
    assert parse_time(r.update_time) > parse_time(r.create_time)
    assert names_of(hw, first) == []
    assert names_of(hw, second) == [name]
    assert associate(hw, name, second).key_id == second, "moving to its own key is a no-op"
    assert names_of(hw, second) == [name]


def test_associate_errors(hw):
    key_id, target = new_key(hw), new_key(hw)
    name = alias()
    create(hw, key_id, name)
    expect(400, "KMS.1101", associate, hw, "missing-" + alias(), target)
    expect(400, "KMS.1101", associate, hw, describe(hw, key_id).key_alias, target)
    expect(400, "KMS.1101", associate, hw, "bad name", target)
    expect(400, "KMS.0204", associate, hw, None, target)
    expect(400, "KMS.0204", associate, hw, name, None)
    expect(400, "KMS.0205", associate, hw, name, "not-a-key")
    expect(404, "KMS.0207", associate, hw, name, str(uuid.uuid4()))
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=target, pending_days="7")))
    expect(400, "KMS.0210", associate, hw, name, target)
    assert names_of(hw, key_id) == [name], "a refused move leaves the alias where it was"


def test_create_errors_and_bad_input(hw):
    key_id = new_key(hw)
    taken = alias()
    create(hw, key_id, taken)
    expect(400, "KMS.1104", create, hw, new_key(hw), taken)
    expect(400, "KMS.1104", create, hw, key_id, taken)
    expect(400, "KMS.1104", create, hw, key_id, describe(hw, key_id).key_alias)
    for bad in ["has space", "dot.ted", "ünï", "x" * 256, "svc/default"]:
        expect(400, "KMS.1101", create, hw, key_id, bad)
    assert create(hw, key_id, "y" * 255).alias == "y" * 255
    expect(400, "KMS.0204", create, hw, key_id, None)
    expect(400, "KMS.0204", create, hw, None, alias())
    expect(400, "KMS.0205", create, hw, "not-a-key", alias())
    expect(404, "KMS.0207", create, hw, str(uuid.uuid4()), alias())
    expect(400, "KMS.0308", create, hw, 123, alias())
    expect(400, "KMS.0308", create, hw, key_id, 123)
    doomed = new_key(hw)
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=doomed, pending_days="7")))
    expect(400, "KMS.0210", create, hw, doomed, alias())


def test_a_key_holds_at_most_50_aliases(hw):
    key_id = new_key(hw)
    for i in range(50):
        create(hw, key_id, f"many-{i:02d}-{key_id}")
    expect(400, "KMS.0308", create, hw, key_id, alias())
    page = listing(hw, key_id)
    assert page.page_info.current_count == 50


def test_concurrent_creators_of_one_name_one_wins(server, hw):
    name = alias()
    keys = [new_key(hw) for _ in range(8)]
    results = [None] * len(keys)
    start = threading.Barrier(len(keys))

    def worker(i):
        client = huawei_client(server.endpoint)
        start.wait()
        try:
            create(client, keys[i], name)
            results[i] = "ok"
        except Exception as e:  # the SDK's ClientRequestException
            results[i] = (e.status_code, e.error_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    assert sorted(r for r in results if r != "ok") == [(400, "KMS.1104")] * (len(keys) - 1)
    winner = keys[results.index("ok")]
    assert [e.key_id for e in listing(hw).aliases if e.alias == name] == [winner]


def test_concurrent_moves_and_deletes_leave_one_owner(server, hw):
    keys = [new_key(hw) for _ in range(4)]
    name = alias()
    create(hw, keys[0], name)
    errors = []
    start = threading.Barrier(len(keys))

    def worker(i):
        client = huawei_client(server.endpoint)
        start.wait()
        for _ in range(5):
            try:
                associate(client, name, keys[i])
            except Exception as e:
                errors.append((e.status_code, e.error_code))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(errors) <= {(400, "KMS.1101")}, errors
    owners = [k for k in keys if name in names_of(hw, k)]
    assert len(owners) == 1


def test_aliases_are_not_key_ids(hw):
    key_id = new_key(hw)
    name = alias()
    create(hw, key_id, name)
    expect(400, "KMS.0205", describe, hw, name)
    expect(400, "KMS.0205", hw.encrypt_data, m.EncryptDataRequest(
        body=m.EncryptDataRequestBody(key_id=name, plain_text="x")))
    expect(400, "KMS.0205", create, hw, name, alias())


def test_one_namespace_with_tencents_one_alias(kms, hw):
    tc_name = "tc" + uuid.uuid4().hex[:16]
    tc_key = create_key(kms, Alias=tc_name).KeyId
    expect(400, "KMS.1104", create, hw, new_key(hw), tc_name)
    hw_name = "hw" + uuid.uuid4().hex[:16]
    create(hw, tc_key, hw_name)
    meta = call(kms, "DescribeKey", KeyId=tc_key).KeyMetadata
    assert meta.Alias == tc_name, "Tencent shows the key's own alias only"
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=hw_name)
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "UpdateAlias", KeyId=tc_key, Alias=hw_name)
    assert names_of(hw, tc_key) == [hw_name]
    assert tc_name not in {a.alias for a in listing(hw).aliases}, "a key's own alias is not listed"
    delete(hw, tc_key, [hw_name])
    assert create_key(kms, Alias=hw_name).KeyId, "deleting frees the name for Tencent"


def test_raw_wire_shapes(server):
    """The answers on the wire, as other SDKs (Go, Java) decode them."""
    client = huawei_client(server.endpoint)
    key_id = new_key(client)
    name = alias()
    create(client, key_id, name)
    raw = client.list_aliases(m.ListAliasesRequest(key_id=key_id)).raw_content
    body = json.loads(raw)
    assert isinstance(body, list) and set(body[0]) == {"aliases", "page_info"}
    assert body[0]["page_info"]["current_count"] == 1
    r = delete(client, key_id, [name])
    assert r.status_code == 204 and not r.raw_content
