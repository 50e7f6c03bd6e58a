#!/usr/bin/env bash
# Starts a release hotlined on a scratch database, seeds it through the socket with an early
# shift of 100,000 calls (2026-11-23, 07:00-15:00 UTC) and one of 10,000 (2026-11-24), then
# times `hotlinectl export` of each, all three formats, under /usr/bin/time -v: medians of
# the wall time and of hotlinectl's peak RSS, the daemon's CPU and RSS, and checks of what
# was written. Seeding is timed too, but apart: it is not the figure.
# Usage: Benchmarks/export.sh [--calls N] [--small N] [--repeats N] [--senders N]   (make bench)
# BIN=DIR uses hotlined and hotlinectl already built there (BIN=.build-bench/release).
set -euo pipefail
calls=100000 small=10000 repeats=3 senders=8
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --small) small=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    *) echo "usage: $0 [--calls N] [--small N] [--repeats N] [--senders N]" >&2; exit 2 ;;
  esac
done
[ -x /usr/bin/time ] || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time; }
if [ -n "${BIN:-}" ]; then
  BIN=$(cd "$BIN" && pwd)
  swift() { echo "$BIN"; }  # scratch-daemon.sh asks `swift build -c release --show-bin-path`
fi
. "$(dirname "$0")/scratch-daemon.sh"
ctl=("$bin/hotlinectl" --socket "$dir/s.sock")
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(df -T "$dir" | awk 'NR==2 {print $2}') file system"

# --- Seeding: request lines in chunks of at most 1000 (a connection may have 1024
# unanswered), sent by $senders `hotlinectl send` processes at once, one connection a chunk.
# All starts first, then all ends, then an alert.ack for every alert the starts raised.
mkdir -p "$dir/seed"
python3 - "$dir/seed" "$calls" "$small" <<'EOF'
import json, random, sys, uuid
from datetime import datetime, timedelta, timezone
out, days = sys.argv[1], [("2026-11-23", int(sys.argv[2])), ("2026-11-24", int(sys.argv[3]))]
rng = random.Random(6)
def uid(): return str(uuid.UUID(int=rng.getrandbits(128), version=4))
def t(d): return d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
numbers = ["999"] * 3 + ["0800 789 321"] * 20 + ["101"] * 50 + ["01632 960 018"] * 27
outcomes = ["dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action", "abandoned"]
starts, ends = [], []
for date, n in days:
    shift = datetime.fromisoformat(date + "T07:00:00+00:00")  # early: 07:00-15:00 London, GMT in November
    for received in sorted(rng.uniform(0, 8 * 3600 - 1) for _ in range(n)):
        received = shift + timedelta(seconds=received)
        answered = received + timedelta(seconds=rng.uniform(2, 30))
        call = uid()
        starts.append({"op": "call.start", "event_id": uid(), "call": {
            "id": call, "dialled": rng.choice(numbers), "received_at": t(received), "answered_at": t(answered),
            "workstation": f"WS-{rng.randint(1, 40):02d}", "handler": str(4400 + rng.randint(1, 120))}})
        if rng.random() < 0.96:  # the rest are still open at the end of the shift
            ends.append({"op": "call.end", "event_id": uid(), "call_id": call,
                         "ended_at": t(answered + timedelta(seconds=rng.uniform(60, 1500))), "outcome": rng.choice(outcomes)})
for phase, lines in (("start", starts), ("end", ends)):
    for i in range(0, len(lines), 1000):
        with open(f"{out}/{phase}-{i // 1000:05d}.jsonl", "w") as f:
            f.writelines(json.dumps(l, separators=(",", ":")) + "\n" for l in lines[i:i + 1000])
EOF
calc() { awk "BEGIN {print $*}"; }
send_phase() {  # send_phase PREFIX: sends $dir/seed/PREFIX-*.jsonl; prints the seconds it took
  local t0=$EPOCHREALTIME
  find "$dir/seed" -name "$1-*.jsonl" -print0 | sort -z |
    xargs -0 -P "$senders" -I{} sh -c '"$@" send < "{}" > "{}.out"' sh "${ctl[@]}" ||
    { echo "seeding ($1) failed: $(grep -h '"ok":false' "$dir"/seed/"$1"-*.out | head -3)" >&2; exit 1; }
  calc "$EPOCHREALTIME - $t0"
}
events=$(cat "$dir"/seed/*.jsonl | wc -l)
seed_start=$(send_phase start)
seed_end=$(send_phase end)
{ grep -ho '"alert_id":"[0-9a-f-]*"' "$dir"/seed/start-*.out || true; } |
  sed 's/.*:"\(.*\)"/{"op":"alert.ack","alert_id":"\1"}/' | split -l 1000 -a 5 -d --additional-suffix=.jsonl - "$dir/seed/ack-"
acks=$(find "$dir/seed" -name 'ack-*.jsonl' -exec cat {} + | wc -l)
seed_ack=$(send_phase ack)
seed_total=$(calc "$seed_start + $seed_end + $seed_ack")
printf '# seeded %d calls, %d events (%d alerts acked) in %.1f s (starts %.1f, ends %.1f, acks %.1f): %.0f events/s\n' \
  $((calls + small)) $((events + acks)) "$acks" "$seed_total" "$seed_start" "$seed_end" "$seed_ack" \
  "$(calc "($events + $acks) / $seed_total")"
rm -rf "$dir/seed"

# Alert deliveries and re-escalations run in the background: wait until the daemon is idle
# (under 50 ms of CPU in a second), so they do not land in the timings.
ticks=$(getconf CLK_TCK)
daemon_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }  # utime + stime, in ticks
for _ in $(seq 120); do a=$(daemon_cpu); sleep 1; [ $(($(daemon_cpu) - a)) -le $((ticks / 20)) ] && break; done
vm() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }  # MiB
rss_before=$(vm VmRSS)
echo "# exporting; load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows in the wall times)"
{ echo 5 > "/proc/$pid/clear_refs"; } 2>/dev/null || true  # resets VmHWM, so the peak is the exports'

# --- The exports: each run to a fresh directory; medians over the runs.
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
table=""
for spec in "early:2026-11-23 $calls" "early:2026-11-24 $small"; do
  read -r shift n <<<"$spec"
  : > "$dir/runs"
  for r in $(seq "$repeats"); do
    out="$dir/out-$r" && rm -rf "$out" && mkdir "$out"
    c0=$(daemon_cpu)
    /usr/bin/time -v -o "$dir/time.txt" "${ctl[@]}" export --reason "Export benchmark" --shift "$shift" --out "$out" >/dev/null
    c1=$(daemon_cpu)
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$dir/time.txt")
    peak=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$dir/time.txt")
    cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$dir/time.txt")
    echo "$wall $peak $cpu $(calc "($c1 - $c0) / $ticks")" >> "$dir/runs"
    rows=$(($(wc -l < "$out/${shift/:/-}.csv") - 1))
    summary=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["calls"])' "$out/${shift/:/-}.json")
    [ "$rows" = "$n" ] && [ "$summary" = "$n" ] && [ -s "$out/${shift/:/-}.html" ] ||
      { echo "export of $shift: $rows CSV rows, summary says $summary calls, expected $n" >&2; exit 1; }
    echo "# $shift run $r: $(awk '{printf "%.2f s, hotlinectl peak RSS %.1f MiB, hotlinectl CPU %.2f s, daemon CPU %.2f s", $1, $2, $3, $4}' <(tail -1 "$dir/runs")); $rows rows, $(du -k "$out/${shift/:/-}.csv" | cut -f1) KiB of CSV"
  done
  w=$(cut -d' ' -f1 "$dir/runs" | median) m=$(cut -d' ' -f2 "$dir/runs" | median)
  u=$(cut -d' ' -f3 "$dir/runs" | median) d=$(cut -d' ' -f4 "$dir/runs" | median)
  table+=$(printf '\n| %s | %d | %.2f | %.0f | %.1f | %.2f | %.2f | %d + header |' \
    "$shift" "$n" "$w" "$(calc "$n / $w")" "$m" "$u" "$d" "$rows")
done

echo
echo "Medians of $repeats runs, all three formats each:"
echo
echo "| shift | calls | wall (s) | calls/s | hotlinectl peak RSS (MiB) | hotlinectl CPU (s) | hotlined CPU (s) | CSV rows |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "${table#$'\n'}"

# --- The period report (issue 16) over both days: every call of the window through the
# same export pages, summed per route and day. Skipped by a hotlinectl without it.
report_line=""
if "${ctl[@]}" report --help >/dev/null 2>&1; then
  : > "$dir/runs"
  for r in $(seq "$repeats"); do
    out="$dir/report-$r" && rm -rf "$out" && mkdir "$out"
    c0=$(daemon_cpu)
    /usr/bin/time -v -o "$dir/time.txt" "${ctl[@]}" report --reason "Report benchmark" \
      --from 2026-11-23T00:00:00Z --to 2026-11-25T00:00:00Z --out "$out" >/dev/null
    c1=$(daemon_cpu)
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$dir/time.txt")
    peak=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$dir/time.txt")
    cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$dir/time.txt")
    echo "$wall $peak $cpu $(calc "($c1 - $c0) / $ticks")" >> "$dir/runs"
    # The route rows only (channel "all", the last column): the rows by channel (issue 18)
    # count the same calls again.
    presented=$(awk -F, 'NR > 1 && $NF ~ /^all\r?$/ {n += $6} END {print n}' "$out"/answer-times-*.csv)
    [ "$presented" = $((calls + small)) ] && [ -s "$out"/answer-times-*.html ] ||
      { echo "report: $presented calls presented in its CSV, expected $((calls + small))" >&2; exit 1; }
  done
  w=$(cut -d' ' -f1 "$dir/runs" | median) m=$(cut -d' ' -f2 "$dir/runs" | median)
  u=$(cut -d' ' -f3 "$dir/runs" | median) d=$(cut -d' ' -f4 "$dir/runs" | median)
  report_line=$(printf '| report --from/--to, both days | %d | %.2f | %.0f | %.1f | %.2f | %.2f |' \
    $((calls + small)) "$w" "$(calc "($calls + $small) / $w")" "$m" "$u" "$d")
fi
if [ -n "$report_line" ]; then
  echo
  echo "| period report | calls | wall (s) | calls/s | hotlinectl peak RSS (MiB) | hotlinectl CPU (s) | hotlined CPU (s) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "$report_line"
fi
echo
echo "hotlined RSS: $rss_before MiB before the exports, $(vm VmRSS) MiB after; peak during them $(vm VmHWM) MiB."
