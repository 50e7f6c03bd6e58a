#!/usr/bin/env bash
# Hostile clients against a release hotlined (issue 12): a benchmark, not a test. Each attack
# runs for --seconds against a fresh daemon, with --connections hostile connections, while a
# probe workstation logs 999 calls one call.start at a time on its own connection; it reports
# the daemon's peak RSS and the probe's acknowledgement p50/p99 beside the same probe on an
# idle daemon (idle first, each attack, idle again). Targets: peak RSS under 200 MiB with 64
# hostile connections; the probe's p99 within 3x of idle.
# Attacks: flood (calls.list pipelined then `x\n` streamed, answers read slowly), writes
# (call.start pipelined at full speed), nonreader (calls.list pipelined, never read), conns
# (another uid holding every connection it can; needs root and setpriv), bigget (call.get of
# a call with thousands of notes, read slowly). Benchmarks/hostile.py says more.
# Usage: Benchmarks/hostile.sh [--connections 64] [--seconds 20] [--attacks flood,writes,...]
#        [--repeats 1] [hostile.py options: --help]
# BIN=DIR uses hotlined and hotlinectl already built there. The configuration is made from
# CONFIG=FILE (default Config/hotlined.yaml): only keys it has are changed, and limits the
# binary does not know are left out (so an older build runs too). Runs as root: the conns
# attacker runs as uid 65534.
set -euo pipefail
[ -z "${BIN:-}" ] || BIN=$(cd "$BIN" && pwd)
[ -z "${CONFIG:-}" ] || CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
cd "$(dirname "$0")/.."
bin=${BIN:-$(swift build -c release --show-bin-path)}
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/hotlined-hostile.XXXXXX")
chmod 0711 "$dir"  # the conns attacker (uid 65534) must reach the phase's socket
cleanup() {
  # hostile.py stops every daemon it started; these are what is left if it was killed itself.
  for f in "$dir"/daemon-*.pid; do [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
(umask 077; "$bin/hotlinectl" keygen > "$dir/hotlined.key")
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(git log -1 --format=%h 2>/dev/null || echo '?') $(git diff --quiet 2>/dev/null || echo '(uncommitted changes)')"
python3 Benchmarks/hostile.py --bin "$bin" --dir "$dir" --config-base "${CONFIG:-Config/hotlined.yaml}" "$@"
