"""Writes wrk Lua scripts that replay pre-signed Encrypt and Decrypt calls to a running kmsd. A
TC3 signature stays valid for its 5-minute timestamp window, so one signature serves a whole
load run.

By default it creates one key and signs one Encrypt and one Decrypt of --plaintext-bytes (1024)
under it; with --huawei-project (the root account's project id) also the Huawei dialect's
encrypt-data and decrypt-data of as many characters under the same key, signed with
SDK-HMAC-SHA256 (valid for 15 minutes), as huawei_encrypt and huawei_decrypt. With --sample FILE
(lines "KEY_ID CIPHERTEXT_HEX", as the fill_store example prints them, of 32-byte plaintexts) it
signs one Encrypt and one Decrypt per listed key, and the scripts cycle through them, so a load
run touches keys spread over the whole store.

usage: presign.py ENDPOINT SECRET_ID SECRET_KEY OUT_DIR [--sample FILE] [--plaintext-bytes N]
                  [--huawei-project PROJECT_ID]
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "conformance"))
from huawei_signing import sign_request  # noqa: E402


def signed(endpoint, secret_id, secret_key, action, body):
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


def call(args, action, body):
    headers, payload = signed(args.endpoint, args.secret_id, args.secret_key, action, body)
    r = requests.post(f"http://{args.endpoint}/", data=payload, headers=headers,
                      timeout=10).json()["Response"]
    assert "Error" not in r, r
    return r


def write_lua(out, name, requests_, path="/"):
    """One request: wrk's own fields. Several: a table of them that request() cycles through."""
    lua = lambda v: json.dumps(v)
    if len(requests_) == 1:
        headers, payload = requests_[0]
        lines = ['wrk.method = "POST"', f"wrk.path = {lua(path)}", f"wrk.body = {lua(payload)}"]
        lines += [f"wrk.headers[{lua(k)}] = {lua(v)}" for k, v in headers.items() if k.lower() != "host"]
    else:
        lines = ["local calls = {"]
        for headers, payload in requests_:
            fields = ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in headers.items() if k.lower() != "host")
            lines.append(f'  wrk.format("POST", {lua(path)}, {{{fields}}}, {lua(payload)}),')
        lines += ["}", "local i = 0",
                  "request = function()", "  i = i % #calls + 1", "  return calls[i]", "end"]
    (out / f"{name}.lua").write_text("\n".join(lines) + "\n")
    headers, payload = requests_[0]
    (out / f"{name}.json").write_text(json.dumps({"headers": headers, "body": payload, "path": path}))


def write_huawei(args, out, project, key_id, plaintext):
    """encrypt-data and decrypt-data of `plaintext` (text) under `key_id`."""
    def huawei_signed(operation, body):
        path = f"/v1.0/{project}/kms/{operation}"
        payload = json.dumps(body)
        headers = sign_request("POST", path, body=payload.encode(), host=args.endpoint, ak=args.secret_id,
                               sk=args.secret_key, headers={"x-project-id": project})
        return path, headers, payload

    path, headers, payload = huawei_signed("encrypt-data", {"key_id": key_id, "plain_text": plaintext})
    answer = requests.post(f"http://{args.endpoint}{path}", data=payload, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    write_lua(out, "huawei_encrypt", [(headers, payload)], path)
    path, headers, payload = huawei_signed("decrypt-data", {"cipher_text": answer.json()["cipher_text"]})
    write_lua(out, "huawei_decrypt", [(headers, payload)], path)


def main():
    parser = argparse.ArgumentParser()
    for name in ("endpoint", "secret_id", "secret_key", "out_dir"):
        parser.add_argument(name)
    parser.add_argument("--sample")
    parser.add_argument("--plaintext-bytes", type=int)
    parser.add_argument("--huawei-project")
    args = parser.parse_args()
    out = Path(args.out_dir)
    size = args.plaintext_bytes or (32 if args.sample else 1024)
    plaintext = base64.b64encode(b"x" * size).decode()
    sign = lambda action, body: signed(args.endpoint, args.secret_id, args.secret_key, action, body)
    if args.sample:
        if size != 32 or args.huawei_project:
            parser.error("the sample's ciphertexts hold 32 bytes: --plaintext-bytes must be 32, "
                         "and --huawei-project needs no sample")
        pairs = [line.split() for line in Path(args.sample).read_text().splitlines() if line]
        encrypts = [sign("Encrypt", {"KeyId": k, "Plaintext": plaintext}) for k, _ in pairs]
        decrypts = [sign("Decrypt", {"CiphertextBlob": base64.b64encode(bytes.fromhex(blob)).decode()})
                    for _, blob in pairs]
    else:
        key_id = call(args, "CreateKey", {"Alias": f"bench-{int(time.time() * 1000)}"})["KeyId"]
        pairs = [(key_id, None)]
        encrypts = [sign("Encrypt", {"KeyId": key_id, "Plaintext": plaintext})]
        blob = call(args, "Encrypt", {"KeyId": key_id, "Plaintext": plaintext})["CiphertextBlob"]
        decrypts = [sign("Decrypt", {"CiphertextBlob": blob})]
    write_lua(out, "encrypt", encrypts)
    write_lua(out, "decrypt", decrypts)
    if args.huawei_project:
        write_huawei(args, out, args.huawei_project, pairs[0][0], "x" * size)
    print(pairs[0][0])


if __name__ == "__main__":
    main()
