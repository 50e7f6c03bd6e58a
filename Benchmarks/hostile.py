#!/usr/bin/env python3
"""Hostile clients against hotlined (Benchmarks/hostile.sh sets up and runs this; issue 12).

Each phase starts a fresh daemon on its own scratch directory, seeds it (--seed-calls calls on
101; for `bigget` also one call with --notes notes), then runs one attack for --seconds with a
probe beside it: a workstation on its own connection (uid 0) logging 999 calls, one call.start
at a time, --gap-ms apart, timing each acknowledgement. Phases: idle (no attack), each
attack, idle again (the two idles show the noise; the p99 target is against their mean).

Attacks, each with --connections hostile connections:
  flood      pipelines --lists calls.list (limit 1000, over the seeded calls), then streams
             `x\\n` as fast as the daemon takes it, reading answers slowly (--read-bytes every
             5 ms): what took the old daemon from 43 MiB to 929 MiB with one connection.
  writes     pipelines call.start (101) at full speed, reading answers as fast as it can.
  nonreader  pipelines calls.list (limit 1000) and never reads an answer.
  conns      one other uid (nobody, given the handler role in this run's configuration) opens
             --conn-attempts connections and holds every one it gets, retrying the refused
             ones every 100 ms; the per-uid cap (limits.max_connections_per_uid) is the
             shipped one here, so the root probe keeps its own share.
  bigget     pipelines call.get of the call with --notes notes (paged: one page each), reading
             slowly like flood.

The daemon's RSS is sampled every 20 ms from /proc (VmRSS; VmHWM at the end); over
--max-rss-mib it is killed and the phase marked so. Every loop is bounded in time; the
attackers and the probe are processes of their own (non-blocking sockets, one thread each)
so a stuck attacker never holds up the probe or the harness, and each is killed if it
overruns. Prints two markdown tables: the daemon and the probe per phase, and what the
attackers did. Python standard library only.

`hostile.py probe ...` and `hostile.py attack KIND ...` are the harness's own child processes.
"""
import argparse, json, os, random, re, resource, selectors, shutil, signal, socket, subprocess, sys, tempfile, threading, time
from collections import Counter

ATTACKS = ["flood", "writes", "nonreader", "conns", "bigget"]
NOBODY = 65534
TICK = 0.005


def rfc3339(epoch=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


def uuid_factory(rng):
    """Fast unique v4-shaped ids: a random prefix per process and a counter."""
    prefix = "%08x-%04x-4%03x-%x%03x-" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                          8 + rng.getrandbits(2), rng.getrandbits(12))
    counter = [rng.getrandbits(20) << 24]

    def make():
        counter[0] += 1
        return "%s%012x" % (prefix, counter[0])
    return make


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 1)) - 1))
    return sorted_values[k]


# --- The probe: one workstation logging 999 calls, one at a time ---------------------------------

def read_line(sock, buf, timeout):
    """Reads one line (without its LF) within `timeout` s; None on timeout or close."""
    end = time.monotonic() + timeout
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def probe(a):
    rng = random.Random()
    new_id = uuid_factory(rng)
    deadline = time.monotonic() + a.seconds
    acks, errors, timeouts, reconnects = [], Counter(), 0, -1
    sock, buf = None, bytearray()
    while time.monotonic() < deadline:
        if sock is None:
            reconnects += 1
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(5)
                sock.connect(a.socket)
                buf = bytearray()
                sock.sendall(b'{"op":"hello","protocol":1,"workstation":"PROBE","handler":"0001"}\n')
                line = read_line(sock, buf, 5)
                if line is None:
                    raise TimeoutError("hello unanswered in 5 s")
                if not json.loads(line).get("ok"):
                    raise OSError("hello refused: " + line.decode(errors="replace")[:80])
            except TimeoutError as e:
                errors[str(e)] += 1
                sock.close()
                sock = None
                continue
            except (OSError, ValueError) as e:
                errors["connect: " + (getattr(e, "strerror", None) or str(e))[:80]] += 1
                if sock:
                    sock.close()
                sock = None
                time.sleep(0.05)
                continue
        line = ('{"op":"call.start","event_id":"%s","call":{"id":"%s","dialled":"999","received_at":"%s"}}\n'
                % (new_id(), new_id(), rfc3339())).encode()
        t0 = time.perf_counter()
        try:
            sock.sendall(line)
        except OSError as e:
            errors["send: " + type(e).__name__] += 1
            sock.close(); sock = None
            continue
        answer = read_line(sock, buf, a.timeout)
        elapsed = time.perf_counter() - t0
        if answer is None:
            # A stall (or a close): counted, and its time so far kept, so p99 shows it.
            timeouts += 1
            acks.append(elapsed)
            sock.close(); sock = None
            continue
        try:
            r = json.loads(answer)
        except ValueError:
            errors["unreadable answer"] += 1
            continue
        if r.get("ok"):
            acks.append(elapsed)
        else:
            errors[r.get("error", {}).get("code", "?")] += 1
        time.sleep(a.gap_ms / 1000)
    if sock:
        sock.close()
    acks.sort()
    print(json.dumps({"n": len(acks), "p50": percentile(acks, 0.5), "p99": percentile(acks, 0.99),
                      "max": acks[-1] if acks else None, "errors": dict(errors), "timeouts": timeouts,
                      "reconnects": max(0, reconnects)}))


# --- The attackers: N connections in one process, non-blocking ----------------------------------

class Slot:
    __slots__ = ("sock", "wbuf", "tail", "retry_at", "want_write", "held", "registered")

    def __init__(self):
        self.sock, self.wbuf, self.tail = None, bytearray(), []
        self.retry_at, self.want_write, self.held, self.registered = 0.0, False, False, 0


def attack(a):
    kind = a.kind
    rng = random.Random()
    new_id = uuid_factory(rng)
    now_wall = time.time()
    window = ('"from":"%s","to":"%s","limit":1000' % (rfc3339(now_wall - 7200), rfc3339(now_wall + 7200))).encode()
    # The shipped configuration asks supervisors and auditors (root is both) for a reason.
    list_line = b'{"op":"calls.list",' + window + b',"reason":"Load test"}\n'
    get_line = ('{"op":"call.get","call_id":"%s"}\n' % a.call_id).encode() if a.call_id else b""
    junk = b"x\n" * 32768
    stats = Counter()
    codes = Counter()
    sel = selectors.DefaultSelector()
    slow_read = kind in ("flood", "bigget")
    fast_read = kind in ("writes", "conns")
    count = a.conn_attempts if kind == "conns" else a.connections
    slots = [Slot() for _ in range(count)]
    deadline = time.monotonic() + a.seconds
    held_now, held_max = 0, 0

    def refill(s):
        if kind == "flood":
            s.wbuf += junk
        elif kind == "writes":
            at = rfc3339()
            s.wbuf += b"".join(
                ('{"op":"call.start","event_id":"%s","call":{"id":"%s","dialled":"101","received_at":"%s"}}\n'
                 % (new_id(), new_id(), at)).encode() for _ in range(200))
            stats["writes sent"] += 200
        elif kind == "nonreader":
            s.wbuf += list_line * 256
            stats["lists sent"] += 256
        elif kind == "bigget":
            s.wbuf += get_line * 16
            stats["gets sent"] += 16

    def interest(s):
        events = (selectors.EVENT_READ if fast_read else 0) | (selectors.EVENT_WRITE if s.want_write else 0)
        if events != s.registered:
            if s.registered and events:
                sel.modify(s.sock, events, s)
            elif events:
                sel.register(s.sock, events, s)
            else:
                sel.unregister(s.sock)
            s.registered = events

    def drop(s, why, now):
        nonlocal held_now
        if s.sock is None:
            return
        stats[why] += 1
        if s.registered:
            sel.unregister(s.sock)
        s.sock.close()
        s.sock, s.registered, s.wbuf, s.tail = None, 0, bytearray(), []
        if s.held:
            held_now -= 1
        s.held = False
        s.retry_at = now + 0.1

    def connect(s, now):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect(a.socket)
        except OSError as e:
            stats["connect failed: " + (e.strerror or type(e).__name__)] += 1
            sock.close()
            s.retry_at = now + 0.1
            return
        s.sock, s.wbuf, s.tail = sock, bytearray(), []
        stats["connections opened"] += 1
        if kind == "conns":
            s.wbuf += b'{"op":"ping"}\n'
        elif kind == "flood":
            s.wbuf += list_line * a.lists
            stats["lists sent"] += a.lists
        s.want_write = True
        interest(s)

    def on_lines(s, data, now):
        """Counts the answers that are complete; by substrings, not line by line (cheap)."""
        nonlocal held_now, held_max
        s.tail.append(data)
        if b"\n" not in data:
            return  # a long answer comes in many reads: joined once, at its end
        blob = b"".join(s.tail)
        cut = blob.rfind(b"\n") + 1
        done, s.tail = blob[:cut], [blob[cut:]]
        stats["answers read"] += done.count(b"\n")
        if b'"ok":false' in done:
            for m in re.finditer(rb'"code":"([a-z_]+)"', done):
                codes[m.group(1).decode()] += 1
        oks = done.count(b'"ok":true')
        if kind == "conns":
            if oks and not s.held:
                s.held = True
                held_now += 1
                held_max = max(held_max, held_now)
            return
        lists, gets = done.count(b'{"calls":['), done.count(b'{"call":{')
        stats["lists answered"] += lists
        stats["gets answered"] += gets
        stats["gets with notes_next"] += done.count(b'"notes_next":')
        stats["ok answers"] += oks - lists - gets
        stats["pushes"] += done.count(b'{"push":')

    def read(s, limit, now):
        try:
            data = s.sock.recv(limit)
        except BlockingIOError:
            return
        except OSError:
            drop(s, "closed by daemon (reset)", now)
            return
        if not data:
            drop(s, "closed by daemon", now)
            return
        stats["bytes read"] += len(data)
        on_lines(s, data, now)

    def write(s, now):
        if not s.wbuf and kind != "conns":
            refill(s)
        if s.wbuf:
            try:
                n = s.sock.send(s.wbuf)
                del s.wbuf[:n]
                stats["bytes sent"] += n
            except BlockingIOError:
                pass
            except OSError:
                drop(s, "closed by daemon (on send)", now)
                return
        if kind == "conns" and not s.wbuf and s.want_write:
            s.want_write = False
            interest(s)

    next_tick = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        for s in slots:
            if s.sock is None and now >= s.retry_at:
                connect(s, now)
        timeout = max(0.0, min(next_tick, deadline) - now)
        for key, mask in sel.select(timeout):
            s = key.data
            if s.sock is None:
                continue
            if mask & selectors.EVENT_READ:
                read(s, 1 << 16, now)
            if s.sock is not None and mask & selectors.EVENT_WRITE:
                write(s, now)
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + TICK
            if slow_read:
                for s in slots:
                    if s.sock is not None:
                        read(s, a.read_bytes, now)
    for s in slots:
        if s.sock is not None:
            s.sock.close()
    out = dict(stats)
    out["errors"] = dict(codes)
    if kind == "conns":
        out["held at most"] = held_max
        out["held at the end"] = held_now
    out["seconds"] = a.seconds
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu"] = (ru.ru_utime + ru.ru_stime) / a.seconds
    print(json.dumps(out))


# --- The harness ---------------------------------------------------------------------------------

def mib(kb):
    return kb / 1024


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def machine_cpu():
    """(busy, total) jiffies of every core, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def disk_mib(phase_dir):
    """The database file and its WAL, MiB."""
    def size(name):
        try:
            return os.path.getsize(os.path.join(phase_dir, name)) / 2**20
        except OSError:
            return 0.0
    return size("calls.sqlite"), size("calls.sqlite-wal")


def cpu_seconds(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


class Sampler(threading.Thread):
    """VmRSS every 20 ms; kills the daemon past the cap."""

    def __init__(self, daemon, cap_kb):
        super().__init__(daemon=True)
        self.proc, self.cap_kb = daemon, cap_kb
        self.peak_kb, self.killed_at, self.stop_flag = 0, None, threading.Event()

    def run(self):
        while not self.stop_flag.wait(0.02):
            rss = proc_status(self.proc.pid).get("VmRSS")
            if rss is None:
                return
            self.peak_kb = max(self.peak_kb, rss)
            if rss > self.cap_kb and self.killed_at is None:
                self.killed_at = rss
                self.proc.kill()


class Client:
    """A blocking connection for seeding and checks, every read bounded by a timeout."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf, self.timeout = bytearray(), timeout

    def pipeline(self, lines):
        self.sock.sendall(b"".join(lines))
        answers = []
        for _ in lines:
            line = read_line(self.sock, self.buf, self.timeout)
            if line is None:
                raise RuntimeError("the daemon did not answer a seeding request in time")
            answers.append(json.loads(line))
        return answers

    def close(self):
        self.sock.close()


def seed(path, calls, notes, note_bytes, rng):
    new_id = uuid_factory(rng)
    c = Client(path)
    base = time.time() - 3600
    pending = []
    for i in range(calls):
        pending.append(('{"op":"call.start","event_id":"%s","call":{"id":"%s","dialled":"101","received_at":"%s",'
                        '"workstation":"WS-%02d","handler":"%04d"}}\n'
                        % (new_id(), new_id(), rfc3339(base + i * 3600 / max(1, calls)), i % 40, i % 700)).encode())
    call_id = None
    if notes:
        call_id = new_id()
        pending.append(('{"op":"call.start","event_id":"%s","call":{"id":"%s","dialled":"0800 789 321","received_at":"%s"}}\n'
                        % (new_id(), call_id, rfc3339())).encode())
        words = "caller reports a van parked outside the depot again engine running two men photographing the gate".split()
        for i in range(notes):
            text = " ".join(rng.choice(words) for _ in range(note_bytes // 6))[:note_bytes]
            pending.append(json.dumps({"op": "call.update", "event_id": new_id(), "call_id": call_id, "at": rfc3339(),
                                       "note": f"{i}: {text}"}, separators=(",", ":")).encode() + b"\n")
    for i in range(0, len(pending), 500):
        for r in c.pipeline(pending[i:i + 500]):
            if not r.get("ok"):
                raise RuntimeError(f"seeding refused: {r}")
    c.close()
    return call_id


def ping(path, timeout=5):
    t0 = time.monotonic()
    try:
        c = Client(path, timeout)
        ok = c.pipeline([b'{"op":"ping"}\n'])[0].get("ok")
        c.close()
        return (time.monotonic() - t0) if ok else None
    except (OSError, RuntimeError, ValueError):
        return None


def make_config(a, phase_dir, kind, key):
    text = a.base_text
    text = text.replace("  # key_file: /etc/hotlined/hotlined.key", f"  key_file: {key}")
    limits = {}
    if kind == "conns":
        # The attacker is another uid (nobody) with the handler role; the per-uid cap stays the
        # shipped one, which is what this attack is about.
        text, n = re.subn(r"(\n  handler:\n    groups: \[hotline\]\n)", r'\1    users: ["%d"]\n' % NOBODY, text)
        if n != 1:
            sys.exit("hostile.py: cannot find `roles: handler: groups: [hotline]` in the base configuration")
    else:
        # The probe and the hostile connections are all root here: raise the per-uid cap so
        # the probe is not refused as the 65th connection of uid 0. (The conns attack is the
        # one that tests the cap, from another uid.) Only where the base configuration has the
        # key: an older hotlined refuses keys it does not know.
        limits["max_connections_per_uid"] = max(256, a.connections + 16)
    limits["max_connections"] = max(512, a.connections + 32, a.conn_attempts + 32)
    for k, v in limits.items():
        text = re.sub(r"(?m)^(  %s:\s*)\d+" % re.escape(k), r"\g<1>%d" % v, text)
    path = os.path.join(phase_dir, "hotlined.yaml")
    for _ in range(30):
        with open(path, "w") as f:
            f.write(text)
        check = subprocess.run([os.path.join(a.bin, "hotlined"), "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=30)
        if check.returncode == 0:
            return path
        # A binary older than the configuration (BIN=an old build) refuses keys it does not
        # know: leave out each limit it names, and say so.
        m = re.search(r'limits\.(\w+): unknown key', check.stdout + check.stderr)
        if not m:
            break
        text = re.sub(r"(?m)^  %s:.*\n" % re.escape(m.group(1)), "", text)
        DROPPED.add(m.group(1))
    sys.exit(f"hostile.py: the generated configuration does not validate:\n{check.stdout}{check.stderr}")


def spawn(args, as_nobody=False):
    cmd = [sys.executable]
    if as_nobody:
        # The script goes in on standard input: nobody may not be able to read it where it is.
        cmd = ["setpriv", f"--reuid={NOBODY}", "--regid=0", "--clear-groups", sys.executable, "-"]
        return subprocess.Popen(cmd + args, stdin=open(os.path.abspath(__file__), "rb"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.Popen(cmd + [os.path.abspath(__file__)] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout):
    """Its JSON summary, killing it past `timeout`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return {"killed": "overran"}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"failed": (err or out).strip()[-300:]}


CHILDREN = []
DROPPED = set()  # limits in the base configuration that the binary does not know


def run_phase(a, kind, key, rng):
    phase_dir = tempfile.mkdtemp(prefix=f"{kind}.", dir=a.dir)
    os.chmod(phase_dir, 0o711)  # the conns attacker (nobody) must reach the socket
    config = make_config(a, phase_dir, kind, key)
    sock = os.path.join(phase_dir, "s.sock")
    log = open(os.path.join(phase_dir, "daemon.log"), "w")
    daemon = subprocess.Popen([os.path.join(a.bin, "hotlined"), "--config", config, "--socket", sock,
                               "--database", os.path.join(phase_dir, "calls.sqlite")],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    CHILDREN.append(daemon)
    with open(os.path.join(a.dir, f"daemon-{daemon.pid}.pid"), "w") as f:
        f.write(str(daemon.pid))
    result = {"phase": kind}
    try:
        for _ in range(100):
            if os.path.exists(sock) or daemon.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(sock):
            sys.exit(f"hotlined did not start:\n{open(log.name).read()}")
        call_id = seed(sock, a.seed_calls, a.notes if kind == "bigget" else 0, a.note_bytes, rng)
        st = proc_status(daemon.pid)
        result["rss_before"] = st.get("VmRSS", 0)
        sampler = Sampler(daemon, a.max_rss_mib * 1024)
        sampler.start()
        cpu0, t0, m0 = cpu_seconds(daemon.pid), time.monotonic(), machine_cpu()
        attacker = None
        if kind != "idle":
            args = ["attack", kind, "--socket", sock, "--seconds", str(a.seconds + a.ramp),
                    "--connections", str(a.connections), "--conn-attempts", str(a.conn_attempts),
                    "--lists", str(a.lists), "--read-bytes", str(a.read_bytes)]
            if call_id:
                args += ["--call-id", call_id]
            attacker = spawn(args, as_nobody=(kind == "conns"))
            CHILDREN.append(attacker)
            time.sleep(a.ramp)
        prober = spawn(["probe", "--socket", sock, "--seconds", str(a.seconds), "--gap-ms", str(a.gap_ms),
                        "--timeout", str(a.timeout)])
        CHILDREN.append(prober)
        result["probe"] = finish(prober, a.seconds + a.timeout + 30)
        if attacker:
            result["attack"] = finish(attacker, a.ramp + 30)
        cpu1, t1, m1 = cpu_seconds(daemon.pid), time.monotonic(), machine_cpu()
        result["machine"] = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
        result["disk"] = disk_mib(phase_dir)
        result["cpu"] = (cpu1 - cpu0) / (t1 - t0) if cpu0 is not None and cpu1 is not None else None
        time.sleep(a.settle)  # the attackers are gone: does the memory come back, does it answer?
        cpu2 = cpu_seconds(daemon.pid)
        result["cpu_after"] = (cpu2 - cpu1) / (time.monotonic() - t1) if cpu1 is not None and cpu2 is not None else None
        st = proc_status(daemon.pid)
        sampler.stop_flag.set()
        sampler.join()
        result["rss_peak"] = sampler.peak_kb
        result["hwm"] = st.get("VmHWM")
        result["killed_at"] = sampler.killed_at
        result["rss_after"] = st.get("VmRSS")
        result["disk_after"] = disk_mib(phase_dir)
        result["ping_after"] = ping(sock)
        result["exit"] = daemon.poll()
    finally:
        for p in CHILDREN:
            if p is not daemon and p.poll() is None:
                p.kill()
                p.wait()
        if daemon.poll() is None:
            t_stop = time.monotonic()
            daemon.terminate()
            try:
                daemon.wait(15)
                result["stop_s"] = time.monotonic() - t_stop
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
                result["stop"] = "did not stop on SIGTERM within 15 s (killed)"
        CHILDREN.clear()
        log.close()
        tail = open(log.name, errors="replace").read().splitlines()
        result["log_lines"] = len(tail)
        # What the daemon warned about, alerts apart (without a journal each alert is a line).
        warned = [l for l in tail if re.search(r" (warning|error|critical) ", l) and "alert" not in l.lower()]
        result["log_warnings"] = len(warned)
        result["log_tail"] = warned[-5:]
        try:
            os.unlink(os.path.join(a.dir, f"daemon-{daemon.pid}.pid"))
        except OSError:
            pass
        shutil.rmtree(phase_dir, ignore_errors=True)
    return result


def ms(x):
    return "—" if x is None else (f"{x * 1000:.1f}" if x < 10 else f"{x * 1000:.0f}")


def describe_attack(kind, at):
    if not at:
        return ""
    if "killed" in at or "failed" in at:
        return json.dumps(at)
    s = at.get("seconds", 1) or 1
    err = ", ".join(f"{k} {v}" for k, v in sorted(at.get("errors", {}).items(), key=lambda kv: -kv[1]))
    closed = sum(v for k, v in at.items() if k.startswith("closed by daemon"))
    parts = []
    if kind == "flood":
        parts.append(f"sent {at.get('bytes sent', 0) / 2**20:.1f} MiB; read {at.get('bytes read', 0) / 2**20:.1f} MiB, "
                     f"{at.get('answers read', 0)} answers ({at.get('lists answered', 0)} lists of {at.get('lists sent', 0)} sent)")
    elif kind == "writes":
        acked = at.get("ok answers", 0)
        parts.append(f"{acked} writes acknowledged ({acked / s:.0f}/s) of {at.get('writes sent', 0)} queued to send")
    elif kind == "nonreader":
        parts.append(f"sent {at.get('bytes sent', 0) / 2**20:.1f} MiB of calls.list before the daemon stopped reading")
    elif kind == "conns":
        parts.append(f"held {at.get('held at most', 0)} at most ({at.get('held at the end', 0)} at the end); "
                     f"{at.get('connections opened', 0)} connects")
    elif kind == "bigget":
        parts.append(f"{at.get('gets answered', 0)} pages read ({at.get('gets with notes_next', 0)} with notes_next), "
                     f"{at.get('bytes read', 0) / 2**20:.0f} MiB")
    if err:
        parts.append(f"errors: {err}")
    if closed:
        parts.append(f"closed by the daemon {closed} times")
    fails = {k: v for k, v in at.items() if k.startswith("connect failed")}
    if fails:
        parts.append(", ".join(f"{k} {v}" for k, v in fails.items()))
    return "; ".join(parts)


def run(a):
    rng = random.Random(a.seed)
    key = os.path.join(a.dir, "hotlined.key")
    attacks = [k for k in a.attacks.split(",") if k]
    for k in attacks:
        if k not in ATTACKS:
            sys.exit(f"unknown attack {k}; known: {', '.join(ATTACKS)}")
    phases = (["idle"] + attacks + ["idle"]) * a.repeats
    cap_note = (f"max_connections_per_uid {max(256, a.connections + 16)} for all but conns (probe and attackers "
                f"are all root), shipped for conns (attacker uid {NOBODY})")
    print(f"# {len(phases)} phases of {a.seconds:g} s (+{a.ramp:g} s ramp), each on a fresh daemon ({a.bin}); "
          f"{a.connections} hostile connections ({a.conn_attempts} attempted by conns); {cap_note}; "
          f"seeded {a.seed_calls} calls (bigget: + one call with {a.notes} notes of {a.note_bytes} bytes); "
          f"probe: one 999 call.start at a time, {a.gap_ms:g} ms apart", flush=True)
    results = []
    for i, kind in enumerate(phases):
        print(f"# phase {i + 1}/{len(phases)}: {kind}", file=sys.stderr, flush=True)
        r = run_phase(a, kind, key, rng)
        results.append(r)
        p = r.get("probe", {})
        print(f"#   {kind}: peak {mib(r.get('rss_peak', 0)):.0f} MiB, probe n={p.get('n')} p50 {ms(p.get('p50'))} "
              f"p99 {ms(p.get('p99'))} ms", file=sys.stderr, flush=True)

    idle_runs = [r["probe"].get("p99") for r in results if r["phase"] == "idle" and r["probe"].get("p99") is not None]
    idle_ref = sum(idle_runs) / len(idle_runs) if idle_runs else None
    print()
    print("| phase | RSS before | peak RSS | VmHWM | RSS after | daemon CPU | probe acks | p50 ms | p99 ms | max ms "
          "| p99 / idle | probe errors | alive after | SIGTERM to exit | machine busy | targets |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|---|")
    order = []
    for r in results:
        label = r["phase"]
        if label == "idle":
            label = "idle (first)" if not any(o.startswith("idle") for o in order) else \
                    ("idle (last)" if r is results[-1] else "idle")
        order.append(label)
        p = r.get("probe", {})
        errs = dict(p.get("errors", {}))
        if p.get("timeouts"):
            errs[f"no answer in {a.timeout:g} s"] = p["timeouts"]
        for k in ("killed", "failed"):
            if k in p:
                errs[k] = p[k]
        err = ", ".join(f"{k} {v}" for k, v in errs.items()) or "none"
        ratio = (p["p99"] / idle_ref) if p.get("p99") and idle_ref else None
        verdict = []
        if r["phase"] != "idle":
            verdict.append(("RSS ok" if r.get("rss_peak", 0) < 200 * 1024 else "RSS OVER 200 MiB"))
            verdict.append(("p99 ok" if ratio is not None and ratio <= 3 else "p99 OVER 3x"))
        if r.get("killed_at"):
            verdict.append(f"KILLED at {mib(r['killed_at']):.0f} MiB")
        if r.get("exit") is not None:
            verdict.append(f"daemon exited {r['exit']}")
        alive = "yes" if r.get("ping_after") is not None else "NO"
        if r.get("ping_after") is not None:
            alive += f" ({ms(r['ping_after'])} ms)"
        cpu = "—" if r.get("cpu") is None else f"{100 * r['cpu']:.0f}%"
        stop = "over 15 s" if r.get("stop") else ("—" if r.get("stop_s") is None else f"{r['stop_s']:.1f} s")
        hwm = "—" if r.get("hwm") is None else f"{mib(r['hwm']):.0f}"
        after = "—" if r.get("rss_after") is None else f"{mib(r['rss_after']):.0f}"
        print(f"| {label} | {mib(r.get('rss_before', 0)):.0f} | {mib(r.get('rss_peak', 0)):.0f} | {hwm} | {after} | {cpu} "
              f"| {p.get('n', '—')} | {ms(p.get('p50'))} | {ms(p.get('p99'))} | {ms(p.get('max'))} "
              f"| {'—' if ratio is None else f'{ratio:.1f}x'} | {err} | {alive} "
              f"| {stop} "
              f"| {100 * r.get('machine', 0):.0f}% "
              f"| {', '.join(verdict)} |")
    print()
    print(f"RSS in MiB (before: after seeding; peak: VmRSS sampled every 20 ms over the attack and the "
          f"{a.settle:g} s after it; VmHWM: the daemon's whole life, seeding included; after: {a.settle:g} s after the attackers went). Daemon CPU: of one core; "
          f"machine busy: every core, everything on the machine (the attackers, the probe, other work). "
          f"p99 / idle is against "
          f"the mean of the idle phases' p99, {ms(idle_ref)} ms. Targets (issue 12): peak RSS under 200 MiB; "
          f"probe p99 within 3x of idle.")
    print()
    print(f"| attack | attackers' CPU | database + WAL at the end, MiB | {a.settle:g} s later | daemon CPU then "
          "| what the hostile connections did |")
    print("|---|--:|--:|--:|--:|---|")
    for r in results:
        if r["phase"] != "idle":
            at = r.get("attack") or {}
            cpu = "—" if at.get("cpu") is None else f"{100 * at['cpu']:.0f}%"
            cpu_after = "—" if r.get("cpu_after") is None else f"{100 * r['cpu_after']:.0f}%"
            disk = "%.0f + %.0f" % r.get("disk", (0, 0))
            disk_after = "%.0f + %.0f" % r.get("disk_after", (0, 0))
            print(f"| {r['phase']} | {cpu} | {disk} | {disk_after} | {cpu_after} | {describe_attack(r['phase'], at)} |")
    if DROPPED:
        print(f"\nLeft out of the configuration, unknown to this hotlined: {', '.join(sorted(DROPPED))}.")
    notes = [(r["phase"], r["log_tail"], r["log_lines"]) for r in results if r.get("log_tail") or r.get("stop")]
    for r in results:
        if r.get("stop"):
            print(f"\n{r['phase']}: {r['stop']}")
    if notes:
        print()
        for phase, tail, n in notes:
            if tail:
                print(f"# {phase}: the daemon's warnings and errors (last {len(tail)} of those, alerts apart):")
                for line in tail:
                    print(f"#   {line[:200]}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("probe", "attack"):
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        if sys.argv[1] == "attack":
            p.add_argument("kind", choices=ATTACKS)
        p.add_argument("--socket", required=True)
        p.add_argument("--seconds", type=float, required=True)
        p.add_argument("--gap-ms", type=float, default=20)
        p.add_argument("--timeout", type=float, default=10)
        p.add_argument("--connections", type=int, default=64)
        p.add_argument("--conn-attempts", type=int, default=200)
        p.add_argument("--lists", type=int, default=4)
        p.add_argument("--read-bytes", type=int, default=2048)
        p.add_argument("--call-id")
        a = p.parse_args()
        (probe if a.cmd == "probe" else attack)(a)
        return
    p = argparse.ArgumentParser(description="hostile clients against hotlined (see Benchmarks/hostile.sh)")
    p.add_argument("--bin", required=True, help="directory with hotlined")
    p.add_argument("--dir", required=True, help="scratch directory (each phase makes its own inside)")
    p.add_argument("--config-base", required=True, help="the configuration to start from (Config/hotlined.yaml)")
    p.add_argument("--connections", type=int, default=64, help="hostile connections per attack")
    p.add_argument("--seconds", type=float, default=20, help="probe time per phase")
    p.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated, of: " + ",".join(ATTACKS))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--ramp", type=float, default=1, help="attack alone this long before the probe starts")
    p.add_argument("--gap-ms", type=float, default=20, help="between the probe's acknowledgement and its next call")
    p.add_argument("--timeout", type=float, default=10, help="a probe call unanswered this long is a stall")
    p.add_argument("--seed-calls", type=int, default=3000)
    p.add_argument("--notes", type=int, default=5000, help="notes on the bigget call")
    p.add_argument("--note-bytes", type=int, default=1000)
    p.add_argument("--conn-attempts", type=int, default=200, help="connections the conns attacker tries to hold")
    p.add_argument("--lists", type=int, default=4, help="calls.list each flood connection pipelines first")
    p.add_argument("--read-bytes", type=int, default=2048, help="slow readers read this much every 5 ms")
    p.add_argument("--settle", type=float, default=2, help="after the attack, wait this long and look again")
    p.add_argument("--max-rss-mib", type=int, default=2048, help="kill the daemon past this")
    p.add_argument("--seed", type=int, default=12)
    a = p.parse_args()
    a.bin = os.path.abspath(a.bin)
    a.dir = os.path.abspath(a.dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so every `finally` stops what it started
    a.base_text = open(a.config_base).read()  # once: the file may change while this runs
    try:
        run(a)
    finally:
        for proc in CHILDREN:
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
