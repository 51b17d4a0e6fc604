"""`make demo`, part 6: the outage replayed live, with `lbguard watch` watching.

The real haproxy runs the corrected config (examples/incident/haproxy.fixed.cfg) in
front of three local stub servers under a steady load; `lbguard watch` polls its stats
socket. Then the config of the day of the outage (examples/incident/haproxy.cfg, every
server but web-01 marked backup) is deployed with a reload, the alert fires, the fix
is deployed, and the alert resolves. Both configs run through lbguard's own loopback
sandbox (listeners and servers moved to 127.0.0.1), so nothing leaves the machine.

DEMO_FAST=1 shortens the quiet phases.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lbguard.native import find_binary
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.sandbox.haproxy_box import build_sandbox
from lbguard.sandbox.run import _request, stop_group
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.simulate.traffic import Request

ROOT = Path(__file__).resolve().parents[1]
FAST = os.environ.get("DEMO_FAST") == "1"
QUIET = 1.5 if FAST else 4.0
INTERVAL = "0.3" if FAST else "0.5"


def sandboxed(path: Path, tmp: str, ports: dict[str, int] | None) -> tuple[str, dict[str, int]]:
    """The config moved onto loopback; `ports` pins the servers and listener to earlier ones."""
    config = parse_haproxy([str(path)]).config
    box = build_sandbox(config, path.read_text().split("\n"), tmp)
    text = box.text
    found = {server: port for (_, server), port in box.stub_ports.items()}
    found["frontend"] = next(iter(box.frontend_ports.values()))
    if ports is not None:
        for name, port in found.items():
            text = re.sub(rf"127\.0\.0\.1:{port}\b", f"127.0.0.1:{ports[name]}", text)
        found = ports
    return text, found


def say(line: str) -> None:
    print(f"\033[1m>>> {line}\033[0m", flush=True)


def main() -> int:
    exe = find_binary("haproxy")
    if exe is None:
        print("demo: haproxy is not installed; skipping the live replay")
        return 0
    with tempfile.TemporaryDirectory(prefix="lbguard-demo-") as tmp:
        good, ports = sandboxed(ROOT / "examples/incident/haproxy.fixed.cfg", tmp, None)
        bad, _ = sandboxed(ROOT / "examples/incident/haproxy.cfg", tmp, ports)
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(good)
        farm = StubFarm([StubServer(n, p) for n, p in ports.items() if n != "frontend"])
        lb = subprocess.Popen(
            [exe, "-W", "-db", "-f", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        farm.start()
        stop = threading.Event()

        def load() -> None:
            n = 0
            started = time.monotonic()
            while not stop.is_set() and n < 20_000 and time.monotonic() - started < 60:
                with contextlib.suppress(OSError):
                    _request(ports["frontend"], Request(f"127.0.{n % 250}.{1 + n % 200}", "/"), 5)
                n += 1
                stop.wait(0.008)

        lines: list[str] = []
        watch = None
        try:
            deadline = time.monotonic() + 10
            while not (Path(tmp) / "admin.sock").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            threading.Thread(target=load, daemon=True).start()
            say("haproxy runs the fixed config under ~100 req/s; lbguard watch polls its socket")
            watch = subprocess.Popen(
                [
                    sys.executable, "-m", "lbguard", "watch",
                    "--haproxy-stats", f"unix:{tmp}/admin.sock",
                    "--lb-config", str(cfg),
                    "--name", "shop-lb",
                    "--interval", INTERVAL,
                    "--metrics", "",
                    "--store", f"{tmp}/lbguard.db",
                ],
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip

            def echo() -> None:
                assert watch is not None and watch.stderr is not None
                for line in watch.stderr:
                    lines.append(line)
                    print("    " + line.rstrip(), flush=True)

            threading.Thread(target=echo, daemon=True).start()
            started = time.monotonic()
            while not any("watching" in line for line in lines) and time.monotonic() - started < 20:
                time.sleep(0.05)
            time.sleep(QUIET)  # balanced traffic: nothing to report

            def deploy(what: str, text: str, word: str, verb: str) -> bool:
                """Reload haproxy on `text`; True once lbguard watch printed `word`."""
                say(f"deploy: {what}, haproxy reload")
                cfg.write_text(text)
                os.kill(lb.pid, signal.SIGUSR2)
                started = time.monotonic()
                while time.monotonic() - started < 15:
                    if any(word in line for line in lines):
                        say(f"alert {verb} {time.monotonic() - started:.1f} s after the reload")
                        return True
                    time.sleep(0.05)
                print(f"demo: the alert was not {verb} within 15 s", file=sys.stderr)
                return False

            if not deploy("the outage-day config (web-02, web-03 backup)", bad, "FIRING", "fired"):
                return 1
            time.sleep(QUIET / 2)
            if not deploy("the fixed config again", good, "RESOLVED", "resolved"):
                return 1
        finally:
            stop.set()
            if watch is not None:
                watch.send_signal(signal.SIGTERM)
                try:
                    watch.wait(10)
                except subprocess.TimeoutExpired:
                    watch.kill()
                    watch.wait()
            stop_group(lb)
            farm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
