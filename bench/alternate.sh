#!/usr/bin/env bash
# Before/after with both servers running side by side: short wrk runs of pre-signed Encrypt and
# Decrypt against each in turn, ROUNDS times (default 10), so the machine's drift falls on both
# alike. Prints "action before after" in requests/s per alternation.
#
# Usage: bench/alternate.sh OLD_KMSD_BINARY   (build it from the older commit first)
# Knobs: ROUNDS, DURATION (s per run, default 4), KMSD_BIN (default target/release/kmsd).
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:?usage: bench/alternate.sh OLD_KMSD_BINARY}"
new="${KMSD_BIN:-target/release/kmsd}"
python="${KMS_TEST_VENV:-.venv}/bin/python"
secret_id=AKIDloadtest00000000000000000000000
secret_key=loadtestsecretkey000000000000000
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

start() { # binary port
  mkdir -p "$work/$2"
  KMSD_RATE_LIMIT=0 KMSD_ROOT_SECRET_ID=$secret_id KMSD_ROOT_SECRET_KEY=$secret_key KMSD_LOG=warn \
    "$1" serve --listen "127.0.0.1:$2" --data-dir "$work/$2/data" >/dev/null 2>"$work/$2/log" &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$2/healthz" >/dev/null; do sleep 0.1; done
  "$python" bench/presign.py "127.0.0.1:$2" "$secret_id" "$secret_key" "$work/$2" >/dev/null
}
start "$old" 18761
start "$new" 18762

rps() { # port action
  wrk -t2 -c32 -d"${DURATION:-4}s" -s "$work/$1/$2.lua" "http://127.0.0.1:$1/" |
    awk '/Requests\/sec/ {print $2}'
}
echo "action before after"
for _ in $(seq "${ROUNDS:-10}"); do
  for action in encrypt decrypt; do
    echo "$action $(rps 18761 $action) $(rps 18762 $action)"
  done
done
