"""Huawei KMS grants (CreateGrant, CancelGrant, CancelSelfGrant, ListGrants, ListRetirableGrants)
through the SDK, and the grant quota in ShowUserQuotas.

The conformance server runs one account, so these tests keep the grants' books as the root
account (granting to other domain and user ids); a grant's effect for another account is proven
through the dialect in `crates/kms-huawei/tests/grants_across_accounts.rs`, which runs two.
"""

import re
import threading
import time

import pytest
from huaweicloudsdkkms.v2 import model as m

from huawei import describe, expect, huawei_client, new_key

OTHER_DOMAIN = "0d0466b00d0466b00d0466b00d0466b0"
ALL_OPERATIONS = [
    "create-datakey", "create-datakey-without-plaintext", "encrypt-datakey", "decrypt-datakey",
    "describe-key", "create-grant", "retire-grant", "encrypt-data", "decrypt-data",
]


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


@pytest.fixture(scope="module")
def domain_id(hw):
    """The root account's domain id: how grants name it as a principal."""
    return describe(hw, new_key(hw)).domain_id


def grant(hw, key_id, grantee=OTHER_DOMAIN, operations=("decrypt-data",), **fields):
    fields.setdefault("grantee_principal_type", "domain")
    body = m.CreateGrantRequestBody(key_id=key_id, grantee_principal=grantee,
                                    operations=list(operations), **fields)
    return hw.create_grant(m.CreateGrantRequest(body=body)).grant_id


def revoke(hw, key_id, grant_id):
    return hw.cancel_grant(m.CancelGrantRequest(body=m.RevokeGrantRequestBody(key_id=key_id, grant_id=grant_id)))


def retire(hw, key_id, grant_id):
    return hw.cancel_self_grant(
        m.CancelSelfGrantRequest(body=m.RevokeGrantRequestBody(key_id=key_id, grant_id=grant_id)))


def grants(hw, key_id, limit=None, marker=None):
    return hw.list_grants(m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=key_id, limit=limit, marker=marker)))


def retirable(hw, limit=None, marker=None):
    return hw.list_retirable_grants(
        m.ListRetirableGrantsRequest(body=m.ListRetirableGrantsRequestBody(limit=limit, marker=marker)))


def grant_quota(hw):
    resources = hw.show_user_quotas(m.ShowUserQuotasRequest()).quotas.resources
    (r,) = [r for r in resources if r.type == "grant_per_CMK"]
    return r.used, r.quota


def test_a_grant_is_listed_as_it_was_made(hw, domain_id):
    key_id = new_key(hw)
    before = int(time.time())
    grant_id = grant(hw, key_id, operations=ALL_OPERATIONS[:5] + ALL_OPERATIONS[6:], name="app:1/db_x-y",
                     retiring_principal="retirer01")
    assert re.fullmatch(r"[0-9a-f]{64}", grant_id)
    listed = grants(hw, key_id)
    assert (listed.total, listed.truncated, listed.next_marker) == (1, "false", "")
    (g,) = listed.grants
    assert g.key_id == key_id
    assert g.grant_id == grant_id
    assert g.grantee_principal == OTHER_DOMAIN
    assert g.grantee_principal_type == "domain"
    assert g.operations == ALL_OPERATIONS[:5] + ALL_OPERATIONS[6:]
    assert g.issuing_principal == domain_id
    assert g.name == "app:1/db_x-y"
    assert g.retiring_principal == "retirer01"
    assert before * 1000 <= int(g.creation_date) <= (int(time.time()) + 1) * 1000


def test_defaults_and_repeats(hw):
    key_id = new_key(hw)
    body = m.CreateGrantRequestBody(key_id=key_id, grantee_principal="user01",
                                    operations=["encrypt-data", "describe-key", "encrypt-data"])
    hw.create_grant(m.CreateGrantRequest(body=body))
    (g,) = grants(hw, key_id).grants
    assert g.grantee_principal_type == "user", "the SDK's default type"
    assert g.operations == ["encrypt-data", "describe-key"], "each operation once, in order"
    assert (g.name, g.retiring_principal) == ("", "")
    grant(hw, key_id, operations=ALL_OPERATIONS)
    assert grants(hw, key_id).grants[1].operations == ALL_OPERATIONS


def test_list_grants_pages_with_markers(hw):
    key_id = new_key(hw)
    made = []
    for n in range(5):
        made.append(grant(hw, key_id, name=f"g{n}"))
    seen, marker = [], None
    while True:
        page = grants(hw, key_id, limit="2", marker=marker)
        assert page.total == 5
        seen += [g.grant_id for g in page.grants]
        if page.truncated == "false":
            assert page.next_marker == ""
            break
        assert page.truncated == "true"
        assert len(page.grants) == 2
        marker = page.next_marker
    assert seen == made, "oldest first"
    assert [g.name for g in grants(hw, key_id).grants] == [f"g{n}" for n in range(5)]
    assert grants(hw, key_id, marker="5").grants == []
    assert grants(hw, key_id, marker="9").total == 5


def test_revoke_removes_the_grant(hw):
    key_id = new_key(hw)
    kept, revoked = grant(hw, key_id), grant(hw, key_id)
    revoke(hw, key_id, revoked)
    assert [g.grant_id for g in grants(hw, key_id).grants] == [kept]
    expect(400, "KMS.0308", revoke, hw, key_id, revoked)
    other_key = new_key(hw)
    expect(400, "KMS.0308", revoke, hw, other_key, kept)
    # The vendor's pattern admits uppercase hex.
    revoke(hw, key_id, kept.upper())
    assert grants(hw, key_id).total == 0


def test_retire_by_the_owner_and_the_retirable_listing(hw, domain_id):
    key_id, other_key = new_key(hw), new_key(hw)
    before = retirable(hw).total
    mine = [grant(hw, key_id, retiring_principal=domain_id) for _ in range(2)]
    mine.append(grant(hw, other_key, retiring_principal=domain_id))
    grant(hw, key_id, retiring_principal="someoneelse")
    listed = retirable(hw)
    assert listed.total == before + 3
    found = [g for g in listed.grants if g.grant_id in mine]
    assert sorted(g.grant_id for g in found) == sorted(mine)
    assert {g.key_id for g in found} == {key_id, other_key}
    assert all(g.retiring_principal == domain_id for g in found)
    page = retirable(hw, limit="1", marker=str(before))
    assert (len(page.grants), page.truncated, page.next_marker) == (1, "true", str(before + 1))

    retire(hw, key_id, mine[0])
    assert retirable(hw).total == before + 2
    assert mine[0] not in [g.grant_id for g in grants(hw, key_id).grants]
    expect(400, "KMS.0308", retire, hw, key_id, mine[0])


def test_the_grant_quota(hw):
    key_id = new_key(hw)
    used, quota = grant_quota(hw)
    assert quota == 100
    for _ in range(100):
        grant(hw, key_id)
    assert grant_quota(hw) == (100, 100), "used: the most grants one key holds"
    expect(400, "KMS.0308", grant, hw, key_id)
    grant(hw, new_key(hw))  # the quota is per key
    g = grants(hw, key_id, limit="100")
    assert (g.total, len(g.grants), g.truncated) == (100, 100, "false")
    revoke(hw, key_id, g.grants[0].grant_id)
    grant(hw, key_id)


def test_concurrent_grants_stop_at_the_quota(hw):
    key_id = new_key(hw)
    for _ in range(90):
        grant(hw, key_id)
    results = []

    def one():
        try:
            grant(hw, key_id)
            results.append("ok")
        except Exception as e:  # noqa: BLE001 - the refusal is the point
            results.append(getattr(e, "error_code", repr(e)))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 10
    assert results.count("KMS.0308") == 10
    assert grants(hw, key_id).total == 100


def test_key_states(hw):
    key_id = new_key(hw)
    hw.disable_key(m.DisableKeyRequest(body=m.OperateKeyRequestBody(key_id=key_id)))
    grant(hw, key_id)  # a disabled key takes grants; using it still needs it enabled
    hw.delete_key(m.DeleteKeyRequest(body=m.ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    expect(400, "KMS.0210", grant, hw, key_id)
    assert grants(hw, key_id).total == 1, "grants stay until the key is purged"


def test_bad_input(hw):
    key_id = new_key(hw)
    expect(400, "KMS.0204", lambda: hw.create_grant(m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        grantee_principal=OTHER_DOMAIN, operations=["decrypt-data"]))))
    expect(400, "KMS.0204", lambda: hw.create_grant(m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        key_id=key_id, operations=["decrypt-data"]))))
    expect(400, "KMS.0204", lambda: hw.create_grant(m.CreateGrantRequest(body=m.CreateGrantRequestBody(
        key_id=key_id, grantee_principal=OTHER_DOMAIN))))
    expect(400, "KMS.0204", grant, hw, key_id, OTHER_DOMAIN, [])
    expect(400, "KMS.0205", grant, hw, "not-a-key-id")
    expect(404, "KMS.0207", grant, hw, "0d0466b0-e727-4d9c-b35d-f84bb474a37f")
    expect(400, "KMS.0308", grant, hw, key_id, OTHER_DOMAIN, ["decrypt-data", "sign"])
    expect(400, "KMS.0308", grant, hw, key_id, OTHER_DOMAIN, ["create-grant"])
    expect(400, "KMS.0308", grant, hw, key_id, OTHER_DOMAIN, ["Decrypt-Data"])
    expect(400, "KMS.0308", grant, hw, key_id, "a-b")
    expect(400, "KMS.0308", grant, hw, key_id, "a" * 65)
    expect(400, "KMS.0308", lambda: grant(hw, key_id, grantee_principal_type="group"))
    expect(400, "KMS.0308", lambda: grant(hw, key_id, name="a b"))
    expect(400, "KMS.0308", lambda: grant(hw, key_id, name="a" * 256))
    expect(400, "KMS.0308", lambda: grant(hw, key_id, retiring_principal="x!"))
    expect(400, "KMS.0206", lambda: grant(hw, key_id, sequence="s" * 37))
    grant(hw, key_id, grantee="a" * 64, name="a" * 255)

    for bad in ["", "0" * 63, "g" * 64, "0" * 65]:
        if bad == "":
            expect(400, "KMS.0204", revoke, hw, key_id, bad)
        else:
            expect(400, "KMS.0308", revoke, hw, key_id, bad)
            expect(400, "KMS.0308", retire, hw, key_id, bad)
    expect(400, "KMS.0205", revoke, hw, "x", "0" * 64)
    expect(404, "KMS.0207", revoke, hw, "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "0" * 64)
    expect(404, "KMS.0207", retire, hw, "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "0" * 64)

    expect(400, "KMS.0204", grants, hw, None)
    for limit in ["0", "101", "-1", "x"]:
        expect(400, "KMS.1601", grants, hw, key_id, limit)
        expect(400, "KMS.1601", retirable, hw, limit)
    expect(400, "KMS.1602", grants, hw, key_id, None, "-1")
    expect(400, "KMS.1602", retirable, hw, None, "x")
    expect(404, "KMS.0207", grants, hw, "0d0466b0-e727-4d9c-b35d-f84bb474a37f")


def test_grants_to_the_callers_own_domain_change_nothing_for_it(hw, domain_id):
    """The owner reaches its key anyway; a grant naming it neither widens nor narrows that."""
    key_id = new_key(hw)
    grant_id = grant(hw, key_id, grantee=domain_id, operations=["describe-key"])
    enc = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(key_id=key_id, plain_text="hi")))
    dec = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(cipher_text=enc.cipher_text)))
    assert dec.plain_text == "hi"
    revoke(hw, key_id, grant_id)
    assert describe(hw, key_id).key_id == key_id


def test_another_project_sees_no_grant(server, hw):
    key_id = new_key(hw)
    grant(hw, key_id)
    foreign = huawei_client(server.endpoint, project_id="f" * 32)
    expect(403, "KMS.0306", grants, foreign, key_id)
