"""The vendor's Node.js SDK (tencentcloud-sdk-nodejs, pinned in tests/nodejs), unmodified, against
kmsd. Its TC3 signer names the credential scope's service after the endpoint's first label (`127`
for an IP endpoint, `localhost:PORT` for a name with a port) and signs the host without its port
while it sends `Host` with the port; its legacy signer signs the endpoint with the port.

`scripts/test.sh` installs the SDK (`npm ci --prefix tests/nodejs`); tests/nodejs/call.js runs
the calls and prints what each answered."""

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REGION, SECRET_ID, SECRET_KEY, unique_alias

NODE_PROJECT = Path(__file__).resolve().parents[1] / "nodejs"
CALL_JS = NODE_PROJECT / "call.js"

# Outside CI a machine without Node.js skips these; in CI (which runs scripts/test.sh, and so
# `npm ci`) they always run, so a missing install fails rather than passes silently.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI")
    and (shutil.which("node") is None
         or not (NODE_PROJECT / "node_modules" / "tencentcloud-sdk-nodejs").is_dir()),
    reason="needs node and `npm ci --prefix tests/nodejs` (scripts/test.sh runs it)",
)


def node_calls(endpoint, calls, *, sign_method=None, req_method=None, secret_key=SECRET_KEY):
    """Runs `calls` ([(action, params)]) in one SDK client; answers one result per call: the
    response, or {"error": {...}}."""
    spec = {
        "endpoint": endpoint,
        "secretId": SECRET_ID,
        "secretKey": secret_key,
        "region": REGION,
        "calls": [{"action": action, "params": params} for action, params in calls],
    }
    if sign_method:
        spec["signMethod"] = sign_method
    if req_method:
        spec["reqMethod"] = req_method
    done = subprocess.run(["node", str(CALL_JS)], input=json.dumps(spec).encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    results = json.loads(done.stdout)
    assert len(results) == len(calls)
    return results


def node_call(endpoint, action, params=None, **settings):
    """One call that must succeed; answers its response."""
    [result] = node_calls(endpoint, [(action, params or {})], **settings)
    assert "response" in result, f"{action}: {result}"
    return result["response"]


def round_trip(endpoint, **settings):
    """CreateKey, Encrypt, Decrypt and ListKeys through the SDK, every value checked."""
    alias = unique_alias("node")
    created = node_call(endpoint, "CreateKey", {"Alias": alias, "Description": "from node"}, **settings)
    metadata = created
    key_id = metadata["KeyId"]
    assert metadata["Alias"] == alias
    assert metadata["KeyState"] == "Enabled"
    assert metadata["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert metadata["RequestId"]
    plaintext = f"secret of {alias}".encode()
    encrypted = node_call(endpoint, "Encrypt", {"KeyId": key_id, "Plaintext": base64.b64encode(plaintext).decode()},
                          **settings)
    assert encrypted["KeyId"] == key_id
    decrypted = node_call(endpoint, "Decrypt", {"CiphertextBlob": encrypted["CiphertextBlob"]}, **settings)
    assert decrypted["KeyId"] == key_id
    assert base64.b64decode(decrypted["Plaintext"]) == plaintext
    listed = node_call(endpoint, "ListKeys", {"Limit": 200}, **settings)
    assert key_id in [k["KeyId"] for k in listed["Keys"]]
    described = node_call(endpoint, "DescribeKeys", {"KeyIds": [key_id]}, **settings)
    assert [k["Alias"] for k in described["KeyMetadatas"]] == [alias]
    return key_id


def test_default_settings_against_an_ip_endpoint(server):
    # Service `127` in the scope, `host:127.0.0.1` signed, `Host: 127.0.0.1:PORT` sent.
    round_trip(f"127.0.0.1:{server.port}")


def test_default_settings_against_a_name_with_a_port(server):
    # Service `localhost:PORT` in the scope, `host:localhost` signed.
    round_trip(f"localhost:{server.port}")


def test_tc3_over_get(server):
    round_trip(f"127.0.0.1:{server.port}", req_method="GET")


@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
@pytest.mark.parametrize("req_method", ["POST", "GET"])
def test_legacy_signatures(server, sign_method, req_method):
    round_trip(f"127.0.0.1:{server.port}", sign_method=sign_method, req_method=req_method)


@pytest.mark.parametrize("settings", [
    {},
    {"req_method": "GET"},
    {"sign_method": "HmacSHA1"},
    {"sign_method": "HmacSHA256", "req_method": "GET"},
], ids=["tc3-post", "tc3-get", "hmacsha1-post", "hmacsha256-get"])
def test_a_wrong_secret_is_still_refused(server, settings):
    for endpoint in [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]:
        [result] = node_calls(endpoint, [("ListKeys", {})], secret_key=SECRET_KEY + "x", **settings)
        assert result["error"]["code"] == "AuthFailure.SignatureFailure", result
        assert result["error"]["requestId"]


def test_errors_reach_the_sdk_with_the_vendor_code(server):
    results = node_calls(f"127.0.0.1:{server.port}", [
        ("DescribeKey", {"KeyId": "00000000-0000-4000-8000-000000000000"}),
        ("Decrypt", {"CiphertextBlob": base64.b64encode(b"not a blob").decode()}),
    ])
    assert [r["error"]["code"] for r in results] == ["ResourceUnavailable.CmkNotFound",
                                                      "InvalidParameterValue.InvalidCiphertext"]
