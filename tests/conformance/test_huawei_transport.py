"""Huawei transport: signatures, dates, tokens, projects per region, IAM's project listing,
version discovery and the vendor's answers to what the SDK would never send."""

import datetime
import hashlib
import json
import uuid

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkkms.v2 import KmsClient
from huaweicloudsdkkms.v2 import model as m

from conftest import PROJECT_ID, SECRET_ID, SECRET_KEY, call
from huawei import describe, expect, huawei_client, new_key, sign_request


@pytest.fixture(scope="module")
def hw(server):
    return huawei_client(server.endpoint)


def raw(server, method, path, body=b"", query="", **sign):
    host = server.endpoint
    headers = sign_request(method, path, body=body, query=query, host=host, **sign)
    url = f"{server.url}{path}" + (f"?{query}" if query else "")
    return requests.request(method, url, data=body, headers=headers)


def error_of(r):
    assert r.headers["X-Request-Id"]
    return r.status_code, r.json()["error"]["error_code"]


def describe_path(project=PROJECT_ID):
    return f"/v1.0/{project}/kms/describe-key"


def test_a_hand_signed_request_is_accepted(server, hw):
    key_id = new_key(hw)
    body = json.dumps({"key_id": key_id}).encode()
    r = raw(server, "POST", describe_path(), body, headers={"x-project-id": PROJECT_ID})
    assert r.status_code == 200, r.text
    assert r.json()["key_info"]["key_id"] == key_id


def test_the_signature_binds_the_body_whatever_x_sdk_content_sha256_says(server, hw):
    """A captured signed create-grant, sent again with another grantee and the captured body's
    hash in X-Sdk-Content-Sha256 (unsigned, or signed as the payload hash), is refused; the
    untouched request, sent again within its date window, does what it did (no replay cache)."""
    key_id = new_key(hw)
    path = f"/v1.0/{PROJECT_ID}/kms/create-grant"
    grant = {"key_id": key_id, "grantee_principal": "0d0466b00d0466b00d0466b00d0466b0",
             "grantee_principal_type": "domain", "operations": ["decrypt-data"]}
    body = json.dumps(grant).encode()
    captured = sign_request("POST", path, body=body, host=server.endpoint)
    assert requests.post(f"{server.url}{path}", data=body, headers=captured).status_code == 200

    attacker = json.dumps(dict(grant, grantee_principal="a" * 32, operations=["create-grant",
                                                                            "decrypt-data"])).encode()
    digest = hashlib.sha256(body).hexdigest()
    for claimed in (digest, "UNSIGNED-PAYLOAD"):
        replayed = dict(captured, **{"X-Sdk-Content-Sha256": claimed})
        r = requests.post(f"{server.url}{path}", data=attacker, headers=replayed)
        assert error_of(r) == (401, "APIG.0301"), (claimed, r.text)
        # Signed over the claim, as a client sending UNSIGNED-PAYLOAD would: refused too.
        signed = sign_request("POST", path, body=attacker, host=server.endpoint, payload=claimed,
                              headers={"x-sdk-content-sha256": claimed})
        r = requests.post(f"{server.url}{path}", data=attacker, headers=signed)
        assert error_of(r) == (401, "APIG.0301"), (claimed, r.text)
    # The body's own hash in the header is what hashing it gives.
    signed = sign_request("POST", path, body=body, host=server.endpoint,
                          headers={"x-sdk-content-sha256": digest}, payload=digest)
    assert requests.post(f"{server.url}{path}", data=body, headers=signed).status_code == 200
    # The untouched capture again: the same grant once more, nothing else.
    assert requests.post(f"{server.url}{path}", data=body, headers=captured).status_code == 200
    listed = hw.list_grants(m.ListGrantsRequest(body=m.ListGrantsRequestBody(key_id=key_id))).grants
    assert [g.grantee_principal for g in listed] == [grant["grantee_principal"]] * 3
    assert all(g.operations == ["decrypt-data"] for g in listed)


def test_bad_signatures_are_refused(server, hw):
    key_id = new_key(hw)
    body = json.dumps({"key_id": key_id}).encode()
    path = describe_path()
    assert error_of(raw(server, "POST", path, body, sk="wrong-secret")) == (401, "APIG.0301")
    assert error_of(raw(server, "POST", path, body, ak="AKIDnobody")) == (401, "APIG.0301")
    # A body changed after signing.
    headers = sign_request("POST", path, body=body, host=server.endpoint)
    tampered = json.dumps({"key_id": str(uuid.uuid4())}).encode()
    r = requests.post(f"{server.url}{path}", data=tampered, headers=headers)
    assert error_of(r) == (401, "APIG.0301")
    # A signed header changed after signing.
    headers = sign_request("POST", path, body=body, host=server.endpoint, headers={"user-agent": "a"})
    headers["user-agent"] = "b"
    assert error_of(requests.post(f"{server.url}{path}", data=body, headers=headers)) == (401, "APIG.0301")
    # A date outside the gateway's fifteen minutes, either way.
    for minutes in (-16, 16):
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        r = raw(server, "POST", path, body, date=at.strftime("%Y%m%dT%H%M%SZ"))
        assert error_of(r) == (401, "APIG.0301")
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=14)
    assert raw(server, "POST", path, body, date=at.strftime("%Y%m%dT%H%M%SZ")).status_code == 200
    # An x-sdk-date that the signature does not cover, or a host it does not.
    assert error_of(raw(server, "POST", path, body, signed=["content-type", "host"])) == (401, "APIG.0301")
    assert error_of(raw(server, "POST", path, body, signed=["content-type", "x-sdk-date"])) == (401, "APIG.0301")
    assert error_of(raw(server, "POST", path, body, date="yesterday")) == (401, "APIG.0301")
    # A query added after signing.
    headers = sign_request("POST", path, body=body, host=server.endpoint)
    r = requests.post(f"{server.url}{path}?extra=1", data=body, headers=headers)
    assert error_of(r) == (401, "APIG.0301")


def test_tokens_and_missing_credentials(server):
    path = describe_path()
    r = requests.post(f"{server.url}{path}", json={"key_id": str(uuid.uuid4())},
                      headers={"X-Auth-Token": "MIIE" + "A" * 64})
    assert error_of(r) == (401, "APIG.0301")
    assert "token" in r.json()["error"]["error_msg"]
    r = requests.post(f"{server.url}{path}", json={})
    assert error_of(r) == (401, "APIG.0301")
    r = requests.post(f"{server.url}{path}", json={}, headers={"Authorization": "Basic abc"})
    assert error_of(r) == (401, "APIG.0301")


def iam_client(server, region):
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    credentials = BasicCredentials(SECRET_ID, SECRET_KEY).with_iam_endpoint(f"http://{server.endpoint}")
    return (KmsClient.new_builder()
            .with_http_config(config)
            .with_credentials(credentials)
            .with_region(Region(region, f"http://{server.endpoint}"))
            .build())


def test_the_sdk_finds_its_project_through_iam_and_each_region_is_its_own(server, kms, hw):
    guangzhou = iam_client(server, "ap-guangzhou")
    key_id = new_key(guangzhou)
    assert describe(hw, key_id).realm == "ap-guangzhou"
    shanghai = iam_client(server, "ap-shanghai")
    sh_key = new_key(shanghai)
    assert describe(shanghai, sh_key).realm == "ap-shanghai"
    # The key lives in Shanghai for both dialects, and only there.
    assert call(server.client(region="ap-shanghai"), "DescribeKey", KeyId=sh_key).KeyMetadata.KeyId == sh_key
    expect(404, "KMS.0207", describe, hw, sh_key)
    expect(404, "KMS.0207", describe, shanghai, key_id)


def test_projects_are_listed_per_region(server):
    r = raw(server, "GET", "/v3/projects", headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    projects = r.json()["projects"]
    names = [p["name"] for p in projects]
    assert names[0] == "ap-guangzhou" and "ap-shanghai" in names
    assert projects[0]["id"] == PROJECT_ID
    ids = [p["id"] for p in projects]
    assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
    assert len({p["domain_id"] for p in projects}) == 1
    one = raw(server, "GET", "/v3/projects", query="name=ap-shanghai").json()["projects"]
    assert [p["name"] for p in one] == ["ap-shanghai"]
    assert raw(server, "GET", "/v3/projects", query="name=nowhere").json()["projects"] == []
    # The same region's project id is stable and the key operations accept it.
    shanghai = one[0]["id"]
    r = raw(server, "POST", f"/v1.0/{shanghai}/kms/gen-random", b'{"random_data_length": "64"}',
            headers={"x-project-id": shanghai})
    assert r.status_code == 200 and len(bytes.fromhex(r.json()["random_data"])) == 8
    assert error_of(requests.get(f"{server.url}/v3/projects")) == (401, "APIG.0301")


def test_foreign_projects_are_refused(server, hw):
    key_id = new_key(hw)
    other_project = huawei_client(server.endpoint, project_id="f" * 32)
    expect(403, "KMS.0306", describe, other_project, key_id)
    body = json.dumps({"key_id": key_id}).encode()
    # The header and the path must name the same project.
    r = raw(server, "POST", describe_path(), body, headers={"x-project-id": "f" * 32})
    assert error_of(r) == (403, "KMS.0306")


def test_unknown_paths_and_unsupported_operations(server, hw):
    expect(400, "KMS.0201", hw.create_pin, m.CreatePinRequest())
    r = raw(server, "POST", f"/v1.0/{PROJECT_ID}/kms/no-such-operation", b"{}")
    assert error_of(r) == (400, "KMS.0201")
    r = requests.post(f"{server.url}/v1.0/{PROJECT_ID}/kms/no-such-operation", json={})
    assert error_of(r) == (401, "APIG.0301")


def test_versions(hw):
    versions = hw.show_versions(m.ShowVersionsRequest())
    assert [v.id for v in versions.versions] == ["v1.0"]
    assert hw.show_version(m.ShowVersionRequest(version_id="v1.0")).version["id"] == "v1.0"


def test_bodies_the_sdk_would_never_send(server, hw):
    key_id = new_key(hw)
    path = f"/v1.0/{PROJECT_ID}/kms/encrypt-data"
    cases = [
        (b"not json", "KMS.0202"),
        (b"[1, 2]", "KMS.0202"),
        (b'{"key_id": 7, "plain_text": "x"}', "KMS.0308"),
        (json.dumps({"key_id": key_id, "plain_text": ["x"]}).encode(), "KMS.0308"),
        (json.dumps({"key_id": key_id}).encode(), "KMS.0204"),
        (json.dumps({"key_id": "not-a-key", "plain_text": "x"}).encode(), "KMS.0205"),
        (b'{"key_id": "' + b"\xff" * 4 + b'"}', "KMS.0202"),
    ]
    for body, code in cases:
        assert error_of(raw(server, "POST", path, body)) == (400, code), body
    # Numbers where the SDK sends strings.
    r = raw(server, "POST", f"/v1.0/{PROJECT_ID}/kms/gen-random", b'{"random_data_length": 256}')
    assert error_of(r) == (400, "KMS.0308")
    r = raw(server, "POST", f"/v1.0/{PROJECT_ID}/kms/list-keys", b'{"limit": 10}')
    assert error_of(r) == (400, "KMS.0308")
    # Oversize: a body past the server's limit is refused before it is read whole.
    big = b'{"key_id": "' + b"a" * (2 << 20) + b'"}'
    r = raw(server, "POST", path, big)
    assert error_of(r)[0] in (400, 413)
