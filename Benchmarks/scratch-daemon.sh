# Sourced by the benchmark scripts: starts a release hotlined with the shipped configuration
# on a scratch directory ($dir, socket $dir/s.sock) and stops it and cleans up on exit.
# BIN=DIR uses hotlined and hotlinectl already built there instead of `swift build`'s.
# ENGINE=postgresql keeps the log on a private PostgreSQL primary and synchronous standby
# (`hotline-tools scratch-postgres`), STANDBY=0 on the primary alone.
[ -z "${BIN:-}" ] || BIN=$(cd "$BIN" && pwd)
cd "$(dirname "$0")/.."
bin=${BIN:-$(swift build -c release --show-bin-path)}
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/hotlined-bench.XXXXXX")
pid=; pgpid=
# The script's own exit status, not the clean-up's.
trap 'status=$?; set +e; kill $pid 2>/dev/null; wait $pid 2>/dev/null; kill $pgpid 2>/dev/null; wait $pgpid 2>/dev/null; rm -rf "$dir"; exit $status' EXIT
(umask 077; "$bin/hotlinectl" keygen > "$dir/hotlined.key")
sed "s|  # key_file: /etc/hotlined/hotlined.key|  key_file: $dir/hotlined.key|" Config/hotlined.yaml > "$dir/hotlined.yaml"
engine=${ENGINE:-sqlite}
# EXTRA_YAML: more configuration, appended (the metrics endpoint, the wallboard).
[ -z "${EXTRA_YAML:-}" ] || printf '\n%s\n' "$EXTRA_YAML" >> "$dir/hotlined.yaml"
if [ "$engine" = postgresql ]; then
  alone=; [ "${STANDBY:-1}" = 0 ] && alone=--no-standby
  "$bin/hotline-tools" scratch-postgres --write-config "$dir/storage.yaml" $alone 2>"$dir/postgres.log" &
  pgpid=$!
  for _ in $(seq 600); do [ -f "$dir/storage.yaml" ] && break; sleep 0.1; done
  [ -f "$dir/storage.yaml" ] || { echo "PostgreSQL did not start:" >&2; cat "$dir/postgres.log" >&2; exit 1; }
  cat "$dir/storage.yaml" >> "$dir/hotlined.yaml"
  if [ -n "$alone" ]; then engine="postgresql, no standby"; else engine="postgresql, synchronous standby"; fi
fi
"$bin/hotlined" --config "$dir/hotlined.yaml" --socket "$dir/s.sock" --database "$dir/calls.sqlite" 2>"$dir/daemon.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/s.sock" ] && break; sleep 0.1; done
[ -S "$dir/s.sock" ] || { echo "hotlined did not start:" >&2; cat "$dir/daemon.log" >&2; exit 1; }
