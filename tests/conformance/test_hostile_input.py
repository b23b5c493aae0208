"""Hostile requests, authenticated or not: deep nesting, oversize and malformed bodies, replays,
requests signed for another service. Each gets the vendor's envelope and the server keeps serving."""

import json
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
from tencentcloud.common.sign import Sign

from conftest import (REGION, SECRET_ID, SECRET_KEY, KmsdProcess, call, create_key, tc3_headers, tc3_post)
from test_transport import check_envelope, error_code

VERSION = "2019-01-18"
API_JSON = Path(__import__("tccli").__file__).parent / "services" / "kms" / "v20190118" / "api.json"
ALL_ACTIONS = sorted(json.loads(API_JSON.read_text())["actions"])


def alive(server):
    assert requests.get(server.url + "/healthz", timeout=5).text == "ok"
    assert "Keys" in tc3_post(server.endpoint, "ListKeys", {})


def legacy_params(action, **own):
    params = {"Action": action, "Version": VERSION, "Region": REGION, "Timestamp": str(int(time.time())),
              "Nonce": str(uuid.uuid4().int % 2**63), "SecretId": SECRET_ID, "SignatureMethod": "HmacSHA256"}
    params.update(own)
    return params


def signed(method, server, params):
    to_sign = method + server.endpoint + "/?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
    return dict(params, Signature=Sign.sign(SECRET_KEY, to_sign, "HmacSHA256"))


def form_post(server, params):
    return check_envelope(requests.post(server.url + "/", data=params, timeout=30,
                                        headers={"Content-Type": "application/x-www-form-urlencoded"}))


def test_deeply_nested_parameter_names_before_authentication(server):
    """About 40 KB of `a.a.a...`: this once overflowed a worker's stack and aborted the process."""
    deep = "a." * 20_000 + "b"
    body = f"Action=DescribeKey&{deep}=1"
    r = requests.post(server.url + "/", data=body, timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert error_code(check_envelope(r)) == "MissingParameter"  # no SecretId: refused unauthenticated
    r = requests.get(server.url + "/?" + body, timeout=30)
    assert error_code(check_envelope(r)) == "MissingParameter"
    alive(server)


def test_deeply_nested_parameter_names_after_authentication(server):
    params = signed("POST", server, legacy_params("DescribeKey", KeyId="x", **{"a." * 20_000 + "b": "1"}))
    assert error_code(form_post(server, params)) == "UnknownParameter"
    params = signed("POST", server, legacy_params("ListKeyDetail", **{"TagFilters.0.TagValue.0.x": "1"}))
    assert error_code(form_post(server, params)) == "UnknownParameter"
    alive(server)


def test_too_many_parameters(server):
    many = {f"P{i}": "1" for i in range(1200)}
    params = legacy_params("ListKeys", **many)
    assert error_code(form_post(server, dict(params, Signature="x"))) == "InvalidParameter"
    alive(server)


@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_deep_json_at_every_action(server, shape):
    """900 KB of `[[[[...` or `{"a":{"a":...` at each of the vendor's actions, signed and not."""
    if shape == "arrays":
        body = b"[" * 900_000
    else:
        body = b'{"a":' * 180_000
    for action in ALL_ACTIONS:
        response = tc3_post(server.endpoint, action, body)
        assert error_code(response) == "InvalidParameter", (action, response)
        r = requests.post(server.url + "/", data=body, timeout=30,
                          headers={"Content-Type": "application/json", "X-TC-Action": action})
        assert error_code(check_envelope(r)) == "AuthFailure.InvalidAuthorization", action
    alive(server)


def test_json_deeper_than_any_vendor_parameter(server):
    body = {"Limit": 1, "Offset": 0, "TagFilters": [{"TagKey": "a", "TagValue": [["nested"]]}]}
    assert error_code(tc3_post(server.endpoint, "ListKeyDetail", body)) == "InvalidParameter"
    ok = {"Limit": 1, "TagFilters": [{"TagKey": "a", "TagValue": ["b"]}]}
    assert tc3_post(server.endpoint, "ListKeyDetail", ok)["TotalCount"] == 0


def test_unknown_nested_parameters(server):
    body = {"TagFilters": [{"TagKey": "a", "TagValues": ["b"]}]}
    response = tc3_post(server.endpoint, "ListKeyDetail", body)
    assert error_code(response) == "UnknownParameter"
    assert "TagValues" in response["Error"]["Message"]
    params = signed("GET", server, legacy_params("ListKeyDetail", **{"TagFilters.0.TagKey": "a",
                                                                      "TagFilters.0.TagValues.0": "b"}))
    r = requests.get(server.url + "/", params=params, timeout=10)
    assert error_code(check_envelope(r)) == "UnknownParameter"


def test_unsupported_region_names_the_served_ones(server):
    response = tc3_post(server.endpoint, "ListKeys", {}, region="mars-north-1")
    assert error_code(response) == "UnsupportedRegion"
    assert "mars-north-1" in response["Error"]["Message"]
    assert "ap-guangzhou" in response["Error"]["Message"]


# ---- transport ----

def raw_exchange(server, request: bytes, close_write=False):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
        return data


def tencent_error_of(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"content-type: application/json" in head.lower()
    return json.loads(body)["Response"]["Error"]["Code"]


def test_malformed_chunked_body(server):
    payload = b'{"Limit":1}'
    h = tc3_headers(server.endpoint, "ListKeys", payload)
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    raw = (f"POST / HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n").encode() + b"zz\r\nxx\r\n0\r\n\r\n"
    assert tencent_error_of(raw_exchange(server, raw)) == "InvalidParameter"
    alive(server)


def test_truncated_body(server):
    payload = b'{"Limit":1}'
    h = tc3_headers(server.endpoint, "ListKeys", payload)
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    raw = f"POST / HTTP/1.1\r\n{head}Content-Length: 100\r\n\r\n".encode() + payload
    # The client stops sending before its body is complete: the answer says the body is cut
    # short, not that it is too large.
    answer = raw_exchange(server, raw, close_write=True)
    assert tencent_error_of(answer) == "InvalidParameter"
    assert b"could not be read" in answer
    alive(server)


def test_legacy_form_post_over_the_limit(server):
    params = legacy_params("Encrypt", KeyId="x", Plaintext="A" * (1 << 20))
    assert error_code(form_post(server, dict(params, Signature="x"))) == "RequestSizeLimitExceeded"
    alive(server)


def test_tc3_post_without_action(server):
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    del h["X-TC-Action"]
    r = requests.post(server.url + "/", data=b"{}", headers=h, timeout=10)
    assert error_code(check_envelope(r)) == "MissingParameter"


def test_scope_changed_to_another_service_after_signing(server):
    # Any service the client signed for is accepted (test_nodejs_sdk.py); one it did not sign for
    # derives another key.
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    h["Authorization"] = h["Authorization"].replace("/kms/", "/cvm/")
    r = requests.post(server.url + "/", data=b"{}", headers=h, timeout=10)
    assert error_code(check_envelope(r)) == "AuthFailure.SignatureFailure"


def test_legacy_nonce_cannot_be_reused(server):
    params = signed("POST", server, legacy_params("GenerateRandom", NumberOfBytes="8"))
    assert "Plaintext" in form_post(server, params)
    response = form_post(server, params)
    assert error_code(response) == "AuthFailure.InvalidAuthorization"
    assert "Nonce" in response["Error"]["Message"]
    # The same Nonce under another signature is the same replay; a fresh one works.
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    again = signed("POST", server, dict(unsigned, NumberOfBytes="9"))
    assert error_code(form_post(server, again)) == "AuthFailure.InvalidAuthorization"
    fresh = signed("POST", server, legacy_params("GenerateRandom", NumberOfBytes="8"))
    assert "Plaintext" in form_post(server, fresh)


def replay_disable_as(server, key_id):
    """Captures a signed DescribeKey and replays it as DisableKey: TC3 signs no action header."""
    body = json.dumps({"KeyId": key_id}).encode()
    h = tc3_headers(server.endpoint, "DescribeKey", body)
    first = requests.post(server.url + "/", data=body, headers=h, timeout=10)
    assert check_envelope(first)["KeyMetadata"]["KeyState"] == "Enabled"
    return check_envelope(requests.post(server.url + "/", data=body, headers=dict(h, **{"X-TC-Action": "DisableKey"}),
                                        timeout=10))


def test_tc3_replay_is_possible_by_default(server):
    key_id = create_key(server.client()).KeyId
    assert "Error" not in replay_disable_as(server, key_id)


def test_tc3_replay_cache_refuses_a_replayed_signature():
    proc = KmsdProcess(extra_args=["--tc3-replay-cache"]).start()
    try:
        key_id = create_key(proc.client()).KeyId
        response = replay_disable_as(proc, key_id)
        assert error_code(response) == "AuthFailure.InvalidAuthorization"
        client = proc.client()
        time.sleep(1.1)  # a new second, so the SDK's DescribeKey is not the captured one
        assert call(client, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
        # Calls that differ are signed differently, so ordinary use is unaffected...
        for _ in range(3):
            assert create_key(client).KeyId
        # ...but the same call twice within one second carries the same signature: the reason
        # the cache is opt-in. (Compact JSON, so this is not the SDK's DescribeKey above.)
        body = json.dumps({"KeyId": key_id}, separators=(",", ":")).encode()
        h = tc3_headers(proc.endpoint, "DescribeKey", body)
        answers = [check_envelope(requests.post(proc.url + "/", data=body, headers=h, timeout=10))
                   for _ in range(2)]
        assert answers[0]["KeyMetadata"]["KeyId"] == key_id
        assert error_code(answers[1]) == "AuthFailure.InvalidAuthorization"
    finally:
        proc.cleanup()
