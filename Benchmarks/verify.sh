#!/usr/bin/env bash
# Fills a scratch log with `hotline-tools bench` (64 connections, SECONDS s, default 20), then
# times `hotlinectl verify` through the daemon REPEATS times (default 3): the cost of walking
# both chains (plain and keyed) and every projection.
# Usage: [BIN=DIR] Benchmarks/verify.sh [SECONDS] [REPEATS]
set -euo pipefail
seconds=${1:-20}
repeats=${2:-3}
. "$(dirname "$0")/scratch-daemon.sh"
"$bin/hotline-tools" --socket "$dir/s.sock" bench --connections 64 --seconds "$seconds" --raw-dir "$dir" >/dev/null
for _ in $(seq "$repeats"); do
  s=$(date +%s.%N)
  "$bin/hotlinectl" --socket "$dir/s.sock" verify --json > "$dir/verify.json" || true
  e=$(date +%s.%N)
  python3 - "$dir/verify.json" "$s" "$e" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
took = float(sys.argv[3]) - float(sys.argv[2])
print(f"verify: {r.get('events')} events, intact {r.get('intact')}, keyed chain {r.get('keyed_chain', '-')}: "
      f"{took:.2f} s ({took / max(1, r.get('events') or 1) * 1e6:.0f} µs per event)")
PY
done
