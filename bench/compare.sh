#!/usr/bin/env bash
# Before/after in one run: bench/load.sh's throughput phases (healthz, Encrypt, Decrypt, and
# Encrypt at half peak) against an older kmsd binary and this tree's, alternating ROUNDS times
# (default 2) so drift of the machine falls on both alike.
#
# Usage: bench/compare.sh OLD_KMSD_BINARY   (build it from the older commit first)
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:?usage: bench/compare.sh OLD_KMSD_BINARY}"
cargo build --release --quiet
for round in $(seq "${ROUNDS:-2}"); do
  echo "## round $round: before ($old)"
  KEYS=0 KMSD_BIN="$old" bench/load.sh
  echo "## round $round: after (target/release/kmsd)"
  KEYS=0 KMSD_BIN=target/release/kmsd bench/load.sh
done
