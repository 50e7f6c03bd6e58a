#!/usr/bin/env bash
# What a pile of unacknowledged alerts costs the daemon: with no supervisor console
# acknowledging, it logs --calls 999 calls (each raises an alert), waits until every alert
# has reached the top level (max_level: 3 at 30 s a level on 999, so 60 s) and its pushes to
# the alert sinks are delivered (--settle, 120 s by default), then measures the
# daemon's CPU over --seconds of idleness, when it has nothing to do but look for alerts due
# for escalation, and the acknowledgement latency of a few writes meanwhile.
# Usage: Benchmarks/alert-backlog.sh [--calls N] [--seconds S] [--settle S]   (docs/PERFORMANCE.md)
# BIN=DIR uses hotlined and hotlinectl already built there.
set -euo pipefail
calls=20000 seconds=20 settle=120
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    *) echo "usage: $0 [--calls N] [--seconds S] [--settle S]" >&2; exit 2 ;;
  esac
done
. "$(dirname "$0")/scratch-daemon.sh"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores; $calls unacknowledged 999 alerts, ${seconds} s idle"
python3 - "$dir/s.sock" "$pid" "$calls" "$seconds" "$settle" <<'PY'
import json, os, socket, sys, time, uuid
path, pid, calls, seconds, settle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rb")
def start():
    return {"op": "call.start", "event_id": str(uuid.uuid4()),
            "call": {"id": str(uuid.uuid4()), "dialled": "999", "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
sent = 0
while sent < calls:
    n = min(500, calls - sent)
    s.sendall(b"".join(json.dumps(start()).encode() + b"\n" for _ in range(n)))
    for _ in range(n):
        answer = json.loads(f.readline())
        if not answer.get("ok"): sys.exit(f"refused: {answer}")
    sent += n
print(f"{calls} calls logged; waiting {settle:.0f} s for every alert to reach the top level and be delivered")
time.sleep(settle)
s.sendall(b'{"op": "stats"}\n'); stats = json.loads(f.readline())
print(f"stats: {stats.get('alerts_unacked')} alerts unacknowledged")
c0, t0 = cpu(), time.monotonic()
latencies = []
while time.monotonic() - t0 < seconds:
    time.sleep(0.5)
    begin = time.monotonic()
    s.sendall((json.dumps({**start(), "call": {**start()["call"], "dialled": "101"}}) + "\n").encode())
    if not json.loads(f.readline()).get("ok"): sys.exit("a write was refused")
    latencies.append((time.monotonic() - begin) * 1000)
c1, t1 = cpu(), time.monotonic()
latencies.sort()
print(f"idle daemon CPU: {100 * (c1 - c0) / (t1 - t0):.1f}% of one core over {t1 - t0:.0f} s;"
      f" {len(latencies)} writes meanwhile: median {latencies[len(latencies) // 2]:.1f} ms, max {latencies[-1]:.1f} ms")
PY
