#!/usr/bin/env bash
# What the metrics endpoint and the wallboard (issue 17) cost a release hotlined. Seeds
# CALLS calls received today (before now, local day), then:
#  1. times fresh reads, each over a second after the last (both endpoints keep a read for
#     a second): GET /metrics (reads every call of the current shift) and GET /board.json
#     (the alerts and open calls; the day's calls were read by the first); medians of
#     REPEATS, and the daemon's CPU for each;
#  2. runs `hotline-tools bench` (8 connections) with nothing watching, then with 8
#     wallboard streams open and a scrape every second: events/s and acknowledgement
#     latency side by side, alternating, REPEATS rounds.
# Usage: Benchmarks/live.sh [--calls N] [--repeats N] [--seconds S]
# BIN=DIR uses hotlined, hotlinectl and hotline-tools already built there.
set -euo pipefail
calls=50000 repeats=5 seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--calls N] [--repeats N] [--seconds S]" >&2; exit 2 ;;
  esac
done
command -v curl >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq curl; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport=$(port); wport=$(port)
EXTRA_YAML="metrics:
  listen: 127.0.0.1:$mport
wallboard:
  listen: 127.0.0.1:$wport"
if [ -n "${BIN:-}" ]; then
  BIN=$(cd "$BIN" && pwd)
  swift() { echo "$BIN"; }
fi
. "$(dirname "$0")/scratch-daemon.sh"
ctl=("$bin/hotlinectl" --socket "$dir/s.sock")
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores; $calls calls today"

# --- Seeding: today's calls, spread over the hours since local midnight (at most 8), in
# chunks of 1000 lines sent by 4 hotlinectl processes; 999 alerts acknowledged.
mkdir -p "$dir/seed"
python3 - "$dir/seed" "$calls" <<'PY'
import json, random, sys, uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(17)
now = datetime.now(timezone.utc)
midnight = now.astimezone(ZoneInfo("Europe/London")).replace(hour=0, minute=0, second=0, microsecond=0)
start = max(midnight.astimezone(timezone.utc), now - timedelta(hours=8))
span = max(60.0, (now - start).total_seconds() - 60)
def uid(): return str(uuid.UUID(int=rng.getrandbits(128), version=4))
def t(d): return d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
numbers = ["999"] * 3 + ["0800 789 321"] * 20 + ["101"] * 50 + ["01632 960 018"] * 27
lines = []
for _ in range(n):
    received = start + timedelta(seconds=rng.uniform(0, span))
    answered = received + timedelta(seconds=rng.uniform(2, 30))
    call = {"id": uid(), "dialled": rng.choice(numbers), "received_at": t(received), "answered_at": t(answered)}
    lines.append({"op": "call.start", "event_id": uid(), "call": call})
for i in range(0, len(lines), 1000):
    with open(f"{out}/start-{i // 1000:05d}.jsonl", "w") as f:
        f.writelines(json.dumps(l, separators=(",", ":")) + "\n" for l in lines[i:i + 1000])
PY
find "$dir/seed" -name 'start-*.jsonl' -print0 | sort -z |
  xargs -0 -P 4 -I{} sh -c '"$@" send < "{}" > "{}.out"' sh "${ctl[@]}"
{ grep -ho '"alert_id":"[0-9a-f-]*"' "$dir"/seed/start-*.out || true; } |
  sed 's/.*:"\(.*\)"/{"op":"alert.ack","alert_id":"\1"}/' | split -l 1000 -a 5 -d --additional-suffix=.jsonl - "$dir/seed/ack-"
find "$dir/seed" -name 'ack-*.jsonl' -print0 | xargs -0 -r -P 4 -I{} sh -c '"$@" send < "{}" > /dev/null' sh "${ctl[@]}"
rm -rf "$dir/seed"
ticks=$(getconf CLK_TCK)
daemon_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for _ in $(seq 120); do a=$(daemon_cpu); sleep 1; [ $(($(daemon_cpu) - a)) -le $((ticks / 20)) ] && break; done
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# --- 1. Fresh reads.
for what in "metrics:$mport/metrics" "board:$wport/board.json"; do
  name=${what%%:*} url=http://127.0.0.1:${what#*:}
  : > "$dir/times"; : > "$dir/cpus"
  for _ in $(seq "$repeats"); do
    sleep 1.2
    c0=$(daemon_cpu)
    curl -s -o "$dir/body" -w '%{time_total}\n' "$url" >> "$dir/times"
    echo $(( ($(daemon_cpu) - c0) * 1000 / ticks )) >> "$dir/cpus"
  done
  printf '%-8s %6.1f ms wall (median of %d), %s ms daemon CPU (median; clock ticks of %d ms), %d bytes\n' "$name" \
    "$(median < "$dir/times" | awk '{print $1 * 1000}')" "$repeats" "$(median < "$dir/cpus")" $((1000 / ticks)) "$(wc -c < "$dir/body")"
done

# --- 2. Writes with and without watchers, alternating.
watchers=()
watch_on() {
  watchers=()
  for _ in $(seq 8); do curl -s -N -o /dev/null "http://127.0.0.1:$wport/events" & watchers+=($!); done
  ( while :; do curl -s -o /dev/null "http://127.0.0.1:$mport/metrics"; sleep 1; done ) & watchers+=($!)
}
# Only the watchers: the daemon is a background job of this shell too.
watch_off() { kill "${watchers[@]}" 2>/dev/null || true; for w in "${watchers[@]}"; do wait "$w" 2>/dev/null || true; done; }
bench() { "$bin/hotline-tools" --socket "$dir/s.sock" bench --connections 8 --seconds "$seconds" --raw-dir "$dir" --json 2>/dev/null | tail -1; }
echo "round watched events_per_s p50_ms p99_ms"
for r in $(seq "$repeats"); do
  for watched in no yes; do
    [ "$watched" = yes ] && watch_on && sleep 1
    line=$(bench)
    [ "$watched" = yes ] && watch_off
    echo "$r $watched $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); r=d["results"][0] if "results" in d else d; print(r.get("events_per_second", r), r.get("p50_ms", ""), r.get("p99_ms", ""))' "$line" 2>/dev/null || echo "$line")"
  done
done
