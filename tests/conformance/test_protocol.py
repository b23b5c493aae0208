"""The Tencent API 3.0 transport: signatures (TC3, legacy HmacSHA1/HmacSHA256, GET), the answer
envelope, the common error codes, and the tccli CLI."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import SECRET_ID, SECRET_KEY, b64, call, create_key, expect_error, make_client, tc3_post

TCCLI = str(Path(sys.executable).parent / "tccli")


def error_of(response):
    assert set(response) == {"Error", "RequestId"}, response
    assert response["RequestId"]
    return response["Error"]["Code"]


# ---- TC3-HMAC-SHA256 ----

def test_tc3_hand_signed_request_succeeds(server):
    r = tc3_post(server.endpoint, "GetRegions", {})
    assert "ap-guangzhou" in r["Regions"] and r["RequestId"]


def test_wrong_secret_key(server):
    assert error_of(tc3_post(server.endpoint, "ListKeys", {}, secret_key="wrong")) == "AuthFailure.SignatureFailure"
    expect_error("AuthFailure.SignatureFailure", server.client(secret_key="wrong"), "ListKeys")


def test_unknown_secret_id(server):
    expect_error("AuthFailure.SecretIdNotFound", server.client(secret_id="AKIDunknown"), "ListKeys")


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_stale_or_future_timestamp(server, skew):
    r = tc3_post(server.endpoint, "ListKeys", {}, timestamp=int(time.time()) + skew)
    assert error_of(r) == "AuthFailure.SignatureExpire"


def test_timestamp_within_the_window_is_accepted(server):
    assert "Keys" in tc3_post(server.endpoint, "ListKeys", {}, timestamp=int(time.time()) - 250)


def test_tampered_body_is_refused(server):
    signed = json.dumps({"Limit": 1}).encode()
    r = tc3_post(server.endpoint, "ListKeys", {"Limit": 2}, sign_body=signed)
    assert error_of(r) == "AuthFailure.SignatureFailure"


def test_tampered_host_is_refused(server):
    # Signed for one host, sent with another.
    r = tc3_post(server.endpoint, "ListKeys", {}, host="kms.tencentcloudapi.com",
                 headers={"Host": server.endpoint})
    assert error_of(r) == "AuthFailure.SignatureFailure"


def test_parameters_are_checked_against_the_named_action(server):
    # The SDK does not sign X-TC-Action; a request whose body belongs to another action is
    # validated against the action it names.
    r = tc3_post(server.endpoint, "DescribeKey", {"Limit": 1})
    assert error_of(r) == "UnknownParameter"


def test_malformed_authorization(server):
    r = requests.post(server.url + "/", data=b"{}", headers={
        "Content-Type": "application/json", "X-TC-Action": "ListKeys", "X-TC-Version": "2019-01-18",
        "X-TC-Region": "ap-guangzhou", "X-TC-Timestamp": str(int(time.time())),
        "Authorization": "TC3-HMAC-SHA256 garbage"})
    assert error_of(r.json()["Response"]) == "AuthFailure.InvalidAuthorization"
    r = requests.post(server.url + "/", data=b"{}", headers={
        "Content-Type": "application/json", "X-TC-Action": "ListKeys", "Authorization": "Basic abc"})
    assert error_of(r.json()["Response"]) == "AuthFailure.InvalidAuthorization"


def test_missing_signature_parts(server):
    r = requests.post(server.url + "/", data=b"{}", headers={
        "Content-Type": "application/json", "X-TC-Action": "ListKeys", "X-TC-Version": "2019-01-18",
        "X-TC-Region": "ap-guangzhou"})
    assert error_of(r.json()["Response"]) == "AuthFailure.InvalidAuthorization"
    r = tc3_post(server.endpoint, "ListKeys", {}, headers={"X-TC-Timestamp": ""})
    assert error_of(r) == "InvalidParameter"
    r = requests.get(server.url + "/", params={"Action": "ListKeys", "Version": "2019-01-18",
                                               "Region": "ap-guangzhou"})
    assert error_of(r.json()["Response"]) == "MissingParameter"


def test_temporary_credentials_are_refused(server):
    r = tc3_post(server.endpoint, "ListKeys", {}, headers={"X-TC-Token": "sts-token"})
    assert error_of(r) == "AuthFailure.TokenFailure"


# ---- common error codes ----

def test_unknown_and_unserved_actions(server):
    assert error_of(tc3_post(server.endpoint, "NoSuchThing", {})) == "InvalidAction"
    assert error_of(tc3_post(server.endpoint, "GetPublicKey", {"KeyId": "x"})) == "UnsupportedOperation"


def test_version_and_region(server):
    assert error_of(tc3_post(server.endpoint, "ListKeys", {}, version="2017-03-12")) == "NoSuchVersion"
    assert error_of(tc3_post(server.endpoint, "ListKeys", {}, region="mars-1")) == "UnsupportedRegion"
    assert error_of(tc3_post(server.endpoint, "ListKeys", {}, region=None)) == "MissingParameter"
    expect_error("UnsupportedRegion", server.client(region="xx-nowhere"), "ListKeys")


def test_parameter_errors(server):
    assert error_of(tc3_post(server.endpoint, "ListKeys", {"Bogus": 1})) == "UnknownParameter"
    assert error_of(tc3_post(server.endpoint, "DescribeKey", {"KeyId": 12})) == "InvalidParameter"
    assert error_of(tc3_post(server.endpoint, "ListKeys", {"Limit": "ten"})) == "InvalidParameter"
    assert error_of(tc3_post(server.endpoint, "ListKeys", {"Limit": -1})) == "InvalidParameter"
    assert error_of(tc3_post(server.endpoint, "ListKeys", {"Limit": 1.5})) == "InvalidParameter"
    assert error_of(tc3_post(server.endpoint, "DescribeKeys", {"KeyIds": "not-a-list"})) == "InvalidParameter"
    assert error_of(tc3_post(server.endpoint, "DescribeKey", {})) == "MissingParameter"
    assert error_of(tc3_post(server.endpoint, "DescribeKey", {"KeyId": None})) == "MissingParameter"


def test_malformed_json_body(server):
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        assert error_of(tc3_post(server.endpoint, "ListKeys", body)) == "InvalidParameter"


def test_oversize_body(server):
    big = {"KeyId": "x", "Plaintext": "A" * (1 << 20)}
    assert error_of(tc3_post(server.endpoint, "Encrypt", big)) == "RequestSizeLimitExceeded"


def test_every_answer_is_json_with_a_request_id(server):
    ok = requests.get(server.url + "/healthz")
    assert ok.status_code == 200
    r = requests.post(server.url + "/", data=b"{}", headers={"Content-Type": "application/json",
                                                              "X-TC-Action": "ListKeys"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json()["Response"]["RequestId"]


def test_metrics_count_requests(server):
    kms = server.client()
    call(kms, "ListKeys")
    text = requests.get(server.url + "/metrics").text
    assert 'kmsd_requests_total{dialect="tencent",action="ListKeys",code="ok"}' in text


# ---- legacy signatures and GET ----

@pytest.mark.parametrize("method", ["HmacSHA1", "HmacSHA256"])
def test_legacy_signatures(server, method):
    kms = server.client(sign_method=method)
    key = create_key(kms, Tags=[{"TagKey": "via", "TagValue": method}])
    described = call(kms, "DescribeKeys", KeyIds=[key.KeyId]).KeyMetadatas
    assert [m.KeyId for m in described] == [key.KeyId]
    blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"legacy")).CiphertextBlob
    assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == b64(b"legacy")
    tagged = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "via", "TagValue": [method]}])
    assert tagged.TotalCount == 1
    expect_error("AuthFailure.SignatureFailure", server.client(sign_method=method, secret_key="bad"), "ListKeys")


def test_legacy_tampered_parameter(server):
    kms = server.client(sign_method="HmacSHA256")
    req_params = {"Action": "ListKeys", "Version": "2019-01-18", "Region": "ap-guangzhou",
                  "Timestamp": str(int(time.time())), "Nonce": "42", "SecretId": SECRET_ID,
                  "SignatureMethod": "HmacSHA256", "Limit": "1"}
    from tencentcloud.common.sign import Sign
    to_sign = "GET" + server.endpoint + "/?" + "&".join(f"{k}={req_params[k]}" for k in sorted(req_params))
    req_params["Signature"] = Sign.sign(SECRET_KEY, to_sign, "HmacSHA256")
    assert "Keys" in requests.get(server.url + "/", params=req_params).json()["Response"]
    req_params["Limit"] = "2"
    r = requests.get(server.url + "/", params=req_params).json()["Response"]
    assert error_of(r) == "AuthFailure.SignatureFailure"
    assert kms  # the SDK client above covers the POST form of the same scheme


def test_tc3_over_get_with_lists(server):
    kms = server.client(req_method="GET")
    key = create_key(kms, Tags=[{"TagKey": "m", "TagValue": "get"}])
    described = call(kms, "DescribeKeys", KeyIds=[key.KeyId]).KeyMetadatas
    assert described[0].KeyId == key.KeyId
    assert call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "m", "TagValue": ["get"]}]).TotalCount == 1


# ---- tccli ----

def tccli(server, *args, secret_key=SECRET_KEY, tmp_path=None):
    env = dict(os.environ, HOME=str(tmp_path))
    cmd = [TCCLI, "kms", *args, "--secretId", SECRET_ID, "--secretKey", secret_key,
           "--region", "ap-guangzhou", "--endpoint", server.url]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_tccli_round_trip(server, tmp_path):
    out = tccli(server, "CreateKey", "--Alias", f"cli-{int(time.time() * 1000)}", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    key_id = json.loads(out.stdout)["KeyId"]
    out = tccli(server, "Encrypt", "--KeyId", key_id, "--Plaintext", b64(b"cli"), tmp_path=tmp_path)
    blob = json.loads(out.stdout)["CiphertextBlob"]
    out = tccli(server, "Decrypt", "--CiphertextBlob", blob, tmp_path=tmp_path)
    assert json.loads(out.stdout)["Plaintext"] == b64(b"cli")
    out = tccli(server, "DescribeKey", "--KeyId", key_id, tmp_path=tmp_path)
    assert json.loads(out.stdout)["KeyMetadata"]["KeyState"] == "Enabled"
    out = tccli(server, "ListKeys", "--Limit", "200", tmp_path=tmp_path)
    assert key_id in [k["KeyId"] for k in json.loads(out.stdout)["Keys"]]


def test_tccli_shows_vendor_error_codes(server, tmp_path):
    out = tccli(server, "DescribeKey", "--KeyId", "not-a-key", tmp_path=tmp_path)
    assert "InvalidParameterValue.InvalidKeyId" in out.stdout + out.stderr
    out = tccli(server, "ListKeys", secret_key="wrong", tmp_path=tmp_path)
    assert "AuthFailure.SignatureFailure" in out.stdout + out.stderr


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
