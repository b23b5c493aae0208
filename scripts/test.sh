#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the conformance tests that start
# the release server and drive it through the vendors' official SDKs and CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${KMS_TEST_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt
# The vendor's Node.js SDK at the version its lock file pins, for test_nodejs_sdk.py.
npm ci --prefix tests/nodejs --no-audit --no-fund --silent

cargo test --workspace --quiet
cargo build --release --quiet
"$venv/bin/python" -m pytest -q tests/conformance "$@"
