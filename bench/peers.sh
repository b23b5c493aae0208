#!/usr/bin/env bash
# kmsd beside a KMS a user might run instead, in one run: moto's server (PyPI "moto[server]"),
# which answers the AWS KMS JSON API and checks no signature at all. The same 1 KiB Encrypt and
# Decrypt replayed with wrk against each in turn, ROUNDS times: kmsd's requests TC3-signed (and
# verified), moto's one fixed AWS JSON 1.1 request each, with an Authorization header only to name
# the service.
#
# Needs: wrk, Python 3 with requests (PYTHON, default the conformance venv), and moto_server
# (MOTO_SERVER, default moto_server on PATH; e.g. python3 -m venv moto-venv && moto-venv/bin/pip
# install "moto[server]"). Knobs: ROUNDS (default 3), DURATION (s per run, default 8),
# CONNECTIONS (default 32), KMSD_BIN (default this tree's release build).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${ROUNDS:-3}"
duration="${DURATION:-8}"
connections="${CONNECTIONS:-32}"
python="${PYTHON:-${KMS_TEST_VENV:-.venv}/bin/python}"
moto_server="${MOTO_SERVER:-moto_server}"
secret_id=AKIDloadtest00000000000000000000000
secret_key=loadtestsecretkey000000000000000
kmsd_port=18771
moto_port=18772
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

kmsd="${KMSD_BIN:-}"
if [ -z "$kmsd" ]; then
  cargo build --release --quiet -p kmsd
  kmsd=target/release/kmsd
fi

KMSD_RATE_LIMIT=0 KMSD_ROOT_SECRET_ID=$secret_id KMSD_ROOT_SECRET_KEY=$secret_key KMSD_LOG=warn \
  "$kmsd" serve --listen "127.0.0.1:$kmsd_port" --data-dir "$work/data" >/dev/null 2>"$work/kmsd.log" &
pids+=($!)
"$moto_server" -p "$moto_port" >/dev/null 2>"$work/moto.log" &
pids+=($!)
until curl -sf "http://127.0.0.1:$kmsd_port/healthz" >/dev/null; do sleep 0.1; done
until curl -s -o /dev/null "http://127.0.0.1:$moto_port/"; do sleep 0.1; done

mkdir -p "$work/kmsd" "$work/moto"
"$python" bench/presign.py "127.0.0.1:$kmsd_port" "$secret_id" "$secret_key" "$work/kmsd" \
  --plaintext-bytes 1024 >/dev/null
# moto: one key, one ciphertext, then the two requests as wrk scripts.
"$python" - "127.0.0.1:$moto_port" "$work/moto" <<'PY'
import base64, json, sys
from pathlib import Path
import requests
endpoint, out = sys.argv[1], Path(sys.argv[2])
# moto tells the service from the credential scope of the Authorization header, and checks
# nothing else of it.
headers = {"Content-Type": "application/x-amz-json-1.1",
           "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, "
                            "SignedHeaders=host, Signature=00"}
def call(action, body):
    r = requests.post(f"http://{endpoint}/", data=json.dumps(body),
                      headers={**headers, "X-Amz-Target": f"TrentService.{action}"}, timeout=10)
    r.raise_for_status()
    return r.json()
key_id = call("CreateKey", {})["KeyMetadata"]["KeyId"]
plaintext = base64.b64encode(b"x" * 1024).decode()
blob = call("Encrypt", {"KeyId": key_id, "Plaintext": plaintext})["CiphertextBlob"]
assert base64.b64decode(call("Decrypt", {"CiphertextBlob": blob})["Plaintext"]) == b"x" * 1024
for name, action, body in [("encrypt", "Encrypt", {"KeyId": key_id, "Plaintext": plaintext}),
                           ("decrypt", "Decrypt", {"CiphertextBlob": blob})]:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}",
             f'wrk.headers["X-Amz-Target"] = "TrentService.{action}"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    (out / f"{name}.lua").write_text("\n".join(lines) + "\n")
PY

source bench/wrk_run.sh

echo "cores: $(nproc); load generator and servers share them; 1 KiB plaintexts"
moto_python="$(dirname "$(command -v "$moto_server")")/python"
echo "moto $("$moto_python" -c 'import importlib.metadata as m; print(m.version("moto"))')"
echo "round server action requests/s p50 p99"
for round in $(seq "$rounds"); do
  for action in encrypt decrypt; do
    echo "$round kmsd $action $(wrk_run -s "$work/kmsd/$action.lua" "http://127.0.0.1:$kmsd_port/")"
    echo "$round moto $action $(wrk_run -s "$work/moto/$action.lua" "http://127.0.0.1:$moto_port/")"
  done
done
for pid in "${pids[@]}"; do
  echo "pid $pid ($(tr '\0' ' ' </proc/$pid/cmdline | cut -c1-40)): $(grep VmHWM /proc/$pid/status | tr -s ' \t' ' ')"
done
