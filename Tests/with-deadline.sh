#!/usr/bin/env bash
# Runs `swift test ARGS...` with a deadline (make test). At the deadline it prints what a
# hang needs to be found: the tests that started and never ended (from swift-testing's
# event stream) and the processes still running under the run, then stops the run and
# exits 124, as timeout(1) would.
#   Tests/with-deadline.sh SECONDS swift test --skip-build
set -uo pipefail
seconds=$1
shift
events=$(mktemp /tmp/hotline-test-events.XXXXXX)
trap 'rm -f "$events"' EXIT

"$@" --event-stream-output-path "$events" &
run=$!
deadline=$((SECONDS + seconds))
while kill -0 "$run" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 5; done
if ! kill -0 "$run" 2>/dev/null; then
    wait "$run"
    exit $?
fi

echo "with-deadline: the tests were still running after ${seconds} s." >&2
echo "with-deadline: tests started and not ended:" >&2
python3 - "$events" >&2 <<'EOF'
import json, sys
running = {}
for line in open(sys.argv[1], errors="replace"):
    try:
        payload = json.loads(line).get("payload", {})
    except ValueError:
        continue
    kind, test = payload.get("kind"), payload.get("testID")
    if kind == "testStarted":
        running[test] = payload.get("instant", {}).get("absolute")
    elif kind in ("testEnded", "testSkipped"):
        running.pop(test, None)
for test in sorted(running):
    print("  " + str(test))
EOF
echo "with-deadline: processes under the run (pid, seconds running, command):" >&2
python3 - "$run" >&2 <<'EOF'
import os, sys
children, args, ages = {}, {}, {}
ticks, uptime = os.sysconf("SC_CLK_TCK"), float(open("/proc/uptime").read().split()[0])
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        args[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:300]
        ages[int(pid)] = int(uptime - int(fields[19]) / ticks)
        children.setdefault(int(fields[1]), []).append(int(pid))
    except (OSError, ValueError):
        pass
def show(pid, depth):
    print(f"  {'  ' * depth}{pid} {ages.get(pid, '?')}s {args.get(pid, '')}")
    for child in sorted(children.get(pid, [])):
        show(child, depth + 1)
show(int(sys.argv[1]), 0)
EOF
# Stop the run as timeout(1) would, TERM then KILL after 30 s, and with it every process
# under it (a daemon a test started would otherwise outlive the run, holding CI's output).
descendants() {
    local child
    for child in $(ps -eo pid=,ppid= | awk -v p="$1" '$2 == p { print $1 }'); do
        echo "$child"
        descendants "$child"
    done
}
under=$(descendants "$run")
kill -TERM "$run" 2>/dev/null
sleep 30
# shellcheck disable=SC2086
kill -KILL "$run" $under 2>/dev/null
exit 124
