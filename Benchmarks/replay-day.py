#!/usr/bin/env python3
"""Replays one day of real emergency-call times (../shared/data/montgomery-911-sample.csv)
as hotlined requests, one JSON line each, for `hotlinectl send`.

The times are read as Europe/London wall-clock times and moved to --date. EMS calls go to
999, Fire to 112, Traffic to 101, and every fifth EMS call to the 0800 hotline instead.
Each call is answered 2-20 s after it rings, ended 3-25 minutes later (a few stay open),
and some are flagged as a threat to life. Deterministic (seeded).

With --channels (issue 18), some calls come in other ways, more often than a force sees
them so that a day shows each: of the 999 calls, about 6% by SMS (emergencySMS;
"answered" is the first reply, 30-150 s), 5% by 999 BSL video relay (an interpreter
connects first, 6-45 s, with an interpreter reference) and 5% by text relay to 18000
(5-35 s, with a relay assistant's reference); of the hotline's reports, half are made
online (no number, a form reference, taken up 2-40 minutes after it was submitted).
Hotline reports get one of the hotline's categories.

    Benchmarks/replay-day.py --source 2018-11-15 --date 2026-11-23 --channels | hotlinectl send
"""
import argparse, csv, json, random, uuid, pathlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

p = argparse.ArgumentParser()
p.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared/data/montgomery-911-sample.csv"))
p.add_argument("--source", default="2018-11-15", help="the day of the data to replay")
p.add_argument("--date", default="2026-11-23", help="the local date to replay it on")
p.add_argument("--seed", type=int, default=7)
p.add_argument("--channels", action="store_true", help="assign some calls to text relay, SMS, BSL and online")
a = p.parse_args()
hotline_categories = ["suspicious-activity", "hostile-reconnaissance", "suspicious-item-or-vehicle", "online-extremism", "other"]
rng = random.Random(a.seed)
london = ZoneInfo("Europe/London")
outcomes = ["dispatched", "transferred", "advice-given", "report-taken", "referred", "no-further-action"]
rows = [r for r in csv.reader(open(a.data)) if r[3].startswith(a.source)]
for i, (lat, lon, title, when, town, addr) in enumerate(sorted(rows, key=lambda r: r[3])):
    kind = title.split(":")[0]
    dialled = {"EMS": "999", "Fire": "112", "Traffic": "101"}.get(kind, "101")
    if kind == "EMS" and i % 5 == 0:
        dialled = "0800 789 321"
    local = datetime.strptime(a.date + when[10:], "%Y-%m-%d %H:%M").replace(tzinfo=london)
    received = local + timedelta(seconds=rng.randint(0, 59))
    answered = received + timedelta(seconds=rng.randint(2, 20))
    call = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    def t(d): return d.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    def ev(): return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    start = {"id": call, "dialled": dialled, "received_at": t(received),
             "workstation": f"WS-{rng.randint(1, 12):02d}", "handler": str(4400 + rng.randint(1, 40))}
    if a.channels:
        roll = rng.random()
        if dialled == "999" and roll < 0.06:
            start["channel"] = "sms"
            answered = received + timedelta(seconds=rng.randint(30, 150))
        elif dialled == "999" and roll < 0.11:
            start["channel"] = "video-relay-bsl"
            start["relay"] = {"reference": f"BSL-{rng.randint(1000, 9999)}"}
            answered = received + timedelta(seconds=rng.randint(6, 45))
        elif dialled == "999" and roll < 0.16:
            start["channel"], start["dialled"] = "text-relay", "18000"
            start["relay"] = {"reference": f"RA-{rng.randint(1000, 9999)}"}
            answered = received + timedelta(seconds=rng.randint(5, 35))
        elif dialled == "0800 789 321" and roll < 0.5:
            start["channel"] = "online"
            del start["dialled"]
            start["form_reference"] = f"ACT-{a.date[:4]}-{rng.randint(100000, 999999)}"
            answered = received + timedelta(seconds=rng.randint(120, 2400))
    start["answered_at"] = t(answered)
    print(json.dumps({"op": "call.start", "event_id": ev(), "call": start}))
    category = title.split(":", 1)[1].strip().lower().replace(" ", "-").replace("/", "-")[:60].strip("-")
    if dialled == "0800 789 321":
        category = rng.choice(hotline_categories)
    flags = {"threat_to_life": True} if dialled != "999" and rng.random() < 0.05 else {}
    s = {"category": "".join(c for c in category if c.isalnum() or c == "-") or "other"}
    if flags: s["flags"] = flags
    print(json.dumps({"op": "call.update", "event_id": ev(), "call_id": call, "at": t(answered + timedelta(seconds=30)), "set": s}))
    if rng.random() < 0.97:
        ended = answered + timedelta(seconds=rng.randint(180, 1500))
        print(json.dumps({"op": "call.end", "event_id": ev(), "call_id": call, "ended_at": t(ended),
                          "outcome": rng.choice(outcomes)}))
