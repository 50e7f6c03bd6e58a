#!/usr/bin/env bash
# Starts a release hotlined on a scratch database, runs `hotlinectl bench` against it
# (durable events/s and acknowledgement latency at 1, 8 and 64 connections, beside the raw
# SQLite ceiling measured in the same run and directory), then stops it.
# Usage: Benchmarks/throughput.sh [hotlinectl bench options]   (make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/hotlined-bench.XXXXXX")
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
"$bin/hotlinectl" keygen > "$dir/hotlined.key"
sed "s|  # key_file: /etc/hotlined/hotlined.key|  key_file: $dir/hotlined.key|" Config/hotlined.yaml > "$dir/hotlined.yaml"
"$bin/hotlined" --config "$dir/hotlined.yaml" --socket "$dir/s.sock" --database "$dir/calls.sqlite" 2>"$dir/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/s.sock" ] && break; sleep 0.1; done
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(df -T "$dir" | awk 'NR==2 {print $2}') file system"
"$bin/hotlinectl" --socket "$dir/s.sock" bench --raw-dir "$dir" "$@"
