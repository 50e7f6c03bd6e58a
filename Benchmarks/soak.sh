#!/usr/bin/env bash
# Soak: starts a release hotlined on a scratch database and drives it with Benchmarks/soak-load.py
# for --minutes at a steady control-room peak of --rate new calls a second (each a call.start,
# 1-3 call.updates and a call.end 30-120 s later, ~20% on 999/112 raising alerts) over 16
# workstation connections, with a supervisor console acknowledging every alert and a reader
# listing the last minute's calls and asking stats every 10 s. Prints, per minute (per 2 over
# 20 minutes), the events acknowledged, acknowledgement latency p50/p99/max, the daemon's
# VmRSS/VmHWM, descriptors, database and WAL size and non-ok answers; then checks that `verify`
# is intact and `stats` counts exactly the events acknowledged (exit 1 otherwise).
# Usage: Benchmarks/soak.sh [--minutes N] [--rate CALLS_PER_SECOND] [--log FILE]   (docs/RELIABILITY.md)
# BIN=DIR uses hotlined and hotlinectl already built there (BIN=.build-soak/release).
# --log FILE keeps one JSON line a minute (every figure, unrounded) after the scratch dir is gone.
set -euo pipefail
minutes=30 rate=50 log=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --log) log=$(realpath -m "$2"); shift 2 ;;
    *) echo "usage: $0 [--minutes N] [--rate CALLS_PER_SECOND] [--log FILE]" >&2; exit 2 ;;
  esac
done
. "$(dirname "$0")/scratch-daemon.sh"
[ -z "$log" ] || : > "$log"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(df -T "$dir" | awk 'NR==2 {print $2}') file system," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 2^20}' /proc/meminfo) RAM; hotlined pid $pid, $rate calls/s for $minutes min"
status=0
python3 Benchmarks/soak-load.py --socket "$dir/s.sock" --pid "$pid" --database "$dir/calls.sqlite" \
  --minutes "$minutes" --rate "$rate" ${log:+--log "$log"} || status=$?
kill -0 "$pid" 2>/dev/null || { echo "FAILED: hotlined exited during the soak" >&2; status=1; }
# The daemon's log by level; alerts log a warning ("call escalated") and, through the journal
# sink, a critical line ("ALERT level"): the rest are listed.
echo "Daemon log: $(wc -l < "$dir/daemon.log") lines ($(awk '{print $2}' "$dir/daemon.log" | sort | uniq -c |
  awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')); other than alerts:"
{ grep -vE 'call escalated|ALERT level' "$dir/daemon.log" || true; } | cut -d' ' -f2- | sed -E 's/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/UUID/g; s/[0-9a-f]{32,}/HEX/g; s/\b[0-9]+\b/N/g' |
  sort | uniq -c | sort -rn | head -8 | sed 's/^/  /'
exit "$status"
