"""The web console at /console, driven over HTTP as a browser would: logins, sessions, CSRF,
the security headers, what each kind of session may see and change, every change verified
through the vendors' SDKs and found in the audit trail. The same flows in a real browser are in
test_console_browser.py."""

import html
import json
import re
import uuid

import pytest
import requests
from huaweicloudsdkkms.v2 import model as m

from conftest import (SECRET_ID, SECRET_KEY, KmsdProcess, call, create_key,
                      expect_error, make_client)
from huawei import huawei_client


def api(client, action, **params):
    """The SDK's answer as a dict."""
    return json.loads(call(client, action, **params).to_json_string())


def new_key(client, **params):
    return create_key(client, **params).KeyId


CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    audit_path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    proc = KmsdProcess(extra_args=["--audit-log", str(audit_path)]).start()
    proc.audit_path = audit_path
    yield proc
    proc.cleanup()


def records(proc):
    return [json.loads(line) for line in proc.audit_path.read_text().splitlines()]


def console_records(proc, action):
    return [r for r in records(proc) if r["dialect"] == "console" and r["action"] == action]


class Browser:
    """A requests session that keeps the console's cookie and each page's CSRF token, and
    sends what a browser sends with a form."""

    def __init__(self, proc):
        self.proc = proc
        self.http = requests.Session()
        self.csrf = None
        self.last = None

    def get(self, path, **kw):
        r = self.http.get(self.proc.url + path, allow_redirects=True, **kw)
        found = CSRF.search(r.text)
        if found:
            self.csrf = found.group(1)
        self.last = r
        return r

    def post(self, path, data=None, follow=True, origin=True, csrf=True):
        data = dict(data or {})
        if csrf and self.csrf:
            data.setdefault("csrf", self.csrf)
        headers = {"Origin": self.proc.url, "Sec-Fetch-Site": "same-origin"} if origin else {}
        r = self.http.post(self.proc.url + path, data=data, headers=headers, allow_redirects=follow)
        found = CSRF.search(r.text)
        if found:
            self.csrf = found.group(1)
        self.last = r
        return r

    def login_operator(self):
        token = (self.proc.data_dir / "admin-token").read_text().strip()
        r = self.post("/console/login", {"kind": "operator", "token": token})
        assert r.status_code == 200 and r.url.endswith("/console/keys"), r.text
        return r

    def login_credential(self, secret_id, secret_key):
        return self.post("/console/login", {"kind": "credential", "secret_id": secret_id,
                                            "secret_key": secret_key})


def flash(r):
    found = re.search(r'<div class="flash (ok|bad)" role="status">(.*?)</div>', r.text)
    return (found.group(1), html.unescape(found.group(2))) if found else None


def test_pages_carry_a_strict_policy_and_no_script(audited):
    r = requests.get(audited.url + "/console/login")
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script-src" not in csp, "no script may run at all"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "<script" not in r.text and " style=" not in r.text
    css = requests.get(audited.url + "/console/static/console.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_without_a_session_every_page_leads_to_the_login(audited):
    for path in ["/console", "/console/keys", "/console/accounts", "/console/audit"]:
        r = requests.get(audited.url + path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/console/login", path
    forged = requests.get(audited.url + "/console/keys", cookies={"kmsd-console": "ab" * 32},
                          allow_redirects=False)
    assert forged.status_code == 303


def test_a_wrong_token_or_key_is_refused_and_audited(audited):
    b = Browser(audited)
    r = b.post("/console/login", {"kind": "operator", "token": "not-the-token"})
    assert r.status_code == 401 and "not valid" in r.text
    r = b.post("/console/login", {"kind": "credential", "secret_id": SECRET_ID,
                                  "secret_key": SECRET_KEY[:-1] + "x"})
    assert r.status_code == 401
    assert "kmsd-console" not in b.http.cookies
    failed = [r for r in console_records(audited, "ConsoleLogin") if r["outcome"] == "AuthFailure"]
    assert len(failed) >= 2
    assert all("not-the-token" not in json.dumps(r) for r in records(audited))


def test_the_session_cookie_is_http_only_and_strict(audited):
    token = (audited.data_dir / "admin-token").read_text().strip()
    r = requests.post(audited.url + "/console/login", data={"kind": "operator", "token": token},
                      allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/console/keys"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("kmsd-console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie, "plain HTTP on loopback"


def test_a_change_without_the_csrf_token_or_from_another_site_is_refused(audited):
    kms = audited.client()
    key_id = new_key(kms)
    b = Browser(audited)
    b.login_operator()
    b.get(f"/console/keys/{key_id}")
    r = b.post(f"/console/keys/{key_id}/disable", csrf=False)
    assert r.status_code == 403 and "token" in r.text
    r = b.post(f"/console/keys/{key_id}/disable", {"csrf": "0" * 64})
    assert r.status_code == 403
    r = b.http.post(audited.url + f"/console/keys/{key_id}/disable",
                    data={"csrf": b.csrf}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = b.http.post(audited.url + f"/console/keys/{key_id}/disable",
                    data={"csrf": b.csrf}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert api(kms, "DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    codes = {r["outcome"] for r in console_records(audited, "Console")}
    assert {"InvalidCsrfToken", "CrossSiteRequest"} <= codes


def test_the_operator_manages_a_keys_life_and_the_sdk_sees_each_step(audited):
    kms = audited.client()
    hw = huawei_client(audited.endpoint)
    alias = "console-" + uuid.uuid4().hex[:8]
    b = Browser(audited)
    b.login_operator()
    r = b.post("/console/keys", {"alias": alias, "description": "made in the console",
                                 "usage": "ENCRYPT_DECRYPT"})
    assert flash(r)[0] == "ok", r.text
    key_id = re.search(r"/console/keys/([0-9a-f-]{36})$", r.url).group(1)
    meta = api(kms, "DescribeKey", KeyId=key_id)["KeyMetadata"]
    assert meta["Alias"] == alias and meta["Description"] == "made in the console"

    listed = b.get("/console/keys?view=tencent&alias=" + alias)
    assert key_id in listed.text and listed.text.count("/console/keys/" + key_id) == 1
    assert key_id in b.get("/console/keys?view=huawei").text

    def state():
        return api(kms, "DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"]

    r = b.post(f"/console/keys/{key_id}/disable")
    assert flash(r) == ("ok", "Key disabled.") and state() == "Disabled"
    r = b.post(f"/console/keys/{key_id}/schedule-deletion", {"days": "7"})
    assert flash(r)[0] == "ok" and state() == "PendingDelete"
    deletion = api(kms, "DescribeKey", KeyId=key_id)["KeyMetadata"]["DeletionDate"]
    assert deletion > 0
    r = b.post(f"/console/keys/{key_id}/cancel-deletion")
    assert flash(r)[0] == "ok" and state() == "Disabled"
    r = b.post(f"/console/keys/{key_id}/enable")
    assert flash(r)[0] == "ok" and state() == "Enabled"

    # A refusal of the vendor reaches the page with its code: 3 days is under the minimum.
    b.post(f"/console/keys/{key_id}/disable")
    r = b.post(f"/console/keys/{key_id}/schedule-deletion", {"days": "3"})
    assert flash(r)[0] == "bad" and "InvalidParameter.InvalidPendingWindowInDays" in flash(r)[1]
    assert state() == "Disabled"
    b.post(f"/console/keys/{key_id}/enable")

    r = b.post(f"/console/keys/{key_id}/rotation-on")
    assert flash(r)[0] == "ok"
    assert api(kms, "GetKeyRotationStatus", KeyId=key_id)["KeyRotationEnabled"] is True
    ciphertext = api(kms, "Encrypt", KeyId=key_id, Plaintext="aGVsbG8=")["CiphertextBlob"]
    r = b.post(f"/console/keys/{key_id}/rotate")
    assert flash(r)[0] == "ok", flash(r)
    status = hw.show_key_rotation_status(m.ShowKeyRotationStatusRequest(
        body=m.OperateKeyRequestBody(key_id=key_id)))
    assert status.number_of_rotations == 1
    assert api(kms, "Decrypt", CiphertextBlob=ciphertext)["Plaintext"] == "aGVsbG8="

    r = b.post(f"/console/keys/{key_id}/tag-add", {"key": "team", "value": "payments"})
    assert flash(r)[0] == "ok"
    tags = hw.show_kms_tags(m.ShowKmsTagsRequest(key_id=key_id)).tags
    assert [(t.key, t.value) for t in tags] == [("team", "payments")]
    r = b.post(f"/console/keys/{key_id}/tag-delete", {"key": "team"})
    assert flash(r)[0] == "ok"
    assert hw.show_kms_tags(m.ShowKmsTagsRequest(key_id=key_id)).tags == []

    second = "alias/" + alias + "-b"
    r = b.post(f"/console/keys/{key_id}/alias-add", {"alias": second})
    assert flash(r)[0] == "ok", flash(r)
    assert second in r.text
    r = b.post(f"/console/keys/{key_id}/alias-delete", {"alias": second})
    assert flash(r)[0] == "ok" and second not in r.text

    r = b.post(f"/console/keys/{key_id}/grant-add", {
        "grantee": "0" * 32, "grantee_type": "user", "operations": "encrypt-data, decrypt-data",
        "name": "console-grant"})
    assert flash(r)[0] == "ok", flash(r)
    grants = hw.list_grants(m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=key_id))).grants
    assert [(g.name, sorted(g.operations)) for g in grants] == [
        ("console-grant", ["decrypt-data", "encrypt-data"])]
    r = b.post(f"/console/keys/{key_id}/grant-revoke", {"grant_id": grants[0].grant_id})
    assert flash(r)[0] == "ok"
    assert hw.list_grants(m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=key_id))).grants == []

    r = b.post(f"/console/keys/{key_id}/description", {"description": "<b>escaped</b>"})
    page = b.get(f"/console/keys/{key_id}").text
    assert "&lt;b&gt;escaped&lt;/b&gt;" in page and "<b>escaped</b>" not in page

    # Each change is one console record, naming the operator and the key.
    disables = console_records(audited, "DisableKey")
    assert disables and disables[-1]["credential_id"] == "operator-token"
    assert key_id in disables[-1]["resources"] and disables[-1]["outcome"] == "ok"
    refused = [r for r in console_records(audited, "ScheduleKeyDeletion") if r["outcome"] != "ok"]
    assert refused and refused[-1]["outcome"] == "InvalidParameter.InvalidPendingWindowInDays"


def test_keys_list_pages_and_filters(audited):
    kms = audited.client()
    prefix = "page-" + uuid.uuid4().hex[:6]
    ids = [new_key(kms, Alias=f"{prefix}-{i:02}") for i in range(23)]
    api(kms, "DisableKey", KeyId=ids[0])
    b = Browser(audited)
    b.login_operator()
    first = b.get(f"/console/keys?view=tencent&alias={prefix}")
    assert "of 23 keys" in first.text and 'rel="next"' in first.text
    second = b.get(f"/console/keys?view=tencent&alias={prefix}&offset=20")
    shown = set(re.findall(r"/console/keys/([0-9a-f-]{36})", first.text + second.text))
    assert set(ids) <= shown
    disabled = b.get(f"/console/keys?view=tencent&alias={prefix}&state=2")
    assert re.findall(r"/console/keys/([0-9a-f-]{36})", disabled.text) == [ids[0]]


def test_accounts_and_a_credential_shown_once(audited):
    b = Browser(audited)
    b.login_operator()
    b.get("/console/accounts")
    r = b.post("/console/accounts")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    uin = int(re.search(r"Account \(uin\)</span><code>(\d+)</code>", r.text).group(1))
    secret_id = re.search(r"SecretId \(AK\)</span><code>([^<]+)</code>", r.text).group(1)
    secret_key = re.search(r"SecretKey \(SK\)</span><code>([^<]+)</code>", r.text).group(1)
    # The credential is real: the new account works through the SDK with it.
    other = make_client(audited.endpoint, secret_id=secret_id, secret_key=secret_key)
    assert api(other, "ListKeys")["TotalCount"] == 0
    # And never shown again, nor recorded.
    assert secret_key not in b.get("/console/accounts").text
    assert secret_key not in audited.audit_path.read_text()
    created = console_records(audited, "CreateAccount")[-1]
    assert created["account"] == uin and created["outcome"] == "ok"

    r = b.post(f"/console/accounts/{uin}/disable")
    assert flash(r)[0] == "ok"
    expect_error("AuthFailure.SecretIdNotFound", other, "ListKeys")
    b.post(f"/console/accounts/{uin}/enable")
    api(other, "ListKeys")


def test_users_policies_and_what_a_users_session_may_do(audited):
    kms = audited.client()
    readable_alias = "readable-" + uuid.uuid4().hex[:8]
    readable = new_key(kms, Alias=readable_alias)
    b = Browser(audited)
    b.login_operator()
    b.get("/console/identity")
    name = "console-user-" + uuid.uuid4().hex[:6]
    r = b.post("/console/identity/users", {"name": name})
    assert flash(r)[0] == "ok"
    user_id = re.search(r'<td class="mono">([^<]+)</td><td>' + name, r.text).group(1)

    # The document is validated as the admin API validates it.
    r = b.post("/console/identity/policies", {"name": "bad", "language": "cam",
                                              "document": '{"version": "2.0", "statement": 5}'})
    assert flash(r)[0] == "bad" and "InvalidRequest" in flash(r)[1]
    document = json.dumps({"version": "2.0", "statement": [
        {"effect": "allow", "action": ["kms:ListKeyDetail", "kms:DescribeKey", "kms:ListKeys"],
         "resource": "*"}]})
    policy = "read-" + uuid.uuid4().hex[:6]
    r = b.post("/console/identity/policies", {"name": policy, "language": "cam", "document": document})
    assert flash(r)[0] == "ok", flash(r)
    r = b.post(f"/console/identity/users/{user_id}/attach", {"policy": policy})
    assert flash(r)[0] == "ok"
    assert policy in b.get(f"/console/identity/policies/{policy}").text

    r = b.post("/console/identity/credentials", {"user": name})
    assert r.headers["Cache-Control"] == "no-store"
    secret_id = re.search(r"SecretId \(AK\)</span><code>([^<]+)</code>", r.text).group(1)
    secret_key = re.search(r"SecretKey \(SK\)</span><code>([^<]+)</code>", r.text).group(1)

    user = Browser(audited)
    r = user.login_credential(secret_id, secret_key)
    assert r.url.endswith("/console/keys")
    assert "/console/accounts" not in r.text and "/console/identity" not in r.text
    listed = user.get("/console/keys?alias=" + readable_alias).text
    assert readable in listed
    page = user.get(f"/console/keys/{readable}")
    assert "Tencent view" in page.text
    r = user.post(f"/console/keys/{readable}/disable")
    assert flash(r)[0] == "bad" and "UnauthorizedOperation" in flash(r)[1]
    assert api(kms, "DescribeKey", KeyId=readable)["KeyMetadata"]["KeyState"] == "Enabled"
    assert user.get("/console/accounts").status_code == 403
    assert user.get("/console/identity").status_code == 403
    refused = [r for r in console_records(audited, "DisableKey") if r["outcome"] != "ok"][-1]
    assert refused["user"] == user_id and refused["credential_id"] == secret_id

    # Disabling the credential ends its console sessions at once.
    b.get("/console/identity")
    r = b.post(f"/console/identity/credentials/{secret_id}/disable")
    assert flash(r)[0] == "ok"
    after = user.http.get(audited.url + "/console/keys", allow_redirects=False)
    assert after.status_code == 303 and after.headers["Location"] == "/console/login"


def test_an_account_root_sees_its_own_account_and_audit_only(audited):
    token = (audited.data_dir / "admin-token").read_text().strip()
    created = requests.post(audited.url + "/admin/v1/accounts",
                            headers={"Authorization": f"Bearer {token}"}).json()
    other = make_client(audited.endpoint, secret_id=created["secret_id"],
                        secret_key=created["secret_key"])
    api(other, "ListKeys")
    api(audited.client(), "ListKeys")
    root_uin = next(r["account"] for r in records(audited)
                    if r["credential_id"] == SECRET_ID and r["account"])
    b = Browser(audited)
    r = b.login_credential(SECRET_ID, SECRET_KEY)
    assert r.url.endswith("/console/keys")
    assert "/console/identity" in r.text and "/console/accounts" not in r.text
    assert b.get("/console/accounts").status_code == 403
    # Asking for another account's records still shows only its own.
    page = b.get(f"/console/audit?action=ListKeys&account={created['uin']}")
    body = page.text[page.text.index("<tbody>"):]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    assert rows and {cells[4] for cells in rows} == {str(root_uin)}


def test_the_audit_trail_is_searchable(audited):
    kms = audited.client()
    key_id = new_key(kms)
    api(kms, "DisableKey", KeyId=key_id)
    expect_error("ResourceUnavailable.CmkDisabled", kms, "Encrypt", KeyId=key_id, Plaintext="aGk=")
    b = Browser(audited)
    b.login_operator()
    found = b.get("/console/audit?action=Encrypt&outcome=error")
    assert "ResourceUnavailable.CmkDisabled" in found.text and key_id in found.text
    assert "<td>ok</td>" not in found.text
    none = b.get("/console/audit?action=Encrypt&from=2099-01-01T00:00")
    assert "0 records" in none.text
    searches = console_records(audited, "SearchAudit")
    assert searches and searches[-1]["outcome"] == "ok"


def test_health_shows_seal_store_and_charts(audited):
    api(audited.client(), "ListKeys")
    b = Browser(audited)
    b.login_operator()
    r = b.get("/console/health")
    assert "unsealed" in r.text and "serving" in r.text
    assert '<svg class="chart" id="requests-chart"' in r.text
    assert "tencent ListKeys" in r.text and "<rect" in r.text


def test_logins_from_one_address_are_bounded(fresh_server):
    proc = fresh_server.start()
    for _ in range(10):
        r = requests.post(proc.url + "/console/login", data={"kind": "operator", "token": "x"})
        assert r.status_code == 401
    token = (proc.data_dir / "admin-token").read_text().strip()
    r = requests.post(proc.url + "/console/login", data={"kind": "operator", "token": token})
    assert r.status_code == 429 and "Too many failed logins" in r.text


def test_logout_ends_the_session(audited):
    b = Browser(audited)
    b.login_operator()
    cookie = b.http.cookies.get("kmsd-console")
    r = b.post("/console/logout")
    assert r.url.endswith("/console/login")
    again = requests.get(audited.url + "/console/keys", cookies={"kmsd-console": cookie},
                         allow_redirects=False)
    assert again.status_code == 303


def test_hostile_requests_get_refusals_not_failures(audited):
    b = Browser(audited)
    b.login_operator()
    b.get("/console/keys")
    assert b.post("/console/keys", {"alias": "x" * 70_000}).status_code == 400
    assert b.get("/console/keys/not-a-key").status_code == 200
    assert "InvalidParameterValue" in b.last.text or "ResourceNotFound" in b.last.text
    assert b.get("/console/nowhere").status_code == 404
    assert b.get("/console/keys/%00%ff/../x").status_code in (200, 404)
    r = b.http.put(audited.url + "/console/keys")
    assert r.status_code == 405
    r = b.get("/console/keys?offset=-1&state=abc&view=%ff")
    assert r.status_code == 200
    assert requests.get(audited.url + "/healthz").text == "ok"


def test_over_tls_the_cookie_is_secure_and_host_bound(tmp_path):
    from test_tls import ThrowawayCa, TlsKmsd
    ca = ThrowawayCa(tmp_path)
    proc = TlsKmsd(ca).start()
    try:
        token = (proc.data_dir / "admin-token").read_text().strip()
        r = requests.post(proc.url + "/console/login", data={"kind": "operator", "token": token},
                          verify=str(ca.bundle), allow_redirects=False)
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("__Host-kmsd-console=")
        assert "; Secure;" in cookie and "Path=/;" in cookie and "HttpOnly" in cookie
        assert "Strict-Transport-Security" in r.headers
    finally:
        proc.cleanup()


def test_plain_http_serves_the_console_to_this_host_only():
    from test_admin import ExposedKmsd, non_loopback_address
    address = non_loopback_address()
    if address is None:
        pytest.skip("this host has no address but loopback")
    proc = ExposedKmsd(address).start()
    try:
        r = requests.get(proc.url + "/console/login")
        assert r.status_code == 403 and "--tls-cert" in r.text
    finally:
        proc.cleanup()


def test_parallel_sessions_changing_one_key_get_answers_not_failures(audited):
    """Eight browsers toggle one key at once: every change is applied or refused with the
    vendor's code, the key ends in a state one of them set, and each change is audited."""
    import threading
    kms = audited.client()
    key_id = new_key(kms)
    browsers = [Browser(audited) for _ in range(8)]
    for b in browsers:
        b.login_operator()
        b.get(f"/console/keys/{key_id}")
    outcomes, failures = [], []

    def toggle(b, n):
        for i in range(6):
            op = "disable" if (i + n) % 2 == 0 else "enable"
            r = b.post(f"/console/keys/{key_id}/{op}")
            if r.status_code != 200 or flash(r) is None:
                failures.append((r.status_code, r.text[:200]))
            else:
                outcomes.append(flash(r))

    threads = [threading.Thread(target=toggle, args=(b, n)) for n, b in enumerate(browsers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert len(outcomes) == 48
    assert all(kind == "ok" or text.startswith(("ResourceUnavailable", "FailedOperation"))
               for kind, text in outcomes), outcomes
    assert api(kms, "DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] in ("Enabled", "Disabled")
    changes = [r for r in records(audited) if r["dialect"] == "console"
               and r["action"] in ("EnableKey", "DisableKey") and key_id in r["resources"]]
    assert len(changes) == 48


def test_the_operator_unseals_a_shamir_sealed_server_share_by_share(tmp_path):
    from test_shamir import init
    data_dir = tmp_path / "data"
    shares = init(data_dir)
    proc = KmsdProcess(data_dir=data_dir, extra_args=["--seal", "shamir"]).start(ready_status=503)
    try:
        b = Browser(proc)
        # While sealed no credential can log in (the directory is sealed); the operator can.
        r = b.login_credential(SECRET_ID, SECRET_KEY)
        assert r.status_code == 503 and "only the operator" in r.text
        token = (proc.data_dir / "admin-token").read_text().strip()
        r = b.post("/console/login", {"kind": "operator", "token": token})
        assert r.url.endswith("/console/seal") and "sealed" in r.text
        r = b.post("/console/seal/unseal", {"share": shares[0]})
        assert flash(r) == ("ok", "Share accepted: 1 of 3 given.")
        r = b.post("/console/seal/unseal", {"share": shares[0]})
        assert flash(r)[0] == "bad" and "RepeatedShare" in flash(r)[1]
        r = b.post("/console/seal/unseal", {"share": "not-a-share"})
        assert flash(r)[0] == "bad" and "MalformedShare" in flash(r)[1]
        assert requests.get(proc.url + "/healthz").status_code == 503
        b.post("/console/seal/unseal", {"share": shares[1]})
        r = b.post("/console/seal/unseal", {"share": shares[2]})
        assert flash(r) == ("ok", "Unsealed: the server serves API calls.")
        assert r.url.endswith("/console/keys")
        assert requests.get(proc.url + "/healthz").status_code == 200
        api(proc.client(), "ListKeys")

        b.get("/console/seal")
        r = b.post("/console/seal/seal")
        assert flash(r)[0] == "ok" and r.url.endswith("/console/seal")
        assert requests.get(proc.url + "/healthz").status_code == 503
        # Every step is audited; no share is.
        text = proc.log_path.read_text() if proc.log_path.exists() else ""
        assert all(share not in text for share in shares)
    finally:
        proc.cleanup()


def test_only_the_operator_reaches_the_seal(audited):
    b = Browser(audited)
    b.login_credential(SECRET_ID, SECRET_KEY)
    assert b.get("/console/seal").status_code == 403
    assert b.post("/console/seal/seal").status_code == 403
    assert requests.get(audited.url + "/healthz").text == "ok"
