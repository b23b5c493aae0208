#!/usr/bin/env bash
# A million keys on one node, against a thousand, in one run: two data dirs are filled with
# BASE_KEYS and KEYS AES-256 keys and as many hosted data keys (the fill_store example writes
# them through the engine and the store, sealed under each data dir's own root key, many per
# commit), then for each: the time from process start to /healthz answering (STARTS starts, the
# page cache warm), and with both servers up side by side, ROUNDS alternating wrk runs of
# pre-signed Encrypt and Decrypt cycling through SAMPLE keys spread evenly over the store, a few
# listings, and last each server's resident memory; then the resident memory of the BASE_KEYS
# server before and after CREDENTIALS more credentials of its root account (admin API).
#
# Needs: wrk (apt install wrk), Python 3 with requests (the conformance venv, or PYTHON=...).
# Knobs: KEYS (default 1000000), BASE_KEYS (1000), SAMPLE (1000), STARTS (3), ROUNDS (3),
# CREDENTIALS (2000),
# DURATION (s per wrk run, default 8), CONNECTIONS (32), KMSD_BIN (a kmsd to measure instead of
# this tree's), WORK (keep the data dirs there, default a temporary directory, removed after).
#
# The fill writes past the per-region key limit (200,000 by default): a server over a filled
# store refuses CreateKey in that region unless started with a larger --max-keys-per-region.
set -euo pipefail
cd "$(dirname "$0")/.."

keys="${KEYS:-1000000}"
base="${BASE_KEYS:-1000}"
sample="${SAMPLE:-1000}"
starts="${STARTS:-3}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-8}"
connections="${CONNECTIONS:-32}"
python="${PYTHON:-${KMS_TEST_VENV:-.venv}/bin/python}"
secret_id=AKIDloadtest00000000000000000000000
secret_key=loadtestsecretkey000000000000000
if [ -n "${WORK:-}" ]; then
  work="$WORK"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi

kmsd="${KMSD_BIN:-}"
cargo build --release --quiet -p kmsd --example fill_store
if [ -z "$kmsd" ]; then
  cargo build --release --quiet -p kmsd
  kmsd=target/release/kmsd
fi

declare -A pids
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap 'stop_all; [ -n "${WORK:-}" ] || rm -rf "$work"' EXIT

# Starts kmsd on data dir $1 at port $2; sets started_in to the seconds from the start to
# /healthz's first 200.
serve() {
  local start now
  start=$(date +%s%N)
  KMSD_RATE_LIMIT=0 KMSD_ROOT_SECRET_ID=$secret_id KMSD_ROOT_SECRET_KEY=$secret_key \
    KMSD_LOG="${KMSD_LOG:-warn}" "$kmsd" serve --listen "127.0.0.1:$2" --data-dir "$1" >/dev/null 2>>"$work/kmsd-$2.log" &
  pids[$2]=$!
  until curl -sf "http://127.0.0.1:$2/healthz" >/dev/null; do sleep 0.005; done
  now=$(date +%s%N)
  started_in=$(awk -v ns=$((now - start)) 'BEGIN {printf "%.3f", ns / 1e9}')
}
stop() {
  kill "${pids[$1]}"
  wait "${pids[$1]}" || true
  unset "pids[$1]"
}

source bench/wrk_run.sh

echo "cores: $(nproc); load generator and servers share them"
port=18741
declare -A port_of
for n in "$base" "$keys"; do
  dir="$work/keys-$n"
  port_of[$n]=$port
  if [ ! -s "$work/sample-$n" ]; then
    rm -rf "$dir"
    # The first start makes the root key and the root account, and scrubs the empty store; it
    # waits for that scrub so its stop leaves the mark that spares later starts a scrub (the
    # fill erases nothing, so the mark stays true).
    : >"$work/kmsd-$port.log"
    KMSD_LOG=info,kmsd=debug serve "$dir" "$port"
    until grep -q "scrubbed the store's free space" "$work/kmsd-$port.log"; do sleep 0.1; done
    stop "$port"
    fill_start=$(date +%s)
    target/release/examples/fill_store "$dir" "$n" "$sample" >"$work/sample-$n.new" 2>"$work/fill-$n.log"
    mv "$work/sample-$n.new" "$work/sample-$n"
    echo "$n keys: filled in $(($(date +%s) - fill_start)) s; store file $(du -h "$dir/kms.redb" | cut -f1)"
  fi
  times=()
  for _ in $(seq "$starts"); do
    serve "$dir" "$port"
    times+=("$started_in")
    stop "$port"
  done
  echo "$n keys: start to /healthz ${times[*]} s"
  port=$((port + 1))
done

for n in "$base" "$keys"; do
  serve "$work/keys-$n" "${port_of[$n]}"
  mkdir -p "$work/lua-$n"
  "$python" bench/presign.py "127.0.0.1:${port_of[$n]}" "$secret_id" "$secret_key" "$work/lua-$n" \
    --sample "$work/sample-$n" >/dev/null
done

echo "round keys action requests/s p50 p99"
for round in $(seq "$rounds"); do
  for action in encrypt decrypt; do
    for n in "$base" "$keys"; do
      echo "$round $n $action $(wrk_run -s "$work/lua-$n/$action.lua" "http://127.0.0.1:${port_of[$n]}/")"
    done
  done
done

for n in "$base" "$keys"; do
  "$python" - "127.0.0.1:${port_of[$n]}" "$secret_id" "$secret_key" "$n" <<'PY'
import sys, time
sys.path.insert(0, "bench")
import requests
from presign import signed
endpoint, sid, skey, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
for action, body in [("ListKeys", {"Limit": 200}), ("ListKeys", {"Limit": 200, "Offset": 5000}),
                     ("ListKeyDetail", {"Limit": 200}), ("ListDataKeys", {"Limit": 200})]:
    times = []
    for _ in range(10):
        headers, payload = signed(endpoint, sid, skey, action, body)
        start = time.perf_counter()
        r = requests.post(f"http://{endpoint}/", data=payload, headers=headers, timeout=60).json()
        times.append(time.perf_counter() - start)
        assert "Error" not in r["Response"], r
    times.sort()
    total = r["Response"].get("TotalCount")
    print(f"{n} keys: {action} {body}: median {1000 * times[5]:.1f} ms, total {total}")
PY
done

for n in "$base" "$keys"; do
  echo "$n keys: $(grep -E 'VmRSS|VmHWM' "/proc/${pids[${port_of[$n]}]}/status" | tr -s ' \n' ' ')"
done

rss() { awk '/VmRSS/ {print $2}' "/proc/${pids[$1]}/status"; }
base_port=${port_of[$base]}
before=$(rss "$base_port")
"$python" - "127.0.0.1:$base_port" "$work/keys-$base" "${CREDENTIALS:-2000}" <<'PY'
import json, sys
from pathlib import Path
import requests
endpoint, data, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
token = (data / "admin-token").read_text().strip()
uin = json.loads((data / "root-credentials.json").read_text())["uin"]
session = requests.Session()
session.headers["Authorization"] = f"Bearer {token}"
for _ in range(n):
    r = session.post(f"http://{endpoint}/admin/v1/accounts/{uin}/credentials", json={"user": None})
    assert r.ok, r.text
PY
after=$(rss "$base_port")
echo "$base keys: VmRSS $before kB, after ${CREDENTIALS:-2000} more credentials $after kB"
