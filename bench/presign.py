"""Creates a key on a running kmsd and writes wrk Lua scripts that replay one pre-signed Encrypt
and one pre-signed Decrypt. A TC3 signature stays valid for its 5-minute timestamp window, so
one signature serves a whole load run. With HUAWEI_PROJECT_ID set (the root account's project
id), it also writes huawei_encrypt and huawei_decrypt: the Huawei dialect's encrypt-data and
decrypt-data of the same plaintext, signed with SDK-HMAC-SHA256 (valid for 15 minutes).

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "conformance"))
from huawei_signing import sign_request  # noqa: E402

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


def write_request(name, headers, payload, path="/"):
    lines = ['wrk.method = "POST"', f"wrk.path = {json.dumps(path)}", f"wrk.body = {json.dumps(payload)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
              if k.lower() != "host"]
    (out / f"{name}.lua").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps({"headers": headers, "body": payload, "path": path}))


def write_lua(name, action, body):
    headers, payload = signed(action, body)
    write_request(name, headers, payload)


def huawei_signed(project, operation, body):
    path = f"/v1.0/{project}/kms/{operation}"
    payload = json.dumps(body)
    headers = sign_request("POST", path, body=payload.encode(), host=endpoint, ak=secret_id,
                           sk=secret_key, headers={"x-project-id": project})
    return path, headers, payload


def write_huawei(project, key_id, plaintext):
    path, headers, payload = huawei_signed(project, "encrypt-data", {"key_id": key_id, "plain_text": plaintext})
    answer = requests.post(f"http://{endpoint}{path}", data=payload, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    write_request("huawei_encrypt", headers, payload, path)
    path, headers, payload = huawei_signed(project, "decrypt-data", {"cipher_text": answer.json()["cipher_text"]})
    write_request("huawei_decrypt", headers, payload, path)


key_id = call("CreateKey", {"Alias": f"bench-{int(time.time() * 1000)}"})["KeyId"]
plaintext = base64.b64encode(b"x" * int(os.environ.get("PLAINTEXT_BYTES", "1024"))).decode()
blob = call("Encrypt", {"KeyId": key_id, "Plaintext": plaintext})["CiphertextBlob"]
write_lua("encrypt", "Encrypt", {"KeyId": key_id, "Plaintext": plaintext})
write_lua("decrypt", "Decrypt", {"CiphertextBlob": blob})
if os.environ.get("HUAWEI_PROJECT_ID"):
    # encrypt-data takes text: the same number of characters as Tencent's plaintext has bytes.
    write_huawei(os.environ["HUAWEI_PROJECT_ID"], key_id, "x" * int(os.environ.get("PLAINTEXT_BYTES", "1024")))
print(key_id)
