"""Accounts, users and credentials, made with `kmsd admin` and used through both official SDKs:
accounts are isolated from one another, and a disabled, rotated or deleted credential (or a
disabled user or account) is refused at once on both dialects. The admin API answers only the
operator token, never an account's credential; no secret reaches the logs, the audit trail or a
listing."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import (KMSD_BIN, PROJECT_ID, SECRET_ID, SECRET_KEY, KmsdProcess, call, create_key,
                      expect_error, make_client, tc3_headers)
from huawei import describe, expect, huawei_client, new_key
from huaweicloudsdkkms.v2 import model as m


def admin(*args, server=None, data_dir=None, token_file=None, env=None, check=True, output="json"):
    """Runs `kmsd admin ARGS` against a server (its token file by default) or a data dir; answers
    the parsed JSON output, or the completed process when `check` is False."""
    cmd = [KMSD_BIN, "admin", "--output", output]
    if server is not None:
        cmd += ["--endpoint", server.url,
                "--token-file", str(token_file or server.data_dir / "admin-token")]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    run_env.update(env or {})
    done = subprocess.run(cmd + list(args), capture_output=True, text=True, env=run_env, timeout=60)
    if not check:
        return done
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if output == "json" else done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    audit_path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    proc = KmsdProcess(extra_args=["--audit-log", str(audit_path), "--log-format", "json"],
                       env={"KMSD_LOG": "debug"}).start()
    proc.audit_path = audit_path
    yield proc
    proc.cleanup()


FULL_ACCESS = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:*"], "resource": ["*"]}]}


def attach_policy(served, uin, user_id, name, document, language, tmp_dir):
    """Stores `document` as policy `name` of the account and attaches it to the user."""
    path = Path(tmp_dir) / f"{name}.json"
    path.write_text(json.dumps(document))
    admin("policy", "create", "--account", uin, name, "--language", language, "--document", str(path),
          server=served)
    admin("policy", "attach", "--account", uin, "--user", user_id, name, server=served)


@pytest.fixture(scope="module")
def tenant(served, tmp_path_factory):
    """A new account, a user in it with a policy allowing every KMS action, and its credential."""
    account = admin("account", "create", server=served)
    uin = str(account["uin"])
    user = admin("user", "create", "--account", uin, "app-1", server=served)
    attach_policy(served, uin, user["id"], "full-access", FULL_ACCESS, "cam", tmp_path_factory.mktemp("policy"))
    credential = admin("credential", "create", "--account", uin, "--user", user["id"], server=served)
    return {"account": account, "uin": uin, "user": user, "credential": credential}


def tencent(served, secret_id, secret_key):
    return make_client(served.endpoint, secret_id=secret_id, secret_key=secret_key)


def huawei(served, secret_id, secret_key, project_id):
    return huawei_client(served.endpoint, ak=secret_id, sk=secret_key, project_id=project_id)


def new_credential(served, tenant, user=True):
    args = ["credential", "create", "--account", tenant["uin"]]
    if user:
        args += ["--user", tenant["user"]["id"]]
    return admin(*args, server=served)


def clients(served, tenant, credential):
    return (tencent(served, credential["secret_id"], credential["secret_key"]),
            huawei(served, credential["secret_id"], credential["secret_key"], tenant["account"]["project_id"]))


def works(tc, hw):
    call(tc, "ListKeys")
    hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody()))


def refused(tc, hw, tencent_code):
    expect_error(tencent_code, tc, "ListKeys")
    expect(401, "APIG.0301", hw.list_keys, m.ListKeysRequest(body=m.ListKeysRequestBody()))


def test_a_user_credential_works_through_both_sdks_inside_its_account_only(served, tenant):
    tc, hw = clients(served, tenant, tenant["credential"])
    key_id = create_key(tc).KeyId
    meta = call(tc, "DescribeKey", KeyId=key_id).KeyMetadata
    assert str(meta.CreatorUin) == tenant["uin"]
    assert describe(hw, key_id).key_id == key_id
    hw_key = new_key(hw)
    assert call(tc, "DescribeKey", KeyId=hw_key).KeyMetadata.KeyId == hw_key

    # The root account sees none of the new account's keys, and the new account none of root's.
    root_tc, root_hw = served.client(), huawei_client(served.endpoint)
    root_key = create_key(root_tc).KeyId
    for k in (key_id, hw_key):
        expect_error("ResourceUnavailable.CmkNotFound", root_tc, "DescribeKey", KeyId=k)
        expect(404, "KMS.0207", describe, root_hw, k)
    expect_error("ResourceUnavailable.CmkNotFound", tc, "DescribeKey", KeyId=root_key)
    expect(404, "KMS.0207", describe, hw, root_key)
    listed = {k.KeyId for k in call(tc, "ListKeys", Limit=200).Keys}
    assert root_key not in listed and {key_id, hw_key} <= listed

    # The new account's root credential reaches the same keys; the root project id does not.
    root_of_tenant = {"secret_id": tenant["account"]["secret_id"],
                      "secret_key": tenant["account"]["secret_key"]}
    ttc, thw = clients(served, tenant, root_of_tenant)
    assert call(ttc, "DescribeKey", KeyId=key_id).KeyMetadata.KeyId == key_id
    assert describe(thw, hw_key).key_id == hw_key
    foreign = huawei(served, root_of_tenant["secret_id"], root_of_tenant["secret_key"], PROJECT_ID)
    expect(403, "KMS.0306", describe, foreign, hw_key)


def test_disable_enable_rotate_and_delete_take_effect_at_once(served, tenant):
    credential = new_credential(served, tenant)
    sid = credential["secret_id"]
    tc, hw = clients(served, tenant, credential)
    works(tc, hw)

    admin("credential", "disable", "--account", tenant["uin"], sid, server=served)
    refused(tc, hw, "AuthFailure.SecretIdNotFound")
    admin("credential", "enable", "--account", tenant["uin"], sid, server=served)
    works(tc, hw)

    rotated = admin("credential", "rotate", "--account", tenant["uin"], sid, server=served)
    assert rotated["secret_id"] == sid and rotated["secret_key"] != credential["secret_key"]
    refused(tc, hw, "AuthFailure.SignatureFailure")
    works(*clients(served, tenant, rotated))

    admin("credential", "delete", "--account", tenant["uin"], sid, server=served)
    refused(*clients(served, tenant, rotated), "AuthFailure.SecretIdNotFound")
    listed = admin("credential", "list", "--account", tenant["uin"], server=served)["credentials"]
    assert sid not in {c["secret_id"] for c in listed}


def test_a_disabled_or_deleted_user_and_a_disabled_account_are_refused_at_once(served, tenant):
    user = admin("user", "create", "--account", tenant["uin"], "short-lived", server=served)
    admin("policy", "attach", "--account", tenant["uin"], "--user", user["id"], "full-access", server=served)
    credential = admin("credential", "create", "--account", tenant["uin"], "--user", user["id"],
                       server=served)
    tc, hw = clients(served, tenant, credential)
    works(tc, hw)
    admin("user", "disable", "--account", tenant["uin"], user["id"], server=served)
    refused(tc, hw, "AuthFailure.SecretIdNotFound")
    admin("user", "enable", "--account", tenant["uin"], user["id"], server=served)
    works(tc, hw)

    other = admin("account", "create", server=served)
    otc, ohw = clients(served, {"account": other}, other)
    works(otc, ohw)
    admin("account", "disable", str(other["uin"]), server=served)
    refused(otc, ohw, "AuthFailure.SecretIdNotFound")
    admin("account", "enable", str(other["uin"]), server=served)
    works(otc, ohw)

    admin("user", "delete", "--account", tenant["uin"], user["id"], server=served)
    refused(tc, hw, "AuthFailure.SecretIdNotFound")
    users = admin("user", "list", "--account", tenant["uin"], server=served)["users"]
    assert user["id"] not in {u["id"] for u in users}


def test_names_are_unique_in_an_account_and_errors_speak_plainly(served, tenant):
    done = admin("user", "create", "--account", tenant["uin"], "app-1", server=served, check=False)
    assert done.returncode == 1
    assert "already exists" in done.stderr and "app-1" in done.stderr, done.stderr
    done = admin("user", "create", "--account", tenant["uin"], "no spaces", server=served, check=False)
    assert done.returncode == 1 and "1 to 64 characters" in done.stderr, done.stderr
    done = admin("credential", "disable", "--account", tenant["uin"], "AKIDnope", server=served,
                 check=False)
    assert done.returncode == 1 and "was not found" in done.stderr, done.stderr
    # A credential of one account is not another's to manage.
    done = admin("credential", "disable", "--account", tenant["uin"], SECRET_ID, server=served,
                 check=False)
    assert done.returncode == 1 and "was not found" in done.stderr, done.stderr
    done = admin("account", "list", check=False)
    assert done.returncode == 1 and "--endpoint" in done.stderr and "--data-dir" in done.stderr


def test_the_admin_api_refuses_account_credentials_and_wrong_tokens(served, tenant, tmp_path):
    url = served.url + "/admin/v1/accounts"
    assert requests.get(url).status_code == 401
    for token in (SECRET_KEY, SECRET_ID, tenant["credential"]["secret_key"], "kmsadm-wrong"):
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
        assert answer.json()["error"]["code"] == "Unauthorized"
    # A request signed as the Tencent API signs it is not an admin request either.
    body = b"{}"
    headers = tc3_headers(served.endpoint, "ListKeys", body)
    assert requests.post(url, data=body, headers=headers).status_code == 401
    wrong = tmp_path / "wrong-token"
    wrong.write_text("kmsadm-" + "x" * 43)
    done = admin("account", "list", server=served, token_file=wrong, check=False)
    assert done.returncode == 1 and "not valid" in done.stderr, done.stderr
    mode = (served.data_dir / "admin-token").stat().st_mode & 0o777
    assert mode == 0o600


def test_listings_show_no_secret_and_tables_read_well(served, tenant):
    shown = admin("account", "show", tenant["uin"], server=served)
    text = json.dumps(shown)
    assert tenant["credential"]["secret_key"] not in text
    assert tenant["account"]["secret_key"] not in text
    assert {c["secret_id"] for c in shown["credentials"]} >= {tenant["credential"]["secret_id"],
                                                               tenant["account"]["secret_id"]}
    accounts = admin("account", "list", server=served)["accounts"]
    assert tenant["uin"] in {str(a["uin"]) for a in accounts}
    table = admin("credential", "list", "--account", tenant["uin"], server=served, output="table")
    assert table.splitlines()[0].split()[:2] == ["SECRET_ID", "ACCOUNT"]
    assert tenant["credential"]["secret_id"] in table
    # Times read as UTC dates, the JSON's Unix seconds.
    header = table.splitlines()[0].split()
    row = next(line.split() for line in table.splitlines()
               if tenant["credential"]["secret_id"] in line)
    created = row[header.index("CREATED_AT")]
    listed = {c["secret_id"]: c for c in admin("credential", "list", "--account", tenant["uin"],
                                               server=served)["credentials"]}
    seconds = listed[tenant["credential"]["secret_id"]]["created_at"]
    assert created == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)), row


def test_policies_are_stored_as_documents_and_attached_to_users(served, tenant, tmp_path):
    doc = {"version": "2.0", "statement": [{"effect": "allow", "action": ["kms:Encrypt"],
                                            "resource": ["*"]}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    uin, user = tenant["uin"], tenant["user"]["id"]
    created = admin("policy", "create", "--account", uin, "encrypt-only", "--language", "cam",
                    "--document", str(path), server=served)
    assert json.loads(created["document"]) == doc
    admin("policy", "attach", "--account", uin, "--user", user, "encrypt-only", server=served)
    assert admin("user", "show", "--account", uin, user, server=served)["policies"] == ["full-access", "encrypt-only"]
    done = admin("policy", "delete", "--account", uin, "encrypt-only", server=served, check=False)
    assert done.returncode == 1 and "detach it first" in done.stderr
    admin("policy", "detach", "--account", uin, "--user", user, "encrypt-only", server=served)
    admin("policy", "delete", "--account", uin, "encrypt-only", server=served)
    path.write_text("[1, 2]")
    done = admin("policy", "create", "--account", uin, "bad", "--language", "iam",
                 "--document", str(path), server=served, check=False)
    assert done.returncode == 1 and "JSON object" in done.stderr
    path.write_text(json.dumps({"Version": "1.1", "pad": "x" * 6200}))
    done = admin("policy", "create", "--account", uin, "big", "--language", "iam",
                 "--document", str(path), server=served, check=False)
    assert done.returncode == 1 and "6144" in done.stderr


def test_passwords_are_accepted_and_never_shown(served, tenant):
    uin, user = tenant["uin"], tenant["user"]["id"]
    cmd = [KMSD_BIN, "admin", "--endpoint", served.url, "--token-file",
           str(served.data_dir / "admin-token"), "user", "set-password", "--account", uin, user]
    done = subprocess.run(cmd, input="a long enough password\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shown = admin("user", "show", "--account", uin, user, server=served)
    assert shown["has_password"] is True
    assert "password" not in json.dumps({k: v for k, v in shown.items() if k != "has_password"})


def test_the_audit_trail_names_the_user_and_holds_no_secret(served, tenant):
    tc, _ = clients(served, tenant, tenant["credential"])
    call(tc, "ListKeys")
    time.sleep(0.2)
    records = [json.loads(line) for line in served.audit_path.read_text().splitlines()]
    mine = [r for r in records if r.get("credential_id") == tenant["credential"]["secret_id"]
            and r["dialect"] == "tencent"]
    assert mine and all(r["user"] == tenant["user"]["id"] for r in mine)
    assert all(str(r["account"]) == tenant["uin"] for r in mine)
    root = [r for r in records if r.get("credential_id") == SECRET_ID and r["outcome"] == "ok"]
    assert root and all(r["user"] is None for r in root)
    operator = [r for r in records if r["dialect"] == "admin"]
    assert any(r["action"] == "CreateCredential" and str(r["account"]) == tenant["uin"]
               for r in operator)
    everything = served.audit_path.read_text() + served.log_path.read_text()
    for secret in (tenant["credential"]["secret_key"], tenant["account"]["secret_key"],
                   (served.data_dir / "admin-token").read_text().strip()):
        assert secret not in everything


def test_the_first_account_is_made_before_any_server_runs(tmp_path):
    data_dir = tmp_path / "data"
    env = {"KMSD_ROOT_SECRET_ID": SECRET_ID, "KMSD_ROOT_SECRET_KEY": SECRET_KEY,
           "KMSD_ROOT_PROJECT_ID": PROJECT_ID}
    account = admin("account", "create", data_dir=data_dir, env=env)
    assert (data_dir / "admin-token").stat().st_mode & 0o777 == 0o600
    proc = KmsdProcess(data_dir=data_dir).start()
    try:
        tc = tencent(proc, account["secret_id"], account["secret_key"])
        hw = huawei(proc, account["secret_id"], account["secret_key"], account["project_id"])
        key_id = create_key(tc).KeyId
        assert describe(hw, key_id).key_id == key_id
        call(proc.client(), "ListKeys")
        # While the server holds the data dir, the command says to go through it.
        done = admin("account", "list", data_dir=data_dir, check=False)
        assert done.returncode == 1 and "--endpoint" in done.stderr, done.stderr
        listed = admin("account", "list", server=proc)["accounts"]
        assert {str(a["uin"]) for a in listed} >= {str(account["uin"])}
    finally:
        proc.cleanup()


def test_the_root_credential_rotates(fresh_server):
    proc = fresh_server.start()
    root_tc, root_hw = proc.client(), huawei_client(proc.endpoint)
    works(root_tc, root_hw)
    rotated = admin("root", "rotate", server=proc)
    assert rotated["secret_id"] == SECRET_ID and rotated["secret_key"] != SECRET_KEY
    refused(root_tc, root_hw, "AuthFailure.SignatureFailure")
    works(proc.client(secret_key=rotated["secret_key"]),
          huawei_client(proc.endpoint, sk=rotated["secret_key"]))
    # The rotation survives a restart.
    proc.stop()
    proc.start()
    works(proc.client(secret_key=rotated["secret_key"]),
          huawei_client(proc.endpoint, sk=rotated["secret_key"]))
    expect_error("AuthFailure.SignatureFailure", proc.client(), "ListKeys")


def test_an_existing_data_dir_keeps_its_root_credential(fresh_server):
    proc = fresh_server.start()
    key_id = create_key(proc.client()).KeyId
    proc.stop()
    proc.start()
    assert call(proc.client(), "DescribeKey", KeyId=key_id).KeyMetadata.KeyId == key_id
    assert describe(huawei_client(proc.endpoint), key_id).key_id == key_id
    creds = admin("credential", "list", "--account",
                  str(call(proc.client(), "DescribeKey", KeyId=key_id).KeyMetadata.CreatorUin),
                  server=proc)["credentials"]
    assert [c["secret_id"] for c in creds] == [SECRET_ID]


def non_loopback_address():
    """An address of this host other than loopback, or None when it has none."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


class ExposedKmsd(KmsdProcess):
    """A kmsd listening on a non-loopback address over plain HTTP."""

    def __init__(self, address, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    @property
    def endpoint(self):
        return f"{self.address}:{self.port}"


def test_plain_http_serves_the_admin_api_to_this_host_only():
    address = non_loopback_address()
    if address is None:
        pytest.skip("this host has no address but loopback")
    proc = ExposedKmsd(address).start()
    try:
        token = (proc.data_dir / "admin-token").read_text().strip()
        answer = requests.get(proc.url + "/admin/v1/accounts",
                              headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "TransportRefused"
        assert "--tls-cert" in answer.json()["error"]["message"]
        call(proc.client(), "ListKeys")
    finally:
        proc.cleanup()


def test_the_admin_command_over_https(tmp_path):
    from test_tls import ThrowawayCa, TlsKmsd
    ca = ThrowawayCa(tmp_path)
    proc = TlsKmsd(ca).start()
    try:
        token = str(proc.data_dir / "admin-token")
        base = [KMSD_BIN, "admin", "--endpoint", proc.url, "--token-file", token, "--output", "json"]
        done = subprocess.run(base + ["--ca-cert", str(ca.bundle), "account", "list"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["accounts"]
        done = subprocess.run(base + ["account", "list"], capture_output=True, text=True)
        assert done.returncode == 1 and "--ca-cert" in done.stderr, done.stderr
    finally:
        proc.cleanup()


def test_users_are_named_by_id_or_name(served, tenant):
    uin = tenant["uin"]
    user = admin("user", "create", "--account", uin, "by-name", server=served)
    by_name = admin("user", "show", "--account", uin, "by-name", server=served)
    assert by_name["id"] == user["id"]
    credential = admin("credential", "create", "--account", uin, "--user", "by-name", server=served)
    assert credential["user"] == user["id"]
    admin("user", "delete", "--account", uin, "by-name", server=served)
    done = admin("user", "show", "--account", uin, "by-name", server=served, check=False)
    assert done.returncode == 1 and "was not found" in done.stderr


def test_a_lost_admin_token_is_reset_on_the_data_dir(fresh_server):
    proc = fresh_server.start()
    old = (proc.data_dir / "admin-token").read_text()
    done = admin("token", "reset", server=proc, check=False)
    assert done.returncode == 1 and "--data-dir" in done.stderr, done.stderr
    proc.stop()
    reset = admin("token", "reset", data_dir=proc.data_dir)
    assert reset["token_file"].endswith("admin-token")
    new = (proc.data_dir / "admin-token").read_text()
    assert new != old
    proc.start()
    admin("account", "list", server=proc)
    stale = proc.data_dir.parent / (proc.data_dir.name + "-stale-token")
    stale.write_text(old)
    try:
        done = admin("account", "list", server=proc, token_file=stale, check=False)
        assert done.returncode == 1 and "not valid" in done.stderr
    finally:
        stale.unlink()


def test_the_admin_command_sends_no_token_over_plain_http_beyond_this_host(served):
    """Refused before connecting, saying why and what to do; loopback over http still works."""
    import socket
    address = non_loopback_address() or "192.0.2.1"
    with socket.socket() as listener:
        listener.bind((address if address != "192.0.2.1" else "127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        cmd = [KMSD_BIN, "admin", "--endpoint", f"http://{address}:{port}", "--token-file",
               str(served.data_dir / "admin-token"), "account", "list"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert "refusing to send the admin token over plain HTTP" in done.stderr, done.stderr
        assert f"https://{address}:{port}" in done.stderr and "--ca-cert" in done.stderr
        with pytest.raises(socket.timeout):
            listener.accept()
    assert admin("account", "list", server=served)["accounts"]
    by_name = [KMSD_BIN, "admin", "--output", "json", "--endpoint", f"http://localhost:{served.port}",
               "--token-file", str(served.data_dir / "admin-token"), "account", "list"]
    done = subprocess.run(by_name, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and json.loads(done.stdout)["accounts"], done.stderr
