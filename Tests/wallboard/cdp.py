#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol for the wallboard tests.

Usage: cdp.py CHROMIUM PROFILE_DIR WIDTH HEIGHT

Reads one JSON command per line on standard input and answers each with one JSON line:
  {"open": URL}                          navigate, and wait for the load
  {"eval": EXPR}                         {"value": ...} the expression's value
  {"wait": EXPR, "timeout_ms": N}        poll every 10 ms until EXPR is truthy:
                                         {"ok": true|false, "ms": elapsed}
  {"screenshot": PATH}                   write a PNG of the viewport
  {"quit": true}                         close the browser
Any failure is {"error": "..."}. Needs python3-websocket (Debian's websocket-client).
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import base64

import websocket

chromium, profile, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(profile, exist_ok=True)
browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
     "--remote-allow-origins=*", "--remote-debugging-port=0", f"--user-data-dir={profile}",
     f"--window-size={width},{height}", "about:blank"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if time.time() > deadline or browser.poll() is not None:
            raise RuntimeError("chromium did not start its DevTools server")
        time.sleep(0.05)
    port = int(open(port_file).read().split()[0])
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=30))
    page = next(t for t in targets if t["type"] == "page")
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
except Exception as e:  # noqa: BLE001 - said to the test, which fails with it
    answer({"error": f"starting chromium: {e}"})
    browser.kill()
    sys.exit(1)

next_id = 0


def call(method, params=None):
    global next_id
    next_id += 1
    ws.send(json.dumps({"id": next_id, "method": method, "params": params or {}}))
    while True:
        message = json.loads(ws.recv())
        if message.get("id") == next_id:
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            return message.get("result", {})


def evaluate(expr):
    result = call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
    if "exceptionDetails" in result:
        raise RuntimeError(f"{expr}: {result['exceptionDetails'].get('text')}")
    return result.get("result", {}).get("value")


call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
answer({"ready": True})
for line in sys.stdin:
    try:
        command = json.loads(line)
        if "open" in command:
            call("Page.navigate", {"url": command["open"]})
            deadline = time.time() + 30
            while evaluate("document.readyState") != "complete":
                if time.time() > deadline:
                    raise RuntimeError("the page did not load in 30 s")
                time.sleep(0.02)
            answer({"ok": True})
        elif "eval" in command:
            answer({"value": evaluate(command["eval"])})
        elif "wait" in command:
            started = time.monotonic()
            limit = command.get("timeout_ms", 1000) / 1000
            ok = False
            while True:
                if evaluate(command["wait"]):
                    ok = True
                    break
                if time.monotonic() - started > limit:
                    break
                time.sleep(0.01)
            answer({"ok": ok, "ms": round((time.monotonic() - started) * 1000)})
        elif "screenshot" in command:
            shot = call("Page.captureScreenshot", {"format": "png"})
            with open(command["screenshot"], "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            answer({"ok": True})
        elif "quit" in command:
            break
        else:
            answer({"error": f"unknown command {line.strip()}"})
    except Exception as e:  # noqa: BLE001 - said to the test, which fails with it
        answer({"error": str(e)})
try:
    ws.close()
finally:
    browser.terminate()
    try:
        browser.wait(10)
    except subprocess.TimeoutExpired:
        browser.kill()
    shutil.rmtree(profile, ignore_errors=True)
