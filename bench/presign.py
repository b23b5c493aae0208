"""Writes wrk Lua scripts that replay pre-signed Encrypt and Decrypt calls to a running kmsd. A
TC3 signature stays valid for its 5-minute timestamp window, so one signature serves a whole
load run.

By default it creates one key and signs one Encrypt and one Decrypt under it. With --sample FILE
(lines "KEY_ID CIPHERTEXT_HEX", as the fill_store example prints them) it signs one Encrypt and
one Decrypt per listed key, and the scripts cycle through them, so a load run touches keys
spread over the whole store.

usage: presign.py ENDPOINT SECRET_ID SECRET_KEY OUT_DIR [--sample FILE] [--plaintext-bytes N]
"""

import argparse
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import requests


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


def write_lua(out, name, requests_):
    """One request: wrk's own fields. Several: a table of them that request() cycles through."""
    lua = lambda v: json.dumps(v)
    if len(requests_) == 1:
        headers, payload = requests_[0]
        lines = ['wrk.method = "POST"', f"wrk.body = {lua(payload)}"]
        lines += [f"wrk.headers[{lua(k)}] = {lua(v)}" for k, v in headers.items() if k != "Host"]
    else:
        lines = ["local calls = {"]
        for headers, payload in requests_:
            fields = ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in headers.items() if k != "Host")
            lines.append(f'  wrk.format("POST", "/", {{{fields}}}, {lua(payload)}),')
        lines += ["}", "local i = 0",
                  "request = function()", "  i = i % #calls + 1", "  return calls[i]", "end"]
    (out / f"{name}.lua").write_text("\n".join(lines) + "\n")
    headers, payload = requests_[0]
    (out / f"{name}.json").write_text(json.dumps({"headers": headers, "body": payload}))


def main():
    parser = argparse.ArgumentParser()
    for name in ("endpoint", "secret_id", "secret_key", "out_dir"):
        parser.add_argument(name)
    parser.add_argument("--sample")
    parser.add_argument("--plaintext-bytes", type=int, default=32)
    args = parser.parse_args()
    out = Path(args.out_dir)
    plaintext = base64.b64encode(b"x" * args.plaintext_bytes).decode()
    sign = lambda action, body: signed(args.endpoint, args.secret_id, args.secret_key, action, body)
    if args.sample:
        if args.plaintext_bytes != 32:
            parser.error("the sample's ciphertexts hold 32 bytes: --plaintext-bytes must be 32")
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
    print(pairs[0][0])


if __name__ == "__main__":
    main()
