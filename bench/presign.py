"""Creates a key on a running kmsd and writes wrk Lua scripts that replay one pre-signed Encrypt
and one pre-signed Decrypt. A TC3 signature stays valid for its 5-minute timestamp window, so
one signature serves a whole load run.

usage: presign.py ENDPOINT SECRET_ID SECRET_KEY OUT_DIR
PLAINTEXT_BYTES (default 1024) sets the size of the plaintext encrypted.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path

import requests

endpoint, secret_id, secret_key, out_dir = sys.argv[1:5]
out = Path(out_dir)


def signed(action, body):
    payload = json.dumps(body)
    ts = int(time.time())
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    canonical = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{endpoint}\n",
                           "content-type;host", hashlib.sha256(payload.encode()).hexdigest()])
    scope = f"{date}/kms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{ts}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    for part in (b"kms", b"tc3_request"):
        k = hmac.new(k, part, hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Host": endpoint,
        "X-TC-Action": action,
        "X-TC-Version": "2019-01-18",
        "X-TC-Region": "ap-guangzhou",
        "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}",
    }
    return headers, payload


def call(action, body):
    headers, payload = signed(action, body)
    r = requests.post(f"http://{endpoint}/", data=payload, headers=headers, timeout=10).json()["Response"]
    assert "Error" not in r, r
    return r


def write_lua(name, action, body):
    headers, payload = signed(action, body)
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(payload)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items() if k != "Host"]
    (out / f"{name}.lua").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps({"headers": headers, "body": payload}))


key_id = call("CreateKey", {"Alias": f"bench-{int(time.time() * 1000)}"})["KeyId"]
plaintext = base64.b64encode(b"x" * int(os.environ.get("PLAINTEXT_BYTES", "1024"))).decode()
blob = call("Encrypt", {"KeyId": key_id, "Plaintext": plaintext})["CiphertextBlob"]
write_lua("encrypt", "Encrypt", {"KeyId": key_id, "Plaintext": plaintext})
write_lua("decrypt", "Decrypt", {"CiphertextBlob": blob})
print(key_id)
