"""The API 3.0 transport: TC3 and legacy signatures, the request envelope, the common error codes
and their answer envelope, GET requests with flattened parameters, tccli, health and metrics."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from tencentcloud.common.sign import Sign

from conftest import (REGION, SECRET_ID, SECRET_KEY, b64, call, create_key, expect_error, tc3_headers,
                      tc3_post, unique_alias)

TCCLI = str(Path(sys.executable).parent / "tccli")
VERSION = "2019-01-18"


def check_envelope(r):
    """Every answer: HTTP 200, Content-Type exactly application/json, `Response.RequestId`."""
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"Response"}, body
    response = body["Response"]
    assert isinstance(response.get("RequestId"), str) and response["RequestId"], response
    return response


def error_code(response):
    """The code of an error answer, after checking the error envelope's shape."""
    assert set(response) == {"Error", "RequestId"}, response
    error = response["Error"]
    assert set(error) == {"Code", "Message"}, error
    assert isinstance(error["Code"], str) and error["Code"]
    assert isinstance(error["Message"], str) and error["Message"]
    return error["Code"]


def raw_post(server, headers, data=b"{}"):
    return check_envelope(requests.post(server.url + "/", data=data, headers=headers, timeout=10))


# ---- TC3 authentication ----

def test_hand_signed_tc3_request_succeeds(server):
    r = tc3_post(server.endpoint, "GenerateRandom", {"NumberOfBytes": 8})
    assert len(base64.b64decode(r["Plaintext"])) == 8
    assert r["RequestId"]


def test_wrong_secret_key(server):
    assert error_code(tc3_post(server.endpoint, "ListKeys", {}, secret_key="wrong")) == "AuthFailure.SignatureFailure"
    assert error_code(tc3_post(server.endpoint, "ListKeys", {}, secret_key=SECRET_KEY + "x")) == \
        "AuthFailure.SignatureFailure"
    expect_error("AuthFailure.SignatureFailure", server.client(secret_key="wrong"), "ListKeys")


def test_unknown_secret_id(server):
    assert error_code(tc3_post(server.endpoint, "ListKeys", {}, secret_id="AKIDnobody")) == \
        "AuthFailure.SecretIdNotFound"
    expect_error("AuthFailure.SecretIdNotFound", server.client(secret_id="AKIDunknown00000"), "ListKeys")


@pytest.mark.parametrize("skew", [-301, -302, -3600, -86400 * 2, 305, 3600, 86400 * 2])
def test_timestamp_outside_the_window_expires(server, skew):
    r = tc3_post(server.endpoint, "ListKeys", {}, timestamp=int(time.time()) + skew)
    assert error_code(r) == "AuthFailure.SignatureExpire"


@pytest.mark.parametrize("skew", [-290, -60, 0, 60, 290])
def test_timestamp_inside_the_window_is_accepted(server, skew):
    r = tc3_post(server.endpoint, "ListKeys", {}, timestamp=int(time.time()) + skew)
    assert "Error" not in r and "Keys" in r


def test_body_tampered_after_signing(server):
    key = create_key(server.client()).KeyId
    signed = json.dumps({"KeyId": key}).encode()
    sent = json.dumps({"KeyId": str(uuid.uuid4())}).encode()
    assert error_code(tc3_post(server.endpoint, "DescribeKey", sent, sign_body=signed)) == \
        "AuthFailure.SignatureFailure"
    # one extra byte of whitespace is tampering too
    assert error_code(tc3_post(server.endpoint, "DescribeKey", signed + b" ", sign_body=signed)) == \
        "AuthFailure.SignatureFailure"
    assert tc3_post(server.endpoint, "DescribeKey", signed, sign_body=signed)["KeyMetadata"]["KeyId"] == key


def test_an_unsigned_payload_is_the_signers_choice_only(server):
    # The SDK's own option: the body's hash is replaced by UNSIGNED-PAYLOAD, as the vendor
    # documents, and the call works.
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.kms.v20190118 import kms_client

    profile = ClientProfile(httpProfile=HttpProfile(endpoint=server.endpoint, protocol="http"))
    profile.unsignedPayload = True
    unsigned = kms_client.KmsClient(credential.Credential(SECRET_ID, SECRET_KEY), REGION, profile)
    key = create_key(unsigned).KeyId
    assert call(unsigned, "DescribeKey", KeyId=key).KeyMetadata.KeyId == key
    # A request signed over its body cannot be unbound by whoever captured it: adding the
    # header changes the canonical request, so another body with it is refused.
    signed = json.dumps({"KeyId": key}).encode()
    sent = json.dumps({"KeyId": str(uuid.uuid4())}).encode()
    for body in (sent, signed):
        answer = tc3_post(server.endpoint, "DescribeKey", body, sign_body=signed,
                          headers={"X-TC-Content-SHA256": "UNSIGNED-PAYLOAD"})
        assert error_code(answer) == "AuthFailure.SignatureFailure"


def test_host_tampered_after_signing(server):
    r = tc3_post(server.endpoint, "ListKeys", {}, host="kms.tencentcloudapi.com",
                 headers={"Host": server.endpoint})
    assert error_code(r) == "AuthFailure.SignatureFailure"
    r = tc3_post(server.endpoint, "ListKeys", {}, headers={"Host": "evil.example:1"})
    assert error_code(r) == "AuthFailure.SignatureFailure"


def sdk_form_tc3_headers(service, signed_host, sent_host, content_type, action, payload):
    """TC3 headers as an SDK that names the scope's service itself signs them (computed here,
    independently of any SDK): `signed_host` in the canonical request, `sent_host` as `Host`."""
    timestamp = int(time.time())
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    canonical = "\n".join(["POST", "/", "", f"content-type:{content_type}\nhost:{signed_host}\n",
                           "content-type;host", hashlib.sha256(payload).hexdigest()])
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = hmac.new(("TC3" + SECRET_KEY).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type, "Host": sent_host, "X-TC-Action": action, "X-TC-Version": VERSION,
        "X-TC-Region": REGION, "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders=content-type;host, "
                         f"Signature={signature}",
    }


@pytest.mark.parametrize("endpoint", ["127.0.0.1:{port}", "localhost:{port}"])
def test_the_java_php_and_dotnet_sdk_form(server, endpoint):
    """The Java, PHP and .NET SDKs name the scope's service after the endpoint's first label and
    sign the endpoint, port included, with `application/json; charset=utf-8` (Java)."""
    endpoint = endpoint.format(port=server.port)
    service = endpoint.split(".")[0]
    payload = json.dumps({"NumberOfBytes": 16}).encode()
    h = sdk_form_tc3_headers(service, endpoint, endpoint, "application/json; charset=utf-8", "GenerateRandom",
                             payload)
    response = check_envelope(requests.post(server.url + "/", data=payload, headers=h, timeout=10))
    assert len(base64.b64decode(response["Plaintext"])) == 16
    # The same signature presented under another service, or for another host, does not verify.
    forged = dict(h, Authorization=h["Authorization"].replace(f"/{service}/", "/kms/"))
    assert error_code(check_envelope(requests.post(server.url + "/", data=payload, headers=forged, timeout=10))) == \
        "AuthFailure.SignatureFailure"
    moved = dict(h, Host=f"kms.example:{server.port}")
    assert error_code(check_envelope(requests.post(server.url + "/", data=payload, headers=moved, timeout=10))) == \
        "AuthFailure.SignatureFailure"


def test_action_header_is_not_signed_but_parameters_are_checked_against_it(server):
    # The SDK signs only content-type and host; a body for another action is validated against
    # the action named.
    assert error_code(tc3_post(server.endpoint, "DescribeKey", {"Limit": 1})) == "UnknownParameter"


@pytest.mark.parametrize("authorization", [
    "TC3-HMAC-SHA256 garbage",
    "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-01/kms/tc3_request, SignedHeaders=content-type;host",
    "TC3-HMAC-SHA256 SignedHeaders=content-type;host, Signature=abc",
    "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-01/kms, SignedHeaders=host, Signature=abc",
    "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-01/kms/tc3_request/extra, SignedHeaders=host, Signature=abc",
    "Basic dXNlcjpwYXNz",
    "Bearer token",
    "",
], ids=["garbage", "no-signature", "no-credential", "short-scope", "long-scope", "basic", "bearer", "empty"])
def test_malformed_authorization(server, authorization):
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    h["Authorization"] = authorization
    assert error_code(raw_post(server, h)) == "AuthFailure.InvalidAuthorization"


def test_json_post_without_authorization(server):
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    del h["Authorization"]
    assert error_code(raw_post(server, h)) == "AuthFailure.InvalidAuthorization"


def test_temporary_credential_token_is_refused(server):
    r = tc3_post(server.endpoint, "ListKeys", {}, headers={"X-TC-Token": "some-sts-token"})
    assert error_code(r) == "AuthFailure.TokenFailure"


# ---- common error codes ----

def test_unknown_action(server):
    for action in ("NoSuchAction", "listkeys", "DescribeInstances"):
        assert error_code(tc3_post(server.endpoint, action, {})) == "InvalidAction", action


@pytest.mark.parametrize("action,body", [
    ("CreateWhiteBoxKey", {"Alias": "wb", "Algorithm": "SM4"}),
    ("EncryptByWhiteBox", {}),
    ("DescribeWhiteBoxServiceStatus", {}),
])
def test_vendor_action_not_yet_served(server, action, body):
    assert error_code(tc3_post(server.endpoint, action, body)) == "UnsupportedOperation"


def test_vendor_action_not_yet_served_through_the_sdk(kms):
    expect_error("UnsupportedOperation", kms, "DescribeWhiteBoxServiceStatus")


def test_version(server):
    for version in ("2017-03-12", "2019-01-19", "v3"):
        assert error_code(tc3_post(server.endpoint, "ListKeys", {}, version=version)) == "NoSuchVersion"
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    del h["X-TC-Version"]
    assert error_code(raw_post(server, h)) == "MissingParameter"


def test_region(server):
    assert error_code(tc3_post(server.endpoint, "ListKeys", {}, region=None)) == "MissingParameter"
    assert error_code(tc3_post(server.endpoint, "ListKeys", {}, region="")) == "MissingParameter"
    for region in ("mars-1", "ap-guangzhou-1", "AP-GUANGZHOU"):
        assert error_code(tc3_post(server.endpoint, "ListKeys", {}, region=region)) == "UnsupportedRegion"
    expect_error("UnsupportedRegion", server.client(region="xx-nowhere"), "ListKeys")
    assert "Keys" in tc3_post(server.endpoint, "ListKeys", {}, region="ap-shanghai")


def test_unknown_parameter(server):
    assert error_code(tc3_post(server.endpoint, "ListKeys", {"Bogus": 1})) == "UnknownParameter"
    assert error_code(tc3_post(server.endpoint, "GenerateRandom", {"NumberOfBytes": 4, "numberofbytes": 4})) == \
        "UnknownParameter"
    assert error_code(tc3_post(server.endpoint, "Encrypt", {"KeyId": "x", "Plaintext": "eA==", "Extra": ""})) == \
        "UnknownParameter"


@pytest.mark.parametrize("action,body", [
    ("DescribeKey", {"KeyId": 12}),
    ("DescribeKey", {"KeyId": ["a"]}),
    ("DescribeKey", {"KeyId": {"a": 1}}),
    ("DescribeKey", {"KeyId": True}),
    ("ListKeys", {"Limit": "ten"}),
    ("ListKeys", {"Limit": "5"}),
    ("ListKeys", {"Limit": -1}),
    ("ListKeys", {"Limit": 1.5}),
    ("GenerateRandom", {"NumberOfBytes": "16"}),
    ("DescribeKeys", {"KeyIds": "not-a-list"}),
    ("DescribeKeys", {"KeyIds": [1, 2]}),
    ("CreateKey", {"Alias": "typed", "Tags": {"TagKey": "a", "TagValue": "b"}}),
])
def test_wrong_json_type(server, action, body):
    assert error_code(tc3_post(server.endpoint, action, body)) == "InvalidParameter"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"null", b"42", b"\xff\xfe{}", b'{"a":1}}'])
def test_malformed_json_body(server, body):
    assert error_code(tc3_post(server.endpoint, "ListKeys", body)) == "InvalidParameter"


def test_missing_required_parameter(server):
    assert error_code(tc3_post(server.endpoint, "DescribeKey", {})) == "MissingParameter"
    assert error_code(tc3_post(server.endpoint, "DescribeKey", {"KeyId": None})) == "MissingParameter"


def test_body_over_one_mebibyte(server):
    limit = 1 << 20
    prefix = b'{"KeyId":"x","Plaintext":"'
    big = prefix + b"A" * (limit + 1 - len(prefix) - 2) + b'"}'
    assert len(big) == limit + 1
    assert error_code(tc3_post(server.endpoint, "Encrypt", big)) == "RequestSizeLimitExceeded"
    huge = prefix + b"A" * (4 * limit) + b'"}'
    assert error_code(tc3_post(server.endpoint, "Encrypt", huge)) == "RequestSizeLimitExceeded"
    # at the limit the body is read and judged on its parameters
    at_limit = prefix + b"A" * (limit - len(prefix) - 2) + b'"}'
    assert len(at_limit) == limit
    assert error_code(tc3_post(server.endpoint, "Encrypt", at_limit)) != "RequestSizeLimitExceeded"
    # and the server still serves
    assert "Keys" in tc3_post(server.endpoint, "ListKeys", {})


def test_every_error_is_a_vendor_envelope(server):
    """HTTP 200, Content-Type exactly application/json, Error.Code/Message, RequestId."""
    ok = tc3_headers(server.endpoint, "ListKeys", b"{}")
    cases = []
    cases.append((dict(ok, Authorization="TC3-HMAC-SHA256 x"), b"{}", "AuthFailure.InvalidAuthorization"))
    cases.append((dict(ok, **{"X-TC-Action": "Nope"}), b"{}", "InvalidAction"))
    cases.append((tc3_headers(server.endpoint, "ListKeys", b"{}", version="1999-01-01"), b"{}", "NoSuchVersion"))
    cases.append((tc3_headers(server.endpoint, "ListKeys", b"{}", region="mars"), b"{}", "UnsupportedRegion"))
    cases.append((tc3_headers(server.endpoint, "ListKeys", b"{}", secret_key="bad"), b"{}",
                  "AuthFailure.SignatureFailure"))
    body = b'{"Bogus":1}'
    cases.append((tc3_headers(server.endpoint, "ListKeys", body), body, "UnknownParameter"))
    body = b'{"KeyId":"missing"}'
    cases.append((tc3_headers(server.endpoint, "DescribeKey", body), body, "InvalidParameterValue.InvalidKeyId"))
    body = json.dumps({"KeyId": str(uuid.uuid4())}).encode()
    cases.append((tc3_headers(server.endpoint, "DescribeKey", body), body, "ResourceUnavailable.CmkNotFound"))
    request_ids = set()
    for headers, data, code in cases:
        r = requests.post(server.url + "/", data=data, headers=headers, timeout=10)
        response = check_envelope(r)
        assert error_code(response) == code, (code, response)
        request_ids.add(response["RequestId"])
    assert len(request_ids) == len(cases), "every answer has its own RequestId"


def test_success_answers_share_the_envelope(server):
    r = requests.post(server.url + "/", data=b"{}", headers=tc3_headers(server.endpoint, "GetRegions", b"{}"))
    response = check_envelope(r)
    assert "Error" not in response and REGION in response["Regions"]


# ---- legacy signatures (form POST and GET) ----

@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
def test_legacy_signatures_through_the_sdk(server, sign_method):
    kms = server.client(sign_method=sign_method)
    assert kms.profile.signMethod == sign_method
    key = create_key(kms, Description=f"legacy {sign_method}",
                     Tags=[{"TagKey": "sig", "TagValue": sign_method}, {"TagKey": "t2", "TagValue": "v 2&="}])
    assert key.KeyState == "Enabled" and key.Description == f"legacy {sign_method}"
    metas = call(kms, "DescribeKeys", KeyIds=[key.KeyId]).KeyMetadatas
    assert [m.KeyId for m in metas] == [key.KeyId]
    blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"legacy+/="),
                EncryptionContext='{"a":"b c"}').CiphertextBlob
    dec = call(kms, "Decrypt", CiphertextBlob=blob, EncryptionContext='{"a":"b c"}')
    assert base64.b64decode(dec.Plaintext) == b"legacy+/="
    listed = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "t2", "TagValue": ["v 2&="]},
                                                    {"TagKey": "sig", "TagValue": [sign_method]}])
    assert [k.KeyId for k in listed.KeyMetadatas] == [key.KeyId]
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKey", KeyId="nope")
    expect_error("AuthFailure.SignatureFailure", server.client(sign_method=sign_method, secret_key="bad"),
                 "ListKeys")
    expect_error("AuthFailure.SecretIdNotFound", server.client(sign_method=sign_method, secret_id="AKIDnobody"),
                 "ListKeys")


@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
def test_legacy_signature_over_get_through_the_sdk(server, sign_method):
    kms = server.client(sign_method=sign_method, req_method="GET")
    key = create_key(kms)
    assert call(kms, "DescribeKeys", KeyIds=[key.KeyId]).KeyMetadatas[0].KeyId == key.KeyId


def legacy_params(action, **own):
    params = {"Action": action, "Version": VERSION, "Region": REGION, "Timestamp": str(int(time.time())),
              "Nonce": str(uuid.uuid4().int % 2**63), "SecretId": SECRET_ID, "SignatureMethod": "HmacSHA256"}
    params.update(own)
    return params


def legacy_sign(method, endpoint, params, secret_key=SECRET_KEY):
    to_sign = method + endpoint + "/?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
    return Sign.sign(secret_key, to_sign, params.get("SignatureMethod", "HmacSHA1"))


def legacy_form_post(server, params):
    r = requests.post(server.url + "/", data=params, timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    return check_envelope(r)


def test_hand_signed_legacy_form_post(server):
    params = legacy_params("GenerateRandom", NumberOfBytes="12")
    params["Signature"] = legacy_sign("POST", server.endpoint, params)
    assert len(base64.b64decode(legacy_form_post(server, params)["Plaintext"])) == 12

    tampered = dict(params, NumberOfBytes="13")
    assert error_code(legacy_form_post(server, tampered)) == "AuthFailure.SignatureFailure"

    wrong_key = legacy_params("GenerateRandom", NumberOfBytes="12")
    wrong_key["Signature"] = legacy_sign("POST", server.endpoint, wrong_key, secret_key="bad")
    assert error_code(legacy_form_post(server, wrong_key)) == "AuthFailure.SignatureFailure"

    signed_as_get = legacy_params("GenerateRandom", NumberOfBytes="12")
    signed_as_get["Signature"] = legacy_sign("GET", server.endpoint, signed_as_get)
    assert error_code(legacy_form_post(server, signed_as_get)) == "AuthFailure.SignatureFailure"

    stale = legacy_params("GenerateRandom", NumberOfBytes="12", Timestamp=str(int(time.time()) - 400))
    stale["Signature"] = legacy_sign("POST", server.endpoint, stale)
    assert error_code(legacy_form_post(server, stale)) == "AuthFailure.SignatureExpire"


def test_hand_signed_legacy_get(server):
    params = legacy_params("ListKeys", Limit="1")
    params["Signature"] = legacy_sign("GET", server.endpoint, params)
    ok = check_envelope(requests.get(server.url + "/", params=params, timeout=10))
    assert "Keys" in ok
    params["Limit"] = "2"
    bad = check_envelope(requests.get(server.url + "/", params=params, timeout=10))
    assert error_code(bad) == "AuthFailure.SignatureFailure"


def test_tc3_over_get_with_flattened_lists_and_tags(server):
    kms = server.client(req_method="GET")
    tag = uuid.uuid4().hex[:12]
    a = create_key(kms, Description="get a", Tags=[{"TagKey": "get", "TagValue": tag},
                                                   {"TagKey": "get2", "TagValue": "x y"}])
    b = create_key(kms, Description="get b", Tags=[{"TagKey": "get", "TagValue": tag}])
    assert (a.Description, a.KeyState) == ("get a", "Enabled")
    metas = call(kms, "DescribeKeys", KeyIds=[a.KeyId, b.KeyId]).KeyMetadatas
    assert sorted(m.KeyId for m in metas) == sorted([a.KeyId, b.KeyId])
    listed = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "get", "TagValue": [tag]}])
    assert listed.TotalCount == 2
    assert sorted(k.KeyId for k in listed.KeyMetadatas) == sorted([a.KeyId, b.KeyId])
    listed = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "get2", "TagValue": ["x y"]}])
    assert [k.KeyId for k in listed.KeyMetadatas] == [a.KeyId]
    r = call(kms, "GenerateDataKey", KeyId=a.KeyId, NumberOfBytes=20)
    assert len(base64.b64decode(r.Plaintext)) == 20
    # the POST client sees the same keys
    assert call(server.client(), "DescribeKey", KeyId=a.KeyId).KeyMetadata.Description == "get a"
    expect_error("AuthFailure.SignatureFailure", server.client(req_method="GET", secret_key="bad"), "ListKeys")


# ---- tccli ----

@pytest.fixture(scope="module")
def cli_home():
    with tempfile.TemporaryDirectory(prefix="tccli-home-") as home:
        yield home


def tccli(server, home, *args, secret_key=SECRET_KEY):
    env = dict(os.environ, HOME=home)
    cmd = [TCCLI, "kms", *args, "--secretId", SECRET_ID, "--secretKey", secret_key,
           "--region", REGION, "--endpoint", server.url]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def tccli_ok(server, home, *args):
    out = tccli(server, home, *args)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout)


def test_tccli_round_trip(server, cli_home):
    alias = unique_alias("cli")
    created = tccli_ok(server, cli_home, "CreateKey", "--Alias", alias, "--Description", "from tccli")
    key_id = created["KeyId"]
    assert created["Alias"] == alias and created["KeyState"] == "Enabled" and created["RequestId"]
    enc = tccli_ok(server, cli_home, "Encrypt", "--KeyId", key_id, "--Plaintext", b64(b"through tccli"))
    assert enc["KeyId"] == key_id
    dec = tccli_ok(server, cli_home, "Decrypt", "--CiphertextBlob", enc["CiphertextBlob"])
    assert dec["KeyId"] == key_id and base64.b64decode(dec["Plaintext"]) == b"through tccli"
    described = tccli_ok(server, cli_home, "DescribeKey", "--KeyId", key_id)["KeyMetadata"]
    assert (described["KeyId"], described["Alias"], described["Description"], described["KeyState"]) == \
        (key_id, alias, "from tccli", "Enabled")
    listed = tccli_ok(server, cli_home, "ListKeys", "--Limit", "200")
    assert key_id in [k["KeyId"] for k in listed["Keys"]]
    # and the SDK sees what tccli made
    assert call(server.client(), "DescribeKey", KeyId=key_id).KeyMetadata.Alias == alias


def test_tccli_surfaces_vendor_error_codes(server, cli_home):
    out = tccli(server, cli_home, "DescribeKey", "--KeyId", str(uuid.uuid4()))
    assert out.returncode != 0
    assert "ResourceUnavailable.CmkNotFound" in out.stdout + out.stderr
    out = tccli(server, cli_home, "ListKeys", secret_key="wrong")
    assert out.returncode != 0
    assert "AuthFailure.SignatureFailure" in out.stdout + out.stderr


# ---- health and metrics ----

def test_healthz(server):
    r = requests.get(server.url + "/healthz", timeout=5)
    assert (r.status_code, r.text) == (200, "ok")


def test_metrics_count_requests(server):
    kms = server.client()
    call(kms, "GenerateRandom", NumberOfBytes=4)
    expect_error("InvalidParameterValue.InvalidKeyId", kms, "DescribeKey", KeyId="nope")
    r = requests.get(server.url + "/metrics", timeout=5)
    assert r.status_code == 200
    text = r.text
    assert "kmsd_requests_total" in text
    assert any(line.startswith("kmsd_requests_total{") and 'action="GenerateRandom"' in line and 'code="ok"' in line
               for line in text.splitlines()), text
    assert any(line.startswith("kmsd_requests_total{") and 'action="DescribeKey"' in line
               and 'code="InvalidParameterValue.InvalidKeyId"' in line for line in text.splitlines()), text


# ---- robustness ----

def test_random_signed_input_never_breaks_the_server(server):
    """Validly signed requests with random parameters and values for every served action: each
    answer is a vendor error or a success, never a crash, a hang or a non-JSON answer."""
    import random

    import importlib.util
    tccli_dir = Path(importlib.util.find_spec("tccli").origin).parent
    spec = json.loads((tccli_dir / "services" / "kms" / "v20190118" / "api.json").read_text())
    rng = random.Random(20261123)
    values = [None, "", "x", "A" * 300, -1, 0, 1, 7, 2 ** 64, 1.5, True, [], ["a"], [1, None], {},
              {"TagKey": "k"}, [{"TagKey": "k", "TagValue": "v"}], [{"TagKey": 1}], "00000000-0000-4000-8000-000000000000",
              b64(os.urandom(40)), "{\"a\":1}", "not json", "\u0000\uffff"]
    codes = set()
    for action, meta in spec["actions"].items():
        members = [m["name"] for m in spec["objects"][meta["input"]]["members"]]
        for _ in range(6):
            body = {name: rng.choice(values) for name in rng.sample(members, k=min(len(members), rng.randint(0, 4)))}
            if rng.random() < 0.2:
                body["Unexpected"] = 1
            r = tc3_post(server.endpoint, action, body)
            assert r["RequestId"]
            if "Error" in r:
                assert r["Error"]["Code"] != "InternalError", (action, body, r)
                codes.add(r["Error"]["Code"])
    assert requests.get(server.url + "/healthz").status_code == 200
    assert {"MissingParameter", "InvalidParameter", "UnknownParameter"} <= codes
