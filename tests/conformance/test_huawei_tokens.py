"""Huawei IAM tokens: a user given a password with `kmsd admin` gets a token from
`POST /v3/auth/tokens` (raw, and through Huawei's IAM SDK), and the KMS routes accept it in
`X-Auth-Token` (raw, and through the KMS SDK) as that user, in the one project it is scoped to,
until it expires, the user is disabled or deleted, or their password changes. A wrong password
and an unknown user get the same answer, and ten of them lock the login for 15 minutes."""

import calendar
import json
import statistics
import subprocess
import time

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as iam
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import KMSD_BIN, PROJECT_ID, KmsdProcess
from huawei import describe, expect, huawei_client, new_key
from test_admin import admin

PASSWORD = "correct horse battery staple"
ALLOW_ALL = {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["kms:*:*"]}]}
BAD_TOKEN = "Incorrect IAM authentication information: decrypt token fail"


def set_password(server, uin, user, password):
    cmd = [KMSD_BIN, "admin", "--endpoint", server.url, "--token-file",
           str(server.data_dir / "admin-token"), "user", "set-password", "--account", uin, user]
    done = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_user(server, tenant, name, password=PASSWORD):
    user = admin("user", "create", "--account", tenant["uin"], name, server=server)
    admin("policy", "attach", "--account", tenant["uin"], "--user", user["id"], "all-kms",
          server=server)
    if password is not None:
        set_password(server, tenant["uin"], user["id"], password)
    return user


def new_tenant(server, tmp_path):
    account = admin("account", "create", server=server)
    uin = str(account["uin"])
    path = tmp_path / f"allow-{uin}.json"
    path.write_text(json.dumps(ALLOW_ALL))
    admin("policy", "create", "--account", uin, "all-kms", "--language", "iam",
          "--document", str(path), server=server)
    return {"account": account, "uin": uin, "project_id": account["project_id"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    audit_path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    # These tests ask for tokens as fast as answers come, well past the per-address bound
    # (test_huawei_token_bounds.py tests it), so the bound is off here.
    proc = KmsdProcess(extra_args=["--audit-log", str(audit_path),
                                   "--token-requests-per-address", "0"]).start()
    proc.audit_path = audit_path
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def tenant(served, tmp_path_factory):
    tenant = new_tenant(served, tmp_path_factory.mktemp("tenant"))
    tenant["user"] = make_user(served, tenant, "alice")
    return tenant


def token_body(user=None, domain=None, password=PASSWORD, project=None, user_id=None,
               domain_id=None, project_id=None, methods=("password",)):
    u = {"password": password}
    if user_id is not None:
        u["id"] = user_id
    if user is not None:
        u["name"] = user
    if domain is not None or domain_id is not None:
        u["domain"] = {k: v for k, v in (("name", domain), ("id", domain_id)) if v is not None}
    scope = {"project": {k: v for k, v in (("name", project), ("id", project_id)) if v is not None}}
    return {"auth": {"identity": {"methods": list(methods), "password": {"user": u}},
                     "scope": scope}}


def post_token(server, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.url + "/v3/auth/tokens", data=data,
                         headers={"Content-Type": "application/json;charset=utf8"}, timeout=30, **kw)


def get_token(server, tenant, **kw):
    kw.setdefault("user", tenant["user"]["name"])
    kw.setdefault("domain", tenant["uin"])
    if "project" not in kw and "project_id" not in kw:
        kw["project"] = "ap-guangzhou"
    r = post_token(server, token_body(**kw))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]


def kms(server, token, project_id, op, body=None, method="POST"):
    return requests.request(method, f"{server.url}/v1.0/{project_id}/kms/{op}",
                            data=json.dumps(body or {}),
                            headers={"X-Auth-Token": token, "Content-Type": "application/json"},
                            timeout=30)


def refused_token(r):
    assert r.status_code == 401, r.text
    assert r.json()["error"] == {"error_code": "APIG.0301", "error_msg": BAD_TOKEN}


def token_client(server, token, project_id):
    """The KMS SDK carrying a token: it signs with AK/SK only, so a request handler (the SDK's
    own hook, run after signing) swaps the signature for the token."""
    def use_token(request, **_):
        for name in ("Authorization", "X-Sdk-Date"):
            request.header_params.pop(name, None)
        request.header_params["X-Auth-Token"] = token

    config = HttpConfig.get_default_config()
    config.retry_times = 0
    return (KmsClient.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials("unused", "unused", project_id))
            .with_endpoints([server.url])
            .with_http_handler(HttpHandler().add_request_handler(use_token))
            .build())


def test_a_raw_token_request_answers_the_vendors_token_and_kms_accepts_it(served, tenant):
    before = int(time.time())
    token, body = get_token(served, tenant)
    user = tenant["user"]
    assert body["methods"] == ["password"]
    assert body["user"]["id"] == user["id"] and body["user"]["name"] == "alice"
    assert body["user"]["domain"] == {"id": tenant["uin"], "name": tenant["uin"]}
    assert body["project"] == {"id": tenant["project_id"], "name": "ap-guangzhou",
                               "domain": {"id": tenant["uin"], "name": tenant["uin"]}}
    assert body["roles"] == [{"id": "all-kms", "name": "all-kms"}]
    assert body["catalog"] == []
    issued = time.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = time.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(calendar.timegm(issued) - before) <= 2
    assert calendar.timegm(expires) - calendar.timegm(issued) == 24 * 3600

    nocatalog = post_token(served, token_body(tenant["user"]["name"], tenant["uin"],
                                              project="ap-guangzhou"), params={"nocatalog": "1"})
    assert nocatalog.status_code == 201 and "catalog" not in nocatalog.json()["token"]

    project = tenant["project_id"]
    r = kms(served, token, project, "create-key", {"key_alias": "token-made"})
    assert r.status_code == 200, r.text
    key_id = r.json()["key_info"]["key_id"]
    r = kms(served, token, project, "encrypt-data", {"key_id": key_id, "plain_text": "hello"})
    assert r.status_code == 200, r.text
    cipher = r.json()["cipher_text"]
    r = kms(served, token, project, "decrypt-data", {"cipher_text": cipher})
    assert r.status_code == 200 and r.json()["plain_text"] == "hello"
    listed = kms(served, token, project, "list-keys", {}).json()["keys"]
    assert key_id in listed

    # The key is the tenant's: its root credential sees it, the server's root does not.
    root = huawei_client(served.endpoint, ak=tenant["account"]["secret_id"],
                         sk=tenant["account"]["secret_key"], project_id=project)
    assert describe(root, key_id).key_id == key_id
    expect(404, "KMS.0207", describe, huawei_client(served.endpoint), key_id)

    # The audit trail names the user and the token, never the token itself.
    time.sleep(0.2)
    records = [json.loads(line) for line in served.audit_path.read_text().splitlines()]
    mine = [r for r in records if r.get("user") == user["id"]]
    actions = {r["action"] for r in mine}
    assert {"KeystoneCreateUserTokenByPassword", "CreateKey", "EncryptData"} <= actions
    assert all(r["credential_id"].startswith("token:") for r in mine if r["outcome"] == "ok")
    assert token not in served.audit_path.read_text()
    assert PASSWORD not in served.audit_path.read_text()
    assert token not in served.log_path.read_text() and PASSWORD not in served.log_path.read_text()


def test_the_iam_sdk_gets_a_token_and_the_kms_sdk_uses_it(served, tenant):
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    client = (IamClient.new_builder()
              .with_http_config(config)
              .with_credentials(GlobalCredentials("unused", "unused"))
              .with_endpoints([served.url])
              .build())
    request = iam.KeystoneCreateUserTokenByPasswordRequest(
        body=iam.KeystoneCreateUserTokenByPasswordRequestBody(auth=iam.PwdAuth(
            identity=iam.PwdIdentity(methods=["password"], password=iam.PwdPassword(
                user=iam.PwdPasswordUser(name="alice", password=PASSWORD,
                                         domain=iam.PwdPasswordUserDomain(name=tenant["uin"])))),
            scope=iam.AuthScope(project=iam.AuthScopeProject(name="ap-guangzhou")))))
    answer = client.keystone_create_user_token_by_password(request)
    token = answer.x_subject_token
    assert token and answer.token.user.id == tenant["user"]["id"]
    assert answer.token.project.id == tenant["project_id"]

    hw = token_client(served, token, tenant["project_id"])
    key_id = new_key(hw)
    assert describe(hw, key_id).key_id == key_id
    sealed = hw.encrypt_data(m.EncryptDataRequest(
        body=m.EncryptDataRequestBody(key_id=key_id, plain_text="via sdk"))).cipher_text
    opened = hw.decrypt_data(m.DecryptDataRequest(
        body=m.DecryptDataRequestBody(cipher_text=sealed)))
    assert opened.plain_text == "via sdk"

    bad = iam.KeystoneCreateUserTokenByPasswordRequest(body=request.body)
    bad.body.auth.identity.password.user.password = "not the password"
    with pytest.raises(ClientRequestException) as info:
        client.keystone_create_user_token_by_password(bad)
    assert (info.value.status_code, info.value.error_msg) == (401, "The username or password is wrong.")

    expect(401, "APIG.0301", describe, token_client(served, token + "x", tenant["project_id"]), key_id)


def test_users_and_projects_by_id_and_the_projects_scope(served, tenant):
    token, body = get_token(served, tenant, user=None, user_id=tenant["user"]["id"], domain=None,
                            project=None, project_id=tenant["project_id"])
    assert body["project"]["name"] == "ap-guangzhou"
    token2, body2 = get_token(served, tenant, domain=None, domain_id=tenant["uin"],
                              project="ap-shanghai")
    shanghai = body2["project"]["id"]
    assert shanghai != tenant["project_id"]

    assert kms(served, token2, shanghai, "list-keys").status_code == 200
    # A token is good in its own project only: not in the account's other project, not in
    # another account's.
    r = kms(served, token2, tenant["project_id"], "list-keys")
    assert (r.status_code, r.json()["error"]["error_code"]) == (403, "KMS.0306")
    r = kms(served, token, PROJECT_ID, "list-keys")
    assert (r.status_code, r.json()["error"]["error_code"]) == (403, "KMS.0306")
    # ...nor with a signature's project header saying otherwise.
    r = requests.post(f"{served.url}/v1.0/{tenant['project_id']}/kms/list-keys", data="{}",
                      headers={"X-Auth-Token": token, "X-Project-Id": shanghai}, timeout=30)
    assert r.status_code == 403

    # A project that is not the account's is refused when asked for.
    r = post_token(served, token_body("alice", tenant["uin"], project_id=PROJECT_ID))
    assert r.status_code == 400
    r = post_token(served, token_body("alice", tenant["uin"], project="mars-1"))
    assert r.status_code == 400
    # The domain's id and name must agree when both are given.
    r = post_token(served, token_body("alice", tenant["uin"], domain_id="100000000001",
                                      project="ap-guangzhou"))
    assert r.status_code == 401

    # IAM's project listing takes a token too.
    r = requests.get(served.url + "/v3/projects", headers={"X-Auth-Token": token}, timeout=30)
    assert r.status_code == 200 and tenant["project_id"] in {p["id"] for p in r.json()["projects"]}


def timed(served, body):
    started = time.perf_counter()
    r = post_token(served, body)
    return r, time.perf_counter() - started


def test_a_wrong_password_and_an_unknown_user_answer_alike(served, tenant, tmp_path):
    make_user(served, tenant, "no-password", password=None)
    cases = {
        "wrong password": token_body("alice", tenant["uin"], password="wrong password!",
                                     project="ap-guangzhou"),
        "unknown user": token_body("nobody", tenant["uin"], project="ap-guangzhou"),
        "unknown user id": token_body(user_id="999999999999", project="ap-guangzhou"),
        "unknown domain": token_body("alice", "123456789012", project="ap-guangzhou"),
        "domain not a number": token_body("alice", "example", project="ap-guangzhou"),
        "user without a password": token_body("no-password", tenant["uin"], project="ap-guangzhou"),
    }
    times = {}
    for name, body in cases.items():
        runs = [timed(served, body) for _ in range(5)]
        for r, _ in runs:
            assert r.status_code == 401, (name, r.text)
            assert r.json() == {"error": {"code": 401, "message": "The username or password is wrong.",
                                          "title": "Unauthorized"}}, name
            assert "X-Subject-Token" not in r.headers
        times[name] = statistics.median(t for _, t in runs)
    # Every case costs one password check: none answers in a small fraction of another's time
    # (without the decoy check an unknown user would answer some twenty times faster).
    fastest, slowest = min(times.values()), max(times.values())
    assert fastest > slowest / 5, times


def test_bad_bodies_are_refused_before_any_password_check(served, tenant):
    for body in [b"not json", b"[]", {"auth": {}},
                 token_body("alice", tenant["uin"], methods=("password", "totp"), project="ap-guangzhou"),
                 token_body("alice", tenant["uin"], methods=("token",), project="ap-guangzhou"),
                 token_body("alice", None, project="ap-guangzhou"),
                 {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                     "name": "alice", "password": PASSWORD, "domain": {"name": tenant["uin"]}}}}}},
                 {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                     "name": "alice", "password": PASSWORD, "domain": {"name": tenant["uin"]}}}},
                     "scope": {"domain": {"name": tenant["uin"]}}}}]:
        r = post_token(served, body)
        assert r.status_code == 400, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == 400 and error["title"] == "Bad Request" and error["message"]
    r = post_token(served, b'{"auth": "' + b"x" * 10_000 + b'"}')
    assert r.status_code == 413
    # Other methods on the path are not IAM's token issuing.
    assert requests.get(served.url + "/v3/auth/tokens", timeout=30).status_code == 401


def test_a_disabled_deleted_or_repassworded_user_is_refused_at_once(served, tenant):
    user = make_user(served, tenant, "bob")
    uin, project = tenant["uin"], tenant["project_id"]
    token, _ = get_token(served, tenant, user="bob")
    assert kms(served, token, project, "list-keys").status_code == 200

    admin("user", "disable", "--account", uin, user["id"], server=served)
    refused_token(kms(served, token, project, "list-keys"))
    # The right password of a disabled user is told so; a wrong one is not.
    r = post_token(served, token_body("bob", uin, project="ap-guangzhou"))
    assert r.status_code == 401 and r.json()["error"]["message"] == "The user or its account is disabled."
    r = post_token(served, token_body("bob", uin, password="wrong password!", project="ap-guangzhou"))
    assert r.json()["error"]["message"] == "The username or password is wrong."
    admin("user", "enable", "--account", uin, user["id"], server=served)
    assert kms(served, token, project, "list-keys").status_code == 200

    admin("account", "disable", uin, server=served)
    refused_token(kms(served, token, project, "list-keys"))
    admin("account", "enable", uin, server=served)
    assert kms(served, token, project, "list-keys").status_code == 200

    # A new password ends the tokens issued under the old one.
    set_password(served, uin, user["id"], "another long password")
    refused_token(kms(served, token, project, "list-keys"))
    token, _ = get_token(served, tenant, user="bob", password="another long password")
    assert kms(served, token, project, "list-keys").status_code == 200
    admin("user", "clear-password", "--account", uin, user["id"], server=served)
    refused_token(kms(served, token, project, "list-keys"))
    set_password(served, uin, user["id"], "another long password")
    token, _ = get_token(served, tenant, user="bob", password="another long password")

    admin("user", "delete", "--account", uin, user["id"], server=served)
    refused_token(kms(served, token, project, "list-keys"))
    r = post_token(served, token_body("bob", uin, password="another long password", project="ap-guangzhou"))
    assert r.status_code == 401


def test_forged_and_garbled_tokens_are_refused(served, tenant):
    token, _ = get_token(served, tenant)
    project = tenant["project_id"]
    head, claims, mac = token.split(".")
    for bad in [token[:-2], f"{head}.{claims[:-4]}AAAA.{mac}", "MIIatAYJKoZIhvcNAQcCoIIapTCCGqECAQEx",
                "x" * 5000, ""]:
        refused_token(kms(served, bad, project, "list-keys"))


def test_a_token_works_until_it_expires_and_across_restarts(tmp_path):
    proc = KmsdProcess(extra_args=["--token-lifetime-secs", "3"]).start()
    try:
        tenant = new_tenant(proc, tmp_path)
        tenant["user"] = make_user(proc, tenant, "carol")
        token, body = get_token(proc, tenant, user="carol")
        issued = time.monotonic()
        assert body["expires_at"] > body["issued_at"]
        assert kms(proc, token, tenant["project_id"], "list-keys").status_code == 200
        proc.stop()
        proc.start()
        assert kms(proc, token, tenant["project_id"], "list-keys").status_code == 200, \
            "the token key survives a restart"
        time.sleep(max(0.0, issued + 4.2 - time.monotonic()))
        refused_token(kms(proc, token, tenant["project_id"], "list-keys"))
        fresh, _ = get_token(proc, tenant, user="carol")
        assert kms(proc, fresh, tenant["project_id"], "list-keys").status_code == 200
    finally:
        proc.cleanup()


def test_the_lifetime_setting_is_bounded(tmp_path):
    for bad in ["0", "86401"]:
        done = subprocess.run([KMSD_BIN, "serve", "--data-dir", str(tmp_path / "d"),
                               "--token-lifetime-secs", bad], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode != 0 and "--token-lifetime-secs" in done.stderr
        assert not (tmp_path / "d").exists()


def test_another_server_does_not_accept_this_ones_tokens(served, tenant):
    token, _ = get_token(served, tenant)
    other = KmsdProcess().start()
    try:
        refused_token(kms(other, token, PROJECT_ID, "list-keys"))
    finally:
        other.cleanup()


def test_ten_wrong_passwords_lock_a_login_whether_or_not_it_is_a_user(served, tenant):
    make_user(served, tenant, "dave")
    locked = {"error": {"code": 401, "title": "Unauthorized",
                        "message": "Too many wrong passwords: this login is locked for 15 minutes."}}
    for name in ("dave", "no-such-user"):
        wrong = token_body(name, tenant["uin"], password="wrong password!", project="ap-guangzhou")
        for _ in range(10):
            assert post_token(served, wrong).json()["error"]["message"] == "The username or password is wrong."
        assert post_token(served, wrong).json() == locked
    right = post_token(served, token_body("dave", tenant["uin"], project="ap-guangzhou"))
    assert right.json() == locked
    # Other logins are not affected.
    make_user(served, tenant, "erin")
    assert post_token(served, token_body("erin", tenant["uin"], project="ap-guangzhou")).status_code == 201
