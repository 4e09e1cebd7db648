#!/usr/bin/env bash
# Load and memory of a release build, measured from outside the process
# against the test fakes (Slack, and a tailnet of 10,000 devices, then of
# 10), on SQLite: /healthz and a replayed click on a decided request side
# by side under wrk (8 connections, three alternating rounds), first clicks on 50 decided requests at
# once, first approvals of 50 pending requests at once, and resident memory
# idle and after 30 full requests. See the README's performance section.
#
#   scripts/load.sh [path/to/accessbot]     (default: builds target/release/accessbot)
#
# Needs wrk (apt-get install wrk). Sends traffic to 127.0.0.1 only, and
# stops by itself (six floods of SECONDS_PER_FLOOD each, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "load.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
binary=${1:-}
if [[ -z "$binary" ]]; then
  cargo build --release --locked --bin accessbot
  binary=target/release/accessbot
fi
cargo build --locked --example load
seconds=${SECONDS_PER_FLOOD:-10}

echo "== 10,000 devices"
target/debug/examples/load --binary "$binary" --devices 10000 --seconds "$seconds"
echo "== a small tailnet (10 devices)"
target/debug/examples/load --binary "$binary" --devices 10 --memory-only
