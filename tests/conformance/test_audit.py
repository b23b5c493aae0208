"""The audit trail: one JSON line per API call, answered, refused or malformed, naming who asked
for what and how it ended, never a secret; what happens when it cannot be written; and the JSON
server log."""

import json
import signal
import stat
import threading
import time

import pytest
import requests

from conftest import (PROJECT_ID, REGION, SECRET_ID, SECRET_KEY, KmsdProcess, b64, call, create_key,
                      expect_error, tc3_post)

PLAINTEXT = b"audit must never hold this"


class AuditTrail:
    """The records appended to an audit file since the last look."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def new_records(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return [json.loads(line) for line in data.decode().splitlines()]

    def one_record(self):
        """The single record written since the last look (it is written before the answer)."""
        records = self.new_records()
        assert len(records) == 1, records
        return records[0]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    audit_path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    proc = KmsdProcess(extra_args=["--audit-log", str(audit_path), "--log-format", "json"],
                       env={"KMSD_LOG": "debug"}).start()
    trail = AuditTrail(audit_path)
    yield proc, trail
    proc.cleanup()


@pytest.fixture
def trail(audited):
    proc, trail = audited
    trail.new_records()
    return trail


@pytest.fixture(scope="module")
def account(audited):
    proc, _ = audited
    key_id = create_key(proc.client()).KeyId
    return call(proc.client(), "DescribeKey", KeyId=key_id).KeyMetadata.CreatorUin


RECORD_FIELDS = {"time", "request_id", "dialect", "action", "account", "user", "credential_id", "region",
                 "source", "method", "path", "resources", "outcome", "status", "latency_us"}


def assert_shape(record):
    assert set(record) == RECORD_FIELDS, record
    assert record["time"].endswith("Z") and record["time"][10] == "T"
    assert isinstance(record["latency_us"], int) and record["latency_us"] >= 0
    host, port = record["source"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_an_answered_call(audited, trail, account):
    proc, _ = audited
    kms = proc.client()
    key_id = create_key(kms).KeyId
    trail.new_records()
    answer = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(PLAINTEXT))
    record = trail.one_record()
    assert_shape(record)
    assert record["request_id"] == answer.RequestId
    assert record["dialect"] == "tencent"
    assert record["action"] == "Encrypt"
    assert record["account"] == account
    assert record["credential_id"] == SECRET_ID
    assert record["region"] == REGION
    assert record["resources"] == [key_id]
    assert record["outcome"] == "ok"
    assert (record["method"], record["path"], record["status"]) == ("POST", "/", 200)


def test_a_call_refused_for_its_signature(audited, trail):
    proc, _ = audited
    error = expect_error("AuthFailure.SignatureFailure", proc.client(secret_key="wrong" + SECRET_KEY[5:]),
                         "DescribeKey", KeyId="not-touched")
    record = trail.one_record()
    assert_shape(record)
    assert record["request_id"] == error.requestId
    assert record["action"] == "DescribeKey"
    assert record["account"] is None, "an unverified signature names no account"
    assert record["credential_id"] == SECRET_ID, "the credential presented is named"
    assert record["region"] == REGION
    assert record["resources"] == [], "parameters of a refused call are not taken as touched"
    assert record["outcome"] == "AuthFailure.SignatureFailure"


def test_a_malformed_call(audited, trail, account):
    proc, _ = audited
    # The signature is checked before the body is parsed, so the caller is known.
    error = tc3_post(proc.endpoint, "Encrypt", b'{"KeyId": ')
    assert error["Error"]["Code"] == "InvalidParameter"
    record = trail.one_record()
    assert_shape(record)
    assert record["request_id"] == error["RequestId"]
    assert (record["dialect"], record["action"]) == ("tencent", "Encrypt")
    assert (record["account"], record["credential_id"]) == (account, SECRET_ID)
    assert record["resources"] == []
    assert record["outcome"] == "InvalidParameter"


def test_a_malformed_unsigned_call(audited, trail):
    proc, _ = audited
    r = requests.post(proc.url + "/", data=b'{"KeyId": ', timeout=10,
                      headers={"Content-Type": "application/json", "X-TC-Action": "Encrypt"})
    assert r.json()["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    record = trail.one_record()
    assert_shape(record)
    assert (record["dialect"], record["action"]) == ("tencent", "Encrypt")
    assert record["account"] is None and record["credential_id"] is None
    assert record["outcome"] == "AuthFailure.InvalidAuthorization"


def test_an_invalid_parameter_after_authentication(audited, trail, account):
    proc, _ = audited
    error = tc3_post(proc.endpoint, "ListKeys", {"Surprise": 1})
    assert error["Error"]["Code"] == "UnknownParameter"
    record = trail.one_record()
    assert (record["action"], record["account"], record["outcome"]) == ("ListKeys", account, "UnknownParameter")


def test_a_legacy_signed_get(audited, trail, account):
    proc, _ = audited
    kms = proc.client(sign_method="HmacSHA256", req_method="GET")
    key_id = create_key(proc.client()).KeyId
    trail.new_records()
    answer = call(kms, "DescribeKeys", KeyIds=[key_id])
    record = trail.one_record()
    assert_shape(record)
    assert record["request_id"] == answer.RequestId
    assert (record["method"], record["action"], record["outcome"]) == ("GET", "DescribeKeys", "ok")
    assert (record["account"], record["credential_id"], record["region"]) == (account, SECRET_ID, REGION)
    assert record["resources"] == [key_id]


def test_an_unknown_path(audited, trail):
    proc, _ = audited
    r = requests.post(proc.url + "/v9/nothing/here", data=b"{}", timeout=10)
    assert r.status_code == 404
    record = trail.one_record()
    assert_shape(record)
    assert record["request_id"] == r.json()["request_id"]
    assert record["dialect"] is None and record["action"] is None and record["account"] is None
    assert (record["path"], record["status"], record["outcome"]) == ("/v9/nothing/here", 404, "APIG.0101")


def test_an_oversize_body(audited, trail):
    proc, _ = audited
    error = tc3_post(proc.endpoint, "Encrypt", b'{"Plaintext":"' + b"A" * (1 << 20) + b'"}')
    assert error["Error"]["Code"] == "RequestSizeLimitExceeded"
    record = trail.one_record()
    assert record["request_id"] == error["RequestId"]
    assert (record["dialect"], record["outcome"]) == ("tencent", "RequestSizeLimitExceeded")


def test_parallel_calls_write_whole_records(audited, trail):
    proc, _ = audited
    key_id = create_key(proc.client()).KeyId
    trail.new_records()
    request_ids, failures = [], []

    def worker():
        kms = proc.client()
        try:
            for _ in range(25):
                request_ids.append(call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x")).RequestId)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    records = trail.new_records()
    assert sorted(r["request_id"] for r in records) == sorted(request_ids)
    assert len(set(request_ids)) == 200


def test_no_secret_in_the_audit_trail_or_the_server_log(audited, trail):
    proc, _ = audited
    kms = proc.client()
    key_id = create_key(kms).KeyId
    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(PLAINTEXT)).CiphertextBlob
    assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == b64(PLAINTEXT)
    data_key = call(kms, "GenerateDataKey", KeyId=key_id, NumberOfBytes=32).Plaintext
    expect_error("AuthFailure.SignatureFailure", proc.client(secret_key="wrong" + SECRET_KEY[5:]), "ListKeys")
    records = trail.new_records()
    assert len(records) == 5
    secrets = [SECRET_KEY, b64(PLAINTEXT), PLAINTEXT.decode(), data_key]
    for name, text in [("audit trail", trail.path.read_text()), ("server log", proc.log_path.read_text())]:
        for secret in secrets:
            assert secret not in text, f"{name} holds a secret"


def test_the_audit_file_is_private(audited):
    _, trail = audited
    assert stat.S_IMODE(trail.path.stat().st_mode) == 0o600


def test_the_server_log_is_json_lines(audited):
    proc, _ = audited
    lines = proc.log_path.read_text().splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "message"} <= set(entry), entry
    assert any(json.loads(line)["message"] == "kmsd is serving plain HTTP" for line in lines)


def test_audit_to_standard_output(tmp_path):
    # The test harness sends the server's stdout and stderr to one file; records are told apart by
    # their fields.
    proc = KmsdProcess(extra_args=["--audit-log", "-", "--log-format", "json"]).start()
    try:
        answer = call(proc.client(), "GetServiceStatus")
        records = [json.loads(line) for line in proc.log_path.read_text().splitlines()]
        audit = [r for r in records if "request_id" in r and "outcome" in r]
        assert [(r["request_id"], r["action"]) for r in audit] == [(answer.RequestId, "GetServiceStatus")]
    finally:
        proc.cleanup()


def test_an_unwritable_trail_refuses_calls():
    proc = KmsdProcess(extra_args=["--audit-log", "/dev/full"]).start()
    try:
        kms = proc.client()
        # The first failed write shows only after the call ran; from then on calls are refused
        # before they run.
        expect_error("ServiceUnavailable", kms, "ListKeys")
        expect_error("ServiceUnavailable", kms, "CreateKey", Alias="never-made")
        assert "cannot write audit records" in proc.log_path.read_text()
        health = requests.get(proc.url + "/healthz", timeout=5)
        assert (health.status_code, health.text) == (503, "audit records cannot be written")
        proc.stop()
        proc.extra_args = []
        proc.start()
        assert call(proc.client(), "ListKeys").TotalCount == 0, "the refused CreateKey did not run"
    finally:
        proc.cleanup()


def test_an_unwritable_trail_can_be_logged_instead():
    proc = KmsdProcess(extra_args=["--audit-log", "/dev/full", "--audit-failure", "log"]).start()
    try:
        answer = call(proc.client(), "GetServiceStatus")
        assert answer.ServiceEnabled is True
        deadline = time.time() + 2
        while answer.RequestId not in proc.log_path.read_text():
            assert time.time() < deadline, "the record is in the server log"
            time.sleep(0.05)
        assert "cannot write the audit record" in proc.log_path.read_text()
    finally:
        proc.cleanup()


def test_sighup_follows_a_rotated_audit_file(tmp_path):
    path, rotated = tmp_path / "audit.jsonl", tmp_path / "audit.jsonl.1"
    proc = KmsdProcess(extra_args=["--audit-log", str(path)]).start()
    try:
        before = call(proc.client(), "GetServiceStatus").RequestId
        path.rename(rotated)
        proc.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reopened the audit log" not in proc.log_path.read_text():
            assert time.time() < deadline, "SIGHUP did not reopen the audit log"
            time.sleep(0.05)
        after = call(proc.client(), "GetServiceStatus").RequestId
        assert [json.loads(line)["request_id"] for line in rotated.read_text().splitlines()] == [before]
        assert [json.loads(line)["request_id"] for line in path.read_text().splitlines()] == [after]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert proc.proc.poll() is None
    finally:
        proc.cleanup()


def huawei_post(proc, path, body, headers):
    return requests.post(proc.url + path, data=body, timeout=10, headers=headers)


def test_a_huawei_call_refused_at_authentication_names_its_operation(audited, trail):
    """The route names the operation before anyone is authenticated, so the record does too."""
    from huawei_signing import sign_request
    proc, _ = audited
    path = f"/v1.0/{PROJECT_ID}/kms/describe-key"
    body = json.dumps({"key_id": "0d0466b0-e727-4d9c-b35d-f84bb474a37f"}).encode()
    headers = sign_request("POST", path, body=body, host=proc.endpoint, ak=SECRET_ID,
                           sk="wrong" + SECRET_KEY[5:])
    r = huawei_post(proc, path, body, headers)
    assert (r.status_code, r.json()["error"]["error_code"]) == (401, "APIG.0301")
    record = trail.one_record()
    assert_shape(record)
    assert (record["dialect"], record["action"]) == ("huawei", "ListKeyDetail")
    assert record["account"] is None and record["credential_id"] == SECRET_ID
    assert record["outcome"] == "APIG.0301"
    # No credential at all: the operation is still named.
    r = huawei_post(proc, f"/v1.0/{PROJECT_ID}/kms/create-grant", b"{}",
                    {"Content-Type": "application/json"})
    assert r.status_code == 401
    record = trail.one_record()
    assert (record["action"], record["credential_id"]) == ("CreateGrant", None)


def test_a_refused_iam_token_is_named_by_its_hash(audited, trail):
    """As an accepted token is: `token:` and 16 hex digits of its SHA-256, never the token."""
    import hashlib
    proc, _ = audited
    token = "MIIforged" + "x" * 200
    r = huawei_post(proc, f"/v1.0/{PROJECT_ID}/kms/list-keys", b"{}",
                    {"Content-Type": "application/json", "X-Auth-Token": token})
    assert (r.status_code, r.json()["error"]["error_code"]) == (401, "APIG.0301")
    record = trail.one_record()
    assert_shape(record)
    assert (record["dialect"], record["action"]) == ("huawei", "ListKeys")
    assert record["account"] is None
    assert record["credential_id"] == "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    assert token not in open(trail.path).read()
