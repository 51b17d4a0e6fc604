"""The drill scenarios: each a small, realistic balancer incident and what diagnoses it.

A scenario holds the files a trainee finds on the "machine" (the config as deployed,
sometimes the script that wrote it), the config the balancer is really running (the
same file, except when the point is that it was never reloaded), how the stub
backends behave, runtime-API commands applied after start (a drain left behind),
the symptom users report, graded hints, and the causes that count as a diagnosis.
The configs are written out here rather than read from `examples/` so that the
drill works from an installed package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEAD = """\
global
    maxconn 4096
    stats socket /run/haproxy/admin.sock mode 660 level admin

defaults
    mode http
    option redispatch
    retries 2
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout queue 10s
"""

_FRONTEND = """
frontend www
    bind :80
    default_backend app
"""

_SERVERS = (
    ("web-01", "10.0.1.11"),
    ("web-02", "10.0.1.12"),
    ("web-03", "10.0.1.13"),
)


def _haproxy(balance: str, servers: str, *, comment: str = "", health: bool = True) -> str:
    check = "    option httpchk GET /healthz\n" if health else ""
    return (
        _HEAD
        + (f"\n{comment}" if comment else "")
        + _FRONTEND
        + f"\nbackend app\n    balance {balance}\n{check}"
        + "    default-server check inter 2s fall 3 rise 2 maxconn 200\n"
        + servers
    )


def _lines(extra: dict[str, str] | None = None, addresses: dict[str, str] | None = None) -> str:
    """server lines for web-01..03, with per-server options and address overrides."""
    extra = extra or {}
    addresses = addresses or {}
    out = []
    for name, ip in _SERVERS:
        address = addresses.get(name, f"{ip}:8080")
        out.append(f"    server {name} {address}{' ' + extra[name] if name in extra else ''}\n")
    return "".join(out)


_PROVISION = """\
#!/bin/sh
# Renders /etc/haproxy/haproxy.cfg for the shop's web tier and reloads HAProxy.
OUT=${OUT:-/etc/haproxy/haproxy.cfg}
WEB1_IP=10.0.1.11
WEB2_IP=10.0.1.12
WEB3_IP=$(inventory get web-03.ip)

cat > "$OUT" <<EOF_CFG
global
    maxconn 4096

defaults
    mode http
    option redispatch
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout queue 10s

frontend www
    bind :80
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /healthz
    default-server check inter 2s fall 3 rise 2 maxconn 200
    server web-01 ${WEB1_IP}:8080
    server web-02 ${WEB2_IP}:8080 backup
    server web-03 ${WEB3_IP}:8080 backup
EOF_CFG

systemctl reload haproxy
"""

_GOOD = _haproxy("roundrobin", _lines())

# Long enough for watch (polling every second) to learn each server's usual response
# time: its baseline is trusted after 10 samples.
SLOW_AFTER = 15.0


@dataclass(frozen=True)
class Scenario:
    """One staged incident."""

    name: str
    setting: str  # what `drill list` says, without giving the cause away
    symptom: str
    config: str  # /etc/haproxy/haproxy.cfg as the trainee finds it
    hints: tuple[str, str, str]
    causes: tuple[str, ...]  # regular expressions; any one matching is a diagnosis
    explanation: str  # shown when the diagnosis is accepted
    servers: frozenset[str] = frozenset()  # servers that may be named with --server
    server_required: bool = False
    running: str | None = None  # the config the process runs, when it is not `config`
    extra_files: dict[str, str] = field(default_factory=dict)
    stubs: dict[str, tuple[float, int]] = field(default_factory=dict)  # latency s, status
    # Seconds the stubs answer at once before their `stubs` latency applies: a server
    # that is slow from the start teaches watch's response-time baseline that slow is
    # normal, while in production servers slow down after being fine.
    slow_after: float = 0.0
    runtime: tuple[str, ...] = ()  # runtime API commands sent once the balancer is up
    behind_proxy: bool = False  # traffic arrives from one proxy address
    check_codes: frozenset[str] = frozenset()  # what `lbguard check` on the config shows
    alerts: frozenset[str] = frozenset()  # what `lbguard watch` on the balancer fires

    @property
    def running_config(self) -> str:
        return self.running if self.running is not None else self.config

    def judge(self, cause: str, server: str | None) -> tuple[bool, str]:
        """Whether an answer names this scenario's cause (and server), with the reason."""
        if not any(re.search(p, cause, re.IGNORECASE) for p in self.causes):
            return False, "that is not what is wrong here; keep looking ('lbguard drill hint')"
        if server is not None and server not in self.servers:
            return False, f"the cause is right, but {server} is not the server at fault"
        if self.server_required and server is None:
            return False, "the cause is right; now name the server with --server NAME"
        return True, self.explanation


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="incident",
        setting="the shop's web tier, provisioned by a script last night",
        symptom="Users report 503s and very slow pages on the shop. The app team says "
        "web-02 and web-03 are idle and healthy.",
        config=_haproxy(
            "roundrobin",
            _lines({"web-02": "backup", "web-03": "backup"}, {"web-03": ":8080"}),
        ),
        extra_files={"provision-lb.sh": _PROVISION},
        hints=(
            "Look at the balancer before the app servers: which server takes the requests?",
            "Read the config the provisioning script wrote, and run 'lbguard check' on the "
            "script with the value the inventory returned (--var WEB3_IP=).",
            "One server line has no address, and the script marks every server after the "
            "first as backup.",
        ),
        causes=(
            r"\bempty\b",
            r"\bunset\b",
            r"\bblank\b",
            r"WEB3_IP",
            r"inventory",
            r"no (ip|address)",
            r"missing (ip|address)",
            r"backup",
        ),
        servers=frozenset({"web-01", "web-03"}),
        explanation="the provisioning script's WEB3_IP came back empty, so web-03 was written "
        "without an address, and the script marked web-02 and web-03 backup: web-01 took "
        "100% of the traffic (LBG105, LBG101; LBG401 on the script).",
        stubs={"web-01": (0.15, 200)},
        check_codes=frozenset({"LBG101", "LBG105"}),
        alerts=frozenset({"concentration"}),
    ),
    Scenario(
        name="all-backup",
        setting="four app servers behind one backend",
        symptom="web-01 is at 100% CPU and users see timeouts, although four app servers were "
        "bought for this service.",
        config=_haproxy(
            "roundrobin",
            _lines({"web-02": "backup", "web-03": "backup"})
            + "    server web-04 10.0.1.14:8080 backup\n",
        ),
        hints=(
            "Start at the balancer: read each server's share and state on the stats socket.",
            "'lbguard check' the config, or 'lbguard simulate' it and compare the shares with "
            "the weights.",
            "Look at the flags at the end of each server line.",
        ),
        causes=(r"backup", r"standby", r"fail-?over only"),
        servers=frozenset({"web-01", "web-02", "web-03", "web-04"}),
        explanation="every server but web-01 is marked backup, so web-01 takes all traffic "
        "until it fails (LBG101).",
        stubs={"web-01": (0.1, 200)},
        check_codes=frozenset({"LBG101"}),
        alerts=frozenset({"concentration"}),
    ),
    Scenario(
        name="source-behind-proxy",
        setting="the API tier, moved behind the company CDN last week",
        symptom="Since the CDN went live, one API server is overloaded and the other two are "
        "almost idle.",
        config=_haproxy(
            "source",
            _lines(),
            comment="# Behind the CDN: every request arrives from the CDN edge.\n",
        ).replace("    balance source\n", "    balance source\n    option forwardfor\n"),
        hints=(
            "At the balancer: how many distinct client addresses does HAProxy see now?",
            "'lbguard simulate --behind-proxy' and 'lbguard verify --behind-proxy' show what "
            "the balancing algorithm does with one source address.",
            "The balancing key is the source address, and the CDN is the only source.",
        ),
        causes=(
            r"\bsource\b",
            r"\bsrc\b",
            r"client.?(ip|address)",
            r"source.?(ip|address)",
            r"ip.?hash",
        ),
        servers=frozenset({"web-01", "web-02", "web-03"}),
        explanation="'balance source' hashes the client address, and behind the CDN every "
        "request comes from the CDN's address: one server gets 100% (LBG106). Hash the "
        "real client (X-Forwarded-For) or use roundrobin with cookies.",
        behind_proxy=True,
        check_codes=frozenset({"LBG106"}),
        alerts=frozenset({"concentration"}),
    ),
    Scenario(
        name="dominant-weight",
        setting="the checkout service after a capacity change",
        symptom="After yesterday's capacity change, web-01 is saturated while web-02 and "
        "web-03 serve almost nothing.",
        config=_haproxy("roundrobin", _lines({"web-01": "weight 100"})),
        hints=(
            "At the balancer: compare each server's weight with its share of requests.",
            "'lbguard simulate' predicts the shares from the config; 'lbguard check' explains.",
            "Weights are relative; read web-01's line carefully.",
        ),
        causes=(r"weight",),
        servers=frozenset({"web-01"}),
        explanation="web-01 has weight 100 against 1 for the others (a typo for 10, or a "
        "percentage written as a weight): it gets 98% of requests (LBG103).",
        check_codes=frozenset({"LBG103"}),
    ),
    Scenario(
        name="slow-server",
        setting="the catalogue service, all servers UP",
        symptom="About a third of page loads take a second or more. Every server is UP on "
        "the dashboard and no health check fails.",
        config=_GOOD,
        hints=(
            "At the balancer: compare the servers' response times (rtime) on the stats socket.",
            "One server answers its health check, only slowly; roundrobin keeps giving it a "
            "third of the requests. 'lbguard verify --stub NAME:latency=1s' reproduces it.",
            "It is web-02.",
        ),
        causes=(
            r"slow",
            r"latency",
            r"response.?time",
            r"rtime",
            r"degraded",
            r"overload",
        ),
        servers=frozenset({"web-02"}),
        server_required=True,
        explanation="web-02 was fine, then slowed down: it now answers every request, health "
        "checks included, in about a second. It is never marked down, and roundrobin keeps "
        "sending it a third of the traffic. An overload-aware check (agent-check, 'lbguard "
        "agent') or leastconn would steer traffic away.",
        stubs={"web-02": (1.0, 200)},
        slow_after=SLOW_AFTER,
        alerts=frozenset({"overload"}),
    ),
    Scenario(
        name="left-in-drain",
        setting="the web tier, the morning after planned maintenance",
        symptom="Since last night's maintenance, web-01 and web-02 run hot, and one app "
        "server looks idle although it is healthy.",
        config=_GOOD,
        hints=(
            "At the balancer: the config file is fine, so look at the running state.",
            "'show stat' or 'show servers state' on the stats socket ('lbguard drill status' "
            "prints its path) shows each server's state.",
            "One server is still in the state maintenance put it in.",
        ),
        causes=(r"drain", r"\bmaint", r"maintenance"),
        servers=frozenset({"web-03"}),
        server_required=True,
        explanation="web-03 was set to drain through the runtime API for maintenance and "
        "never set back to ready; its effective weight is 0. Fix with 'set server "
        "app/web-03 state ready'.",
        runtime=("set server app/web-03 state drain",),
        alerts=frozenset({"weight-drift"}),
    ),
    Scenario(
        name="never-reloaded",
        setting="the web tier, an hour after a config fix was deployed",
        symptom="The fix for web-01's overload was deployed an hour ago, the config file on "
        "the balancer is right, and still web-01 takes everything.",
        config=_GOOD,
        running=_haproxy("roundrobin", _lines({"web-02": "backup", "web-03": "backup"})),
        hints=(
            "At the balancer: does the running process agree with the file?",
            "'lbguard check' passes on the file; compare 'show stat' (bck, weight) with it, "
            "and the process's uptime ('show info') with the file's modification time.",
            "The process still runs the config from before the fix.",
        ),
        causes=(
            r"reload",
            r"restart",
            r"old config",
            r"stale",
            r"previous config",
            r"not (been )?applied",
        ),
        servers=frozenset({"web-01", "web-02", "web-03"}),
        explanation="the file was fixed but HAProxy was never reloaded: the process still "
        "runs the old config, with web-02 and web-03 as backups. Validate and reload "
        "('haproxy -c -f ... && systemctl reload haproxy').",
        alerts=frozenset({"concentration"}),
    ),
    Scenario(
        name="constant-hash-key",
        setting="the storefront, after a switch to hash-based balancing for caching",
        symptom="Since the switch to hash-based balancing for cache locality, one server "
        "takes every request.",
        config=_haproxy("hdr(host)", _lines()),
        hints=(
            "At the balancer: what is the balancing key, and how many values does it take?",
            "'lbguard check' and 'lbguard simulate' model the key over realistic traffic.",
            "Every request carries the same Host header.",
        ),
        causes=(
            r"\bhost\b",
            r"\bhdr\b",
            r"header",
            r"constant",
            r"same key",
            r"one key",
            r"single key",
            r"cardinality",
        ),
        servers=frozenset({"web-01", "web-02", "web-03"}),
        explanation="the pool hashes on the Host header, and the site has one host name: "
        "every request hashes to the same server (LBG112, LBG111). Hash on the URI, or a "
        "key with many values.",
        check_codes=frozenset({"LBG111", "LBG112"}),
        alerts=frozenset({"concentration"}),
    ),
)


def scenario_by_name(name: str) -> Scenario | None:
    return next((s for s in SCENARIOS if s.name == name), None)
