#!/usr/bin/env bash
# Load test of a release kmsd on this machine: replays one pre-signed Encrypt and one pre-signed
# Decrypt with wrk at full speed, beside GET /healthz (the HTTP stack's own ceiling) in the same
# run; then Encrypt at half its peak rate with oha for tail latency; then resident memory with
# KEYS keys in the store.
#
# Needs: wrk (apt install wrk), oha (cargo install oha), the conformance venv (scripts/test.sh
# makes .venv). Knobs: DURATION (s, default 10), CONNECTIONS (default 32), KEYS (default 100000;
# 0 skips the memory phase), KMSD_BIN (a kmsd binary to measure instead of building this tree),
# STORE (a postgres:// URL of an empty database: the node keeps its keys there instead of in the
# embedded store), AUDIT=1 (the audit trail on, written to a file), PLAINTEXT_BYTES (default
# 1024: the size Encrypt encrypts).
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-10}"
connections="${CONNECTIONS:-32}"
keys="${KEYS:-100000}"
python="${KMS_TEST_VENV:-.venv}/bin/python"
work="$(mktemp -d)"
port=18740
endpoint="127.0.0.1:$port"
secret_id=AKIDloadtest00000000000000000000000
secret_key=loadtestsecretkey000000000000000
project_id=00000000000000000000000000000bee

kmsd="${KMSD_BIN:-}"
if [ -z "$kmsd" ]; then
  cargo build --release --quiet
  kmsd=target/release/kmsd
fi
# Rate limits off: this measures the server, not the per-action budget (older builds ignore it).
KMSD_RATE_LIMIT=0 KMSD_ROOT_SECRET_ID=$secret_id KMSD_ROOT_SECRET_KEY=$secret_key KMSD_LOG=warn \
  KMSD_ROOT_PROJECT_ID=$project_id \
  "$kmsd" serve --listen "$endpoint" --data-dir "$work/data" ${STORE:+--store "$STORE"} \
  ${AUDIT:+--audit-log "$work/audit.log"} 2>"$work/kmsd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://$endpoint/healthz" >/dev/null; do sleep 0.1; done

"$python" bench/presign.py "$endpoint" "$secret_id" "$secret_key" "$work" --huawei-project "$project_id" \
  ${PLAINTEXT_BYTES:+--plaintext-bytes "$PLAINTEXT_BYTES"} >/dev/null

source bench/wrk_run.sh

echo "cores: $(nproc); load generator and server share them"
echo "target       requests/s  p50  p99"
read -r h_rps h_p50 h_p99 < <(wrk_run "http://$endpoint/healthz")
echo "healthz      $h_rps  $h_p50  $h_p99"
read -r e_rps e_p50 e_p99 < <(wrk_run -s "$work/encrypt.lua" "http://$endpoint/")
echo "Encrypt      $e_rps  $e_p50  $e_p99"
read -r d_rps d_p50 d_p99 < <(wrk_run -s "$work/decrypt.lua" "http://$endpoint/")
echo "Decrypt      $d_rps  $d_p50  $d_p99"
read -r he_rps he_p50 he_p99 < <(wrk_run -s "$work/huawei_encrypt.lua" "http://$endpoint/")
echo "encrypt-data $he_rps  $he_p50  $he_p99"
read -r hd_rps hd_p50 hd_p99 < <(wrk_run -s "$work/huawei_decrypt.lua" "http://$endpoint/")
echo "decrypt-data $hd_rps  $hd_p50  $hd_p99"
"$python" -c "print(f'of the healthz ceiling: Encrypt {$e_rps/$h_rps:.2f}, Decrypt {$d_rps/$h_rps:.2f}, '
               f'encrypt-data {$he_rps/$h_rps:.2f}, decrypt-data {$hd_rps/$h_rps:.2f}')"

if command -v oha >/dev/null; then
  half=$("$python" -c "print(int($e_rps/2))")
  "$python" bench/presign.py "$endpoint" "$secret_id" "$secret_key" "$work" >/dev/null
  "$python" - "$work/encrypt.json" "$half" "$duration" "http://$endpoint/" <<'PY'
import json, subprocess, sys
req = json.load(open(sys.argv[1]))
args = ["oha", "--no-tui", "--output-format", "json", "-z", f"{sys.argv[3]}s", "-c", "16",
        "-q", sys.argv[2], "-m", "POST", "-d", req["body"]]
for k, v in req["headers"].items():
    if k != "Host":
        args += ["-H", f"{k}: {v}"]
out = json.loads(subprocess.run(args + [sys.argv[4]], check=True, capture_output=True).stdout)
p = out["latencyPercentiles"]
codes = out.get("statusCodeDistribution", {})
print(f"Encrypt at {sys.argv[2]} req/s (half of peak): achieved {out['summary']['requestsPerSec']:.0f} req/s, "
      f"p50 {p['p50']*1000:.2f} ms, p99 {p['p99']*1000:.2f} ms, status codes {codes}")
PY
else
  echo "oha not installed: skipping the half-peak latency run (cargo install oha)"
fi

[ "$keys" -gt 0 ] || exit 0
echo "creating $keys keys through the API..."
"$python" - "$endpoint" "$secret_id" "$secret_key" "$keys" <<'PY'
import concurrent.futures as cf, sys, time
sys.path.insert(0, "tests/conformance")
from conftest import call, make_client
endpoint, sid, skey, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = make_client(endpoint, secret_id=sid, secret_key=skey)
start = time.time()
with cf.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: call(client, "CreateKey", Alias=f"load-{i}"), range(n)))
print(f"created {n} keys at {n / (time.time() - start):.0f} keys/s")
PY
"$python" bench/presign.py "$endpoint" "$secret_id" "$secret_key" "$work" >/dev/null
read -r e_rps e_p50 e_p99 < <(wrk_run -s "$work/encrypt.lua" "http://$endpoint/")
echo "Encrypt with $keys keys stored: $e_rps req/s, p50 $e_p50, p99 $e_p99"
grep -E "VmRSS|VmHWM" "/proc/$pid/status"
