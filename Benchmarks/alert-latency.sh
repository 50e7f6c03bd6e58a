#!/usr/bin/env bash
# Starts a release hotlined on a scratch database and runs `hotline-tools alert-bench`: the time
# from a 999 call.start being sent to its alert reaching a subscribed console (the durable
# commit included), idle and while other connections write. Usage: Benchmarks/alert-latency.sh [options]
set -euo pipefail
. "$(dirname "$0")/scratch-daemon.sh"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores"
"$bin/hotline-tools" --socket "$dir/s.sock" alert-bench "$@"
