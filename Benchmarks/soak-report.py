#!/usr/bin/env python3
"""The figures of a soak, from the JSON lines `Benchmarks/soak.sh --log FILE` kept.

Usage: Benchmarks/soak-report.py FILE    (docs/RELIABILITY.md)

Prints a Markdown table, one row a minute, then the summary docs/RELIABILITY.md quotes:
events, errors, acknowledgement latency per minute (median of the minutes' p50 and p99 and
their range), alert latency, and memory: VmRSS at the first and last minute and its slope,
fitted by least squares over the minutes after the first five (the WAL, SQLite's page
cache and the allocator settle in those), in MiB a minute.
"""
import json
import statistics
import sys


def slope(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    rows = [r for r in rows if "minute" in r]
    if not rows:
        sys.exit("no minutes in " + sys.argv[1])
    mib = lambda kib: kib / 1024
    print("| min | events | p50 ms | p99 ms | max ms | alerts | alert push p99 ms | VmRSS MiB | VmHWM MiB | fds | threads"
          " | db MiB | WAL MiB | daemon CPU % | gen lag max ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        lat, push = r["lat_ms"], r.get("alert_push_lat_ms") or {}
        print(f"| {r['minute']} | {r['events']} | {lat.get('p50', 0):.1f} | {lat.get('p99', 0):.1f} | {lat.get('max', 0):.0f}"
              f" | {r.get('alerts', 0)} | {push.get('p99', 0):.1f} | {mib(r['VmRSS']):.1f} | {mib(r['VmHWM']):.1f}"
              f" | {r['fds']} | {r.get('Threads', '')} | {r['db'] / 2**20:.1f} | {r['wal'] / 2**20:.2f}"
              f" | {r['cpu_pct']:.0f} | {r['gen_lag_max_ms']:.0f} | {json.dumps(r['errors']) if r['errors'] else 'none'} |")
    events = sum(r["events"] for r in rows)
    errors = {}
    for r in rows:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    p50s = [r["lat_ms"]["p50"] for r in rows if r["lat_ms"].get("n")]
    p99s = [r["lat_ms"]["p99"] for r in rows if r["lat_ms"].get("n")]
    pushes = [r["alert_push_lat_ms"]["p99"] for r in rows if (r.get("alert_push_lat_ms") or {}).get("n")]
    settled = [r for r in rows if r["minute"] > 5] or rows
    rss_slope = slope([r["minute"] for r in settled], [mib(r["VmRSS"]) for r in settled])
    first, last = rows[0], rows[-1]
    print()
    print(f"- minutes: {len(rows)}; events acknowledged: {events} ({events / (60 * len(rows)):.0f}/s);"
          f" duplicates: {sum(r.get('duplicates', 0) for r in rows)}; answers not ok: {errors or 0}")
    print(f"- ack latency per minute: p50 median {statistics.median(p50s):.1f} ms (range {min(p50s):.1f}-{max(p50s):.1f}),"
          f" p99 median {statistics.median(p99s):.1f} ms (range {min(p99s):.1f}-{max(p99s):.1f}),"
          f" max {max(r['lat_ms'].get('max', 0) for r in rows):.0f} ms")
    if pushes:
        print(f"- alerts: {sum(r.get('alerts', 0) for r in rows)} pushed, {sum(r.get('repushes', 0) for r in rows)} pushed again;"
              f" push p99 per minute median {statistics.median(pushes):.1f} ms (range {min(pushes):.1f}-{max(pushes):.1f})")
    print(f"- VmRSS: {mib(first['VmRSS']):.1f} MiB at minute {first['minute']}, {mib(last['VmRSS']):.1f} MiB at minute"
          f" {last['minute']}; slope over minutes {settled[0]['minute']}-{last['minute']}: {rss_slope:+.3f} MiB/min;"
          f" VmHWM {mib(max(r['VmHWM'] for r in rows)):.1f} MiB")
    print(f"- fds {min(r['fds'] for r in rows)}-{max(r['fds'] for r in rows)},"
          f" threads {min(r.get('Threads', 0) for r in rows)}-{max(r.get('Threads', 0) for r in rows)},"
          f" WAL {min(r['wal'] for r in rows) / 2**20:.1f}-{max(r['wal'] for r in rows) / 2**20:.1f} MiB,"
          f" database {last['db'] / 2**20:.0f} MiB at the end,"
          f" daemon CPU {min(r['cpu_pct'] for r in rows):.0f}-{max(r['cpu_pct'] for r in rows):.0f}% of a core,"
          f" load generator late by at most {max(r['gen_lag_max_ms'] for r in rows):.0f} ms")


if __name__ == "__main__":
    main()
