"""`make demo`: an overloaded server loses weight before it falls over.

Three local app servers sit behind the real haproxy, each with `lbguard agent` running
in-process and answering HAProxy's agent-check. Under a steady load one server slows
down, so its requests queue; its agent reports a lower weight, HAProxy obeys, and the
server's share of new requests falls. When it is fast again the weight climbs back.
Everything runs on loopback and stops by itself.

DEMO_FAST=1 stops once the weight has dropped instead of waiting for the recovery.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from lbguard.haproxy_runtime import RuntimeClient
from lbguard.health.lab import Backend, Load, LoopThread, free_port
from lbguard.health.overload import OverloadMonitor, Thresholds
from lbguard.native import find_binary
from lbguard.sandbox.run import stop_group

FAST = os.environ.get("DEMO_FAST") == "1"
# Shorter windows than an agent's defaults, so the story takes seconds, not minutes.
QUICK = Thresholds(window_seconds=3.0, min_requests=10, release_per_second=0.3)


def say(line: str) -> None:
    print(f"\033[1m>>> {line}\033[0m", flush=True)


def weights(client: RuntimeClient) -> dict[str, int]:
    return {
        row["svname"]: int(row["weight"] or 0)
        for row in client.show_stat()
        if row["pxname"] == "app" and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def shares(before: Counter[str], after: Counter[str]) -> str:
    delta = after - before
    total = sum(delta.values()) or 1
    return "  ".join(f"{name} {delta[name] / total:5.1%}" for name in ("web1", "web2", "web3"))


def main() -> int:
    exe = find_binary("haproxy")
    if exe is None:
        print("demo: haproxy is not installed; skipping the agent demo")
        return 0
    loop = LoopThread()
    backends = [
        Backend(f"web{i}", OverloadMonitor(capacity=4, thresholds=QUICK)) for i in (1, 2, 3)
    ]
    for b in backends:
        loop.run(b.start())
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lbguard-agent-demo-") as tmp:
        sock = f"{tmp}/admin.sock"
        servers = "\n".join(
            f"    server {b.name} 127.0.0.1:{b.port} weight 100 check inter 5s "
            f"agent-check agent-port {b.agent_port} agent-inter 300ms"
            for b in backends
        )
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(
            f"global\n    stats socket {sock} level admin\n"
            "defaults\n    mode http\n    timeout connect 2s\n"
            "    timeout client 20s\n    timeout server 20s\n"
            f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend app\n"
            f"backend app\n    balance roundrobin\n{servers}\n"
        )
        lb = subprocess.Popen(
            [exe, "-db", "-f", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        load = Load(port, clients=6, max_requests=40_000)
        try:
            client = RuntimeClient(f"unix:{sock}")
            deadline = time.monotonic() + 10
            while not Path(sock).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            load.start()
            say("haproxy balances three servers, each with lbguard agent answering agent-check")
            time.sleep(3)
            before = load.snapshot()
            time.sleep(2)
            print(f"    weights {weights(client)}   shares {shares(before, load.snapshot())}")

            say("web2 slows down (5 ms -> 150 ms a request): its requests start to queue")
            backends[1].latency = 0.15
            started = time.monotonic()
            dropped = False
            while time.monotonic() - started < 25:
                time.sleep(1)
                w = weights(client)
                agent = backends[1].agent
                reply = agent.reply().strip() if agent is not None else "?"
                print(
                    f"    t+{time.monotonic() - started:4.1f}s  agent says {reply!r:8}  weights {w}"
                )
                if w.get("web2", 100) <= 50:
                    dropped = True
                    break
            if not dropped:
                print("demo: web2's weight did not drop within 25 s", file=sys.stderr)
                return 1
            before = load.snapshot()
            time.sleep(2)
            say(f"web2 gets less of the traffic before it fails: {shares(before, load.snapshot())}")
            if FAST:
                return 0
            say("web2 is fast again: the agent raises its weight step by step")
            backends[1].latency = 0.005
            started = time.monotonic()
            while time.monotonic() - started < 30:
                time.sleep(2)
                w = weights(client)
                print(f"    t+{time.monotonic() - started:4.1f}s  weights {w}")
                if w.get("web2") == 100:
                    break
            return 0
        finally:
            load.stop()
            stop_group(lb)
            for b in backends:
                loop.run(b.stop())
            loop.stop()


if __name__ == "__main__":
    sys.exit(main())
