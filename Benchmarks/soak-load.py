#!/usr/bin/env python3
"""Open-loop soak load for hotlined (Benchmarks/soak.sh starts the daemon and runs this).

RATE new calls a second (Poisson arrivals), each a call.start, 1-3 call.updates a few
seconds apart and a call.end 30-120 s after the start, spread over CONNECTIONS workstation
connections (requests pipelined, answers matched in order by `req`). Beside them: one
supervisor console that subscribes to alerts and acknowledges every alert pushed, and every
10 s a reader that pages through `calls.list` for the last minute and asks `stats`.

Send times come from the schedule, never from the answers (open loop): a slow daemon gets
more requests in flight, not fewer. Latency is from the request being handed to the socket
to its answer being read, per request. Once a minute the daemon's /proc is sampled: VmRSS,
VmHWM, open descriptors, CPU; and the database and WAL sizes.

At the end no new call is started (calls still open stay open), every answer is awaited,
then `stats` and `verify`: the run fails (exit 1) on any non-ok answer, when `verify` is not
intact, when `stats` events differ from the events acknowledged, or when alerts remain
unacknowledged. Prints a markdown table and a summary. Python standard library only, one
thread, non-blocking sockets: it shares the machine with the daemon.
"""
import argparse, heapq, json, os, random, selectors, socket, sys, time, uuid
from collections import Counter, deque
from datetime import datetime, timedelta, timezone

p = argparse.ArgumentParser()
p.add_argument("--socket", required=True)
p.add_argument("--pid", type=int, required=True, help="the daemon's pid, for /proc")
p.add_argument("--database", required=True, help="the daemon's database file (its -wal beside it)")
p.add_argument("--minutes", type=float, default=30)
p.add_argument("--rate", type=float, default=50, help="new calls a second")
p.add_argument("--connections", type=int, default=16, help="workstation connections")
p.add_argument("--group", type=int, default=0, help="minutes a table row (default: 1, or 2 over 20 minutes)")
p.add_argument("--log", help="also write one JSON line a minute here (all figures, unrounded)")
p.add_argument("--seed", type=int, default=11)
a = p.parse_args()
rng = random.Random(a.seed)

# --- What the calls look like ------------------------------------------------------------
NUMBERS = (["999"] * 18 + ["112"] * 2 + ["0800 789 321"] * 14 + ["+44 800 789 321"] * 6 + ["101"] * 40 +
           ["01632 960 018", "0115 496 0123", "07700 900 461", "020 7946 0958"] * 5)  # in 100: 20% emergency
CATEGORIES = ["suspicious-activity", "hostile-reconnaissance", "suspicious-package", "concern-for-welfare",
              "domestic", "assault", "theft", "burglary", "traffic-collision", "anti-social-behaviour",
              "fraud", "missing-person", "noise", "lost-property", "information-only"]
OUTCOMES = ["dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action",
            "abandoned", "hoax"]
WORDS = ("caller reports a man seen photographing the station entrance twice this week vehicle parked "
         "outside with engine running neighbour heard shouting and a door slam advised to call back "
         "if it happens again unit requested description white van partial index caller is calm "
         "second report of the same address bag left unattended on platform two").split()
EMERGENCY = ("999", "112")
THREAT_P = 0.04      # non-emergency calls flagged threat_to_life in one of their updates
ANON_START_P = 0.05  # hotline (0800) calls asking for anonymity at the start
ANON_LATER_P = 0.03  # hotline calls asking for it in an update: identity already stored, erased then


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rfc3339(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def note():
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))


# --- Connections ---------------------------------------------------------------------------
sel = selectors.DefaultSelector()
req_counter = 0


class Conn:
    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(a.socket)
        self.sock.setblocking(False)
        self.rbuf = b""
        self.wbuf = bytearray()
        self.pending = deque()  # (req, t_sent, kind, extra)
        self.writing = False
        sel.register(self.sock, selectors.EVENT_READ, self)

    def send(self, msg, kind, extra=None):
        global req_counter
        req_counter += 1
        msg["req"] = req_counter
        self.wbuf += json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        self.pending.append((req_counter, time.monotonic(), kind, extra))
        self.flush()

    def flush(self):
        if self.wbuf:
            try:
                n = self.sock.send(self.wbuf)
                del self.wbuf[:n]
            except BlockingIOError:
                pass
        want = bool(self.wbuf)
        if want != self.writing:
            self.writing = want
            sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0), self)


# --- Figures -------------------------------------------------------------------------------
class Bucket:
    def __init__(self):
        self.events = 0            # event writes acknowledged ok
        self.duplicates = 0
        self.lat = []              # event write latencies, seconds
        self.read_lat = []         # calls.list pages and stats
        self.ack_lat = []          # alert.ack
        self.push_lat = []         # raising event sent -> alert pushed
        self.alerts = 0
        self.repushes = 0          # alerts pushed again at a higher level
        self.listed = 0            # calls returned by calls.list
        self.errors = Counter()
        self.lag = 0.0             # how late the generator sent what it had scheduled (its own stalls)
        self.sample = {}


t0 = time.monotonic()
wall0 = time.time()
end_at = t0 + a.minutes * 60
nmin = int(-(-a.minutes // 1))
buckets = [Bucket() for _ in range(nmin + 1)]  # the last one: the tail after the load stops
total = Bucket()
error_examples = []
raising = {}  # call_id -> monotonic send time of the event that should raise its alert


def bucket(now):
    return buckets[nmin] if now >= end_at else buckets[min(int((now - t0) // 60), nmin - 1)]


def record_error(b, kind, r):
    code = r.get("error", {}).get("code", "?")
    b.errors[code] += 1
    total.errors[code] += 1
    if len(error_examples) < 10:
        error_examples.append((kind, r))


def on_answer(conn, r, now):
    if "push" in r:
        if r["push"] == "alert":
            al = r["alert"]
            b = bucket(now)
            if al.get("level", 1) > 1:
                b.repushes += 1
            else:
                b.alerts += 1
                total.alerts += 1
                t = raising.pop(al["call_id"], None)
                if t is not None:
                    b.push_lat.append(now - t)
            conn.send({"op": "alert.ack", "alert_id": al["id"]}, "alert.ack")
        return
    req, t_sent, kind, extra = conn.pending.popleft()
    if r.get("req") != req:
        sys.exit(f"{conn.name}: answer for req {r.get('req')} where {req} was due: {r}")
    b = bucket(now)
    lat = now - t_sent
    if not r.get("ok"):
        record_error(b, kind, r)
        return
    if kind == "event":
        if r.get("duplicate"):
            b.duplicates += 1
            total.duplicates += 1
        else:
            b.events += 1
            total.events += 1
        b.lat.append(lat)
    elif kind == "alert.ack":
        b.ack_lat.append(lat)
    elif kind == "calls.list":
        b.read_lat.append(lat)
        b.listed += len(r.get("calls", []))
        if r.get("next_after_seq") is not None:
            conn.send(dict(extra, after_seq=r["next_after_seq"]), "calls.list", extra)
    elif kind == "stats":
        b.read_lat.append(lat)
        conn.last = r
    elif kind == "final":
        conn.last = r


def pump(timeout):
    """Waits at most `timeout` for sockets; handles every answer and push that came."""
    for key, mask in sel.select(timeout):
        conn = key.data
        if mask & selectors.EVENT_WRITE:
            conn.flush()
        if mask & selectors.EVENT_READ:
            try:
                data = conn.sock.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sys.exit(f"{conn.name}: the daemon closed the connection ({len(conn.pending)} answers owed)")
            conn.rbuf += data
            *lines, conn.rbuf = conn.rbuf.split(b"\n")
            now = time.monotonic()
            for line in lines:
                if line.strip():
                    on_answer(conn, json.loads(line), now)


def proc_sample():
    s = {}
    try:
        with open(f"/proc/{a.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    s[k] = int(v.split()[0])  # kB, or a count
        with open(f"/proc/{a.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            s["cpu_ticks"] = int(fields[11]) + int(fields[12])  # utime + stime
        s["fds"] = len(os.listdir(f"/proc/{a.pid}/fd"))
    except FileNotFoundError:
        sys.exit(f"the daemon (pid {a.pid}) is gone")
    for suffix, k in (("", "db"), ("-wal", "wal")):
        try:
            s[k] = os.path.getsize(a.database + suffix)
        except FileNotFoundError:
            s[k] = 0
    with open("/proc/loadavg") as f:
        s["load1"] = float(f.read().split()[0])
    s["gen_cpu"] = sum(os.times()[:2])
    s["t"] = time.monotonic()
    s["wall"] = time.time()
    return s


# --- The schedule --------------------------------------------------------------------------
def sch(t, what, call):
    global sch_n
    sch_n += 1
    heapq.heappush(heap, (t, sch_n, what, call))


heap, sch_n = [], 0
workstations = []
for i in range(a.connections):
    c = Conn(f"WS-{i + 1:02d}")
    c.send({"op": "hello", "protocol": 1, "workstation": c.name, "handler": str(4400 + i + 1)}, "hello")
    workstations.append(c)
console = Conn("console")
console.send({"op": "alerts.subscribe"}, "subscribe")
reader = Conn("reader")
reader.last = None
while any(c.pending for c in workstations + [console, reader]):
    pump(1)

ticks = os.sysconf("SC_CLK_TCK")
samples = [proc_sample()]
sch(t0 + rng.expovariate(a.rate), "start", None)
sch(t0 + 10, "read", None)
for m in range(1, nmin + 1):
    sch(min(t0 + 60 * m, end_at), "sample", m)


def start_call(now):
    c = rng.choice(workstations)
    dialled = rng.choice(NUMBERS)
    norm = dialled.replace(" ", "").replace("+44", "0")
    call = {"id": uid(), "conn": c, "dialled": norm, "t": now}
    wall = time.time()
    body = {"id": call["id"], "dialled": dialled, "received_at": rfc3339(wall - rng.uniform(2, 15)),
            "answered_at": rfc3339(wall)}
    if rng.random() < 0.8:
        body["cli"] = f"+4477009{rng.randint(0, 99999):05d}"
    if rng.random() < 0.3:
        body["caller"] = {"name": rng.choice(["A. Khan", "J. Smith", "M. Nowak", "S. Okafor", "R. Evans"]),
                          "contact": "07700 900 123"}
    if norm == "0800789321" and rng.random() < ANON_START_P:
        body["anonymous_requested"] = True
    if norm in EMERGENCY:
        raising[call["id"]] = now
    c.send({"op": "call.start", "event_id": uid(), "call": body}, "event")
    n = rng.randint(1, 3)
    call["threat"] = rng.randrange(n) if norm not in EMERGENCY and rng.random() < THREAT_P else -1
    call["anon"] = rng.randrange(n) if norm == "0800789321" and rng.random() < ANON_LATER_P else -1
    t = now
    for k in range(n):
        t += rng.uniform(3, 9)
        sch(t, "update", (call, k))
    sch(now + rng.uniform(30, 120), "end", call)


def update_call(now, call, k):
    s = {}
    if k == 0:
        s["category"] = rng.choice(CATEGORIES)
    elif rng.random() < 0.3:
        s["location"] = {"text": f"{rng.randint(1, 200)} High Street", "lat": round(rng.uniform(52.8, 53.0), 5),
                         "lon": round(rng.uniform(-1.6, -1.4), 5)}
    if call["threat"] == k:
        s["flags"] = {"threat_to_life": True}
        raising[call["id"]] = now
    if call["anon"] == k:
        s["anonymous_requested"] = True
    msg = {"op": "call.update", "event_id": uid(), "call_id": call["id"], "at": rfc3339(time.time()), "note": note()}
    if s:
        msg["set"] = s
    call["conn"].send(msg, "event")


def read_board(now):
    wall = time.time()
    # The shipped configuration asks supervisors and auditors (root is both) for a reason.
    q = {"op": "calls.list", "from": rfc3339(wall - 60), "to": rfc3339(wall), "limit": 1000,
         "reason": "Soak test: the control room's board"}
    reader.send(dict(q), "calls.list", q)
    reader.send({"op": "stats"}, "stats")


def sample(m):
    s = proc_sample()
    b = buckets[m - 1]
    b.sample = s
    prev = samples[-1]
    s["cpu_pct"] = 100.0 * (s["cpu_ticks"] - prev["cpu_ticks"]) / ticks / (s["t"] - prev["t"])
    s["gen_cpu_pct"] = 100.0 * (s["gen_cpu"] - prev["gen_cpu"]) / (s["t"] - prev["t"])
    s["stats"] = reader.last
    samples.append(s)
    lat = sorted(b.lat)
    err = ",".join(f"{k}:{v}" for k, v in b.errors.items()) or "none"
    print(f"# minute {m} ({rfc3339(s['wall'])[11:19]}Z): {b.events} events, "
          f"p50 {pct(lat, 50) * 1e3:.1f} p99 {pct(lat, 99) * 1e3:.1f} max {(lat[-1] if lat else 0) * 1e3:.1f} ms, "
          f"RSS {s['VmRSS'] / 1024:.1f} HWM {s['VmHWM'] / 1024:.1f} MiB, {s['fds']} fds, "
          f"db {s['db'] / 2**20:.1f} wal {s['wal'] / 2**20:.1f} MiB, daemon CPU {s['cpu_pct']:.0f}%, "
          f"load {s['load1']:.2f}, gen lag max {b.lag * 1e3:.0f} ms, errors {err}", file=sys.stderr, flush=True)
    if a.log:
        with open(a.log, "a") as f:
            f.write(json.dumps({
                "minute": m, "events": b.events, "duplicates": b.duplicates, "lat_ms": summary(b.lat),
                "read_lat_ms": summary(b.read_lat), "alert_ack_lat_ms": summary(b.ack_lat),
                "alert_push_lat_ms": summary(b.push_lat), "alerts": b.alerts, "repushes": b.repushes,
                "listed": b.listed, "errors": dict(b.errors), "gen_lag_max_ms": round(b.lag * 1e3, 1),
                **{k: v for k, v in s.items() if k not in ("t",)}}) + "\n")


def pct(xs, q):  # nearest rank, xs sorted
    return xs[max(0, min(len(xs) - 1, int(-(-q * len(xs) // 100)) - 1))] if xs else 0.0


def summary(xs):
    xs = sorted(xs)
    return {"n": len(xs), "p50": round(pct(xs, 50) * 1e3, 2), "p99": round(pct(xs, 99) * 1e3, 2),
            "max": round((xs[-1] if xs else 0) * 1e3, 2)}


# --- Run -----------------------------------------------------------------------------------
print(f"# soak: {a.rate:g} calls/s for {a.minutes:g} min over {a.connections} workstation connections, "
      f"started {rfc3339(wall0)}", file=sys.stderr, flush=True)
sampled = 0
while sampled < nmin:
    now = time.monotonic()
    t, _, what, arg = heap[0]
    if t > now:
        pump(t - now)
        continue
    heapq.heappop(heap)
    b = bucket(now)
    b.lag = max(b.lag, now - t)
    if what == "sample":
        sample(arg)
        sampled += 1
        continue
    if now >= end_at:
        continue  # the load has stopped: nothing new is sent (open calls stay open)
    if what == "start":
        start_call(now)
        sch(t + rng.expovariate(a.rate), "start", None)
    elif what == "update":
        update_call(now, *arg)
    elif what == "end":
        call = arg
        call["conn"].send({"op": "call.end", "event_id": uid(), "call_id": call["id"], "ended_at": rfc3339(time.time()),
                           "outcome": rng.choice(OUTCOMES)}, "event")
    elif what == "read":
        read_board(now)
        sch(t + 10, "read", None)

# Every answer owed, and the last alerts pushed and acknowledged (the ack answers awaited).
deadline = time.monotonic() + 120
while any(c.pending for c in workstations + [reader]) and time.monotonic() < deadline:
    pump(0.5)
quiet = time.monotonic() + 2
while time.monotonic() < quiet or console.pending:
    pump(0.2)
    if time.monotonic() > deadline:
        break
owed = sum(len(c.pending) for c in workstations + [console, reader])
wall1 = time.time()
final = proc_sample()  # the end of the load, before verify reads the whole log
reader.send({"op": "stats"}, "final")
while reader.pending:
    pump(1)
stats = reader.last
t_verify = time.monotonic()
reader.send({"op": "verify"}, "final")
while reader.pending:
    pump(1)
t_verify = time.monotonic() - t_verify
verify = reader.last
after_verify = proc_sample()

# --- Report --------------------------------------------------------------------------------
group = a.group or (2 if nmin > 20 else 1)
print(f"| minutes | ends (UTC) | events acked | events/s | p50 ms | p99 ms | max ms | VmRSS MiB | VmHWM MiB "
      f"| fds | db MiB | WAL MiB | daemon CPU % | load 1m | gen lag max ms | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for g in range(0, nmin, group):
    bs = [b for b in buckets[g:g + group] if b.sample]
    if not bs:
        continue
    s = bs[-1].sample
    lat = sorted(x for b in bs for x in b.lat)
    secs = s["t"] - samples[g]["t"]
    err = Counter()
    for b in bs:
        err.update(b.errors)
    cpu = sum(b.sample["cpu_pct"] * (b.sample["t"] - samples[g + i]["t"]) for i, b in enumerate(bs)) / secs
    label = f"{g + 1}" if len(bs) == 1 else f"{g + 1}-{g + len(bs)}"
    events = sum(b.events for b in bs)
    print(f"| {label} | {rfc3339(s['wall'])[11:19]} | {events} | {events / secs:.0f} | {pct(lat, 50) * 1e3:.1f} "
          f"| {pct(lat, 99) * 1e3:.1f} | {(lat[-1] if lat else 0) * 1e3:.0f} | {s['VmRSS'] / 1024:.1f} "
          f"| {s['VmHWM'] / 1024:.1f} | {s['fds']} | {s['db'] / 2**20:.1f} | {s['wal'] / 2**20:.2f} | {cpu:.0f} "
          f"| {s['load1']:.2f} | {max(b.lag for b in bs) * 1e3:.0f} "
          f"| {', '.join(f'{k} {v}' for k, v in err.items()) or 'none'} |")

full = [b for b in buckets[:nmin] if b.sample]
rss1, rss_end = full[0].sample["VmRSS"] / 1024, final["VmRSS"] / 1024
k = min(5, len(full) // 2) or 1
first = sorted(x for b in full[:k] for x in b.lat)
last = sorted(x for b in full[-k:] for x in b.lat)
every = sorted(x for b in buckets for x in b.lat)
tail = buckets[nmin]
for b in buckets:
    total.ack_lat += b.ack_lat
    total.push_lat += b.push_lat
    total.read_lat += b.read_lat
    total.repushes += b.repushes
    total.listed += b.listed
print()
print(f"Run: {rfc3339(wall0)} to {rfc3339(wall1)}. {total.events} events acknowledged "
      f"({total.events / (wall1 - wall0):.0f}/s over the run), {total.duplicates} duplicates, "
      f"{tail.events} of them after the load stopped; stats says {stats.get('events')} events, "
      f"{stats.get('calls')} calls, {stats.get('calls_open')} open, {stats.get('alerts_unacked')} alerts unacknowledged.")
print(f"Summary: VmRSS {rss1:.1f} MiB at minute 1, {rss_end:.1f} MiB at the end "
      f"({rss_end - rss1:+.1f} MiB, {100 * (rss_end - rss1) / rss1:+.1f}%; "
      f"{(rss_end - rss1) / max(1, len(full) - 1):+.2f} MiB a minute), VmHWM {final['VmHWM'] / 1024:.1f} MiB; "
      f"p99 ack latency {pct(first, 99) * 1e3:.1f} ms over the first {k} minutes, "
      f"{pct(last, 99) * 1e3:.1f} ms over the last {k}; whole run p50 {pct(every, 50) * 1e3:.1f}, "
      f"p99 {pct(every, 99) * 1e3:.1f}, p99.9 {pct(every, 99.9) * 1e3:.1f}, max {every[-1] * 1e3:.0f} ms.")
ak, pu, rd = sorted(total.ack_lat), sorted(total.push_lat), sorted(total.read_lat)
print(f"Alerts: {total.alerts} pushed, {len(ak)} acknowledged (alert.ack p50 {pct(ak, 50) * 1e3:.1f}, "
      f"p99 {pct(ak, 99) * 1e3:.1f}, max {(ak[-1] if ak else 0) * 1e3:.0f} ms), {total.repushes} pushed again "
      f"at a higher level; raising event sent -> alert pushed p50 {pct(pu, 50) * 1e3:.1f}, p99 {pct(pu, 99) * 1e3:.1f}, "
      f"max {(pu[-1] if pu else 0) * 1e3:.0f} ms. Reader: {total.listed} call summaries listed; calls.list pages "
      f"and stats every 10 s p50 {pct(rd, 50) * 1e3:.1f}, p99 {pct(rd, 99) * 1e3:.1f}, max {(rd[-1] if rd else 0) * 1e3:.0f} ms.")
print(f"verify took {t_verify:.1f} s; the daemon's VmRSS after it {after_verify['VmRSS'] / 1024:.1f} MiB "
      f"({(after_verify['VmRSS'] - final['VmRSS']) / 1024:+.1f} MiB), VmHWM {after_verify['VmHWM'] / 1024:.1f} MiB.")
print(f"Daemon at the end: {final['fds']} fds, {final['Threads']} threads, database {final['db'] / 2**20:.1f} MiB, "
      f"WAL {final['wal'] / 2**20:.2f} MiB; load generator CPU {final['gen_cpu']:.0f} s "
      f"({100 * final['gen_cpu'] / (wall1 - wall0):.1f}% of one core).")
problems = []
if total.errors:
    problems.append("non-ok answers: " + ", ".join(f"{k} {v}" for k, v in total.errors.items()) +
                    "; first: " + "; ".join(json.dumps(r) for _, r in error_examples[:3]))
if owed:
    problems.append(f"{owed} answers never came")
if verify.get("intact") is not True:
    problems.append(f"verify is not intact: {json.dumps(verify)}")
if stats.get("events") != total.events:
    problems.append(f"stats says {stats.get('events')} events, {total.events} were acknowledged")
if stats.get("alerts_unacked"):
    problems.append(f"{stats['alerts_unacked']} alerts left unacknowledged")
print(f"Checks: verify {'intact' if verify.get('intact') is True else 'NOT intact'} "
      f"({verify.get('events')} events, {verify.get('audit_entries')} audit entries); "
      f"stats events {'==' if stats.get('events') == total.events else '!='} acknowledged events; "
      f"non-ok answers: {sum(total.errors.values())}.")
for problem in problems:
    print(f"FAILED: {problem}")
sys.exit(1 if problems else 0)
