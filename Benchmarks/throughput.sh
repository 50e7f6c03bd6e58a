#!/usr/bin/env bash
# Starts a release hotlined on a scratch database, runs `hotline-tools bench` against it
# (durable events/s and acknowledgement latency at 1, 8 and 64 connections, beside the raw
# SQLite ceiling measured in the same run and directory), then stops it.
# Usage: [ENGINE=postgresql [STANDBY=0]] Benchmarks/throughput.sh [hotline-tools bench options]   (make bench)
set -euo pipefail
. "$(dirname "$0")/scratch-daemon.sh"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(df -T "$dir" | awk 'NR==2 {print $2}') file system, log on $engine"
"$bin/hotline-tools" --socket "$dir/s.sock" bench --raw-dir "$dir" "$@"
