#!/usr/bin/env bash
# Starts a release hotlined on a scratch database and runs `hotlinectl alert-bench`: the time
# from a 999 call.start being sent to its alert reaching a subscribed console (the durable
# commit included), idle and while other connections write. Usage: Benchmarks/alert-latency.sh [options]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/hotlined-alerts.XXXXXX")
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
"$bin/hotlinectl" keygen > "$dir/hotlined.key"
sed "s|  # key_file: /etc/hotlined/hotlined.key|  key_file: $dir/hotlined.key|" Config/hotlined.yaml > "$dir/hotlined.yaml"
"$bin/hotlined" --config "$dir/hotlined.yaml" --socket "$dir/s.sock" --database "$dir/calls.sqlite" 2>"$dir/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/s.sock" ] && break; sleep 0.1; done
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores"
"$bin/hotlinectl" --socket "$dir/s.sock" alert-bench "$@"
