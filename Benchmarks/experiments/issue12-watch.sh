# Sets each thread of every hotlined started meanwhile: idle-tp puts the thread pools (TP-*) at
# SCHED_IDLE, slice gives every other thread a 0.3 ms EEVDF slice (SLICE=ns). Issue 12, third round.
# Build the setter first: gcc -O2 -o /tmp/slice/slice Benchmarks/experiments/issue12-slice.c
# usage: watch.sh MODE  (idle-tp | slice)
mode=$1; done=" "
while true; do
  for pid in $(pgrep -x hotlined); do
    case "$done" in *" $pid "*) continue;; esac
    sleep 0.3
    for t in /proc/$pid/task/*; do
      tid=$(basename $t); comm=$(cat $t/comm 2>/dev/null)
      case "$mode" in
        idle-tp) case "$comm" in TP-*) /tmp/slice/slice $tid 5 0 0;; esac;;
        slice) case "$comm" in TP-*) ;; *) /tmp/slice/slice $tid 0 ${SLICE:-300000} 0;; esac;;
      esac
    done
    done="$done$pid "
  done
  sleep 0.1
done
