"""Host signals read from /proc: listen backlog, accepts, CPU, PSI and file descriptors.

The parsers take the files' text so they can be tested on any machine; the readers
return None when a file is missing (no /proc/pressure on older kernels, no permission
for another user's /proc/PID/fd), and a missing signal simply does not vote.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from lbguard.util import is_digits

PROC = Path("/proc")
_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class Backlog:
    """A LISTEN socket's accept queue: connections the kernel accepted that the app has not.

    /proc/net/tcp does not show the `listen()` backlog (only netlink does, as `ss`'s
    Send-Q), so the limit is what the user says the app uses (`--listen-backlog`).
    """

    queued: int


def parse_listen_backlog(text: str, port: int) -> Backlog | None:
    """The summed accept queue of LISTEN sockets on `port` in a /proc/net/tcp{,6} text.

    For a listening socket the kernel reports the accept queue length in `rx_queue`.
    """
    queued = 0
    found = False
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 5 or cols[3] != _LISTEN:
            continue
        _addr, _, hexport = cols[1].rpartition(":")
        try:
            if int(hexport, 16) != port:
                continue
            _tx, _, rx = cols[4].partition(":")
            queued += int(rx, 16)
        except ValueError:
            continue
        found = True
    return Backlog(queued) if found else None


def read_listen_backlog(port: int, proc: Path = PROC) -> Backlog | None:
    total: Backlog | None = None
    for name in ("tcp", "tcp6"):
        try:
            text = (proc / "net" / name).read_text()
        except OSError:
            continue
        got = parse_listen_backlog(text, port)
        if got is not None:
            total = got if total is None else Backlog(total.queued + got.queued)
    return total


def parse_tcp_counters(text: str) -> dict[str, int]:
    """`Tcp:` and `TcpExt:` counters from /proc/net/snmp or /proc/net/netstat, by name."""
    out: dict[str, int] = {}
    lines = text.splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        names = header.split()
        nums = values.split()
        if not names or names[0] not in ("Tcp:", "TcpExt:") or names[0] != nums[0]:
            continue
        for name, value in zip(names[1:], nums[1:], strict=False):
            try:
                out[name] = int(value)
            except ValueError:
                continue
    return out


def read_tcp_counters(proc: Path = PROC) -> dict[str, int]:
    """PassiveOpens (accepted connections) and ListenOverflows/ListenDrops, host-wide."""
    out: dict[str, int] = {}
    for name in ("snmp", "netstat"):
        try:
            out.update(parse_tcp_counters((proc / "net" / name).read_text()))
        except OSError:
            continue
    return out


@dataclass(frozen=True, slots=True)
class CpuLoad:
    load1: float
    running: int
    cores: int


def parse_cpu_load(loadavg: str, cores: int) -> CpuLoad | None:
    """1-minute load and the run queue (runnable tasks) from /proc/loadavg."""
    parts = loadavg.split()
    if len(parts) < 4 or "/" not in parts[3]:
        return None
    try:
        running = int(parts[3].split("/", 1)[0])
        return CpuLoad(float(parts[0]), running, max(cores, 1))
    except ValueError:
        return None


def read_cpu_load(proc: Path = PROC) -> CpuLoad | None:
    try:
        text = (proc / "loadavg").read_text()
    except OSError:
        return None
    return parse_cpu_load(text, os.cpu_count() or 1)


def parse_psi(text: str) -> float | None:
    """The `some avg10` percentage of a /proc/pressure/{cpu,memory,io} file."""
    for line in text.splitlines():
        if line.startswith("some "):
            for word in line.split()[1:]:
                key, _, value = word.partition("=")
                if key == "avg10":
                    try:
                        return float(value)
                    except ValueError:
                        return None
    return None


def read_psi(resource_name: str, proc: Path = PROC) -> float | None:
    try:
        return parse_psi((proc / "pressure" / resource_name).read_text())
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class FdUsage:
    open: int
    limit: int


def read_fd_usage(pid: int | None = None, proc: Path = PROC) -> FdUsage | None:
    """Open descriptors of `pid` (default: this process) against its RLIMIT_NOFILE soft limit."""
    target = "self" if pid is None else str(pid)
    try:
        count = sum(1 for _ in (proc / target / "fd").iterdir())
    except OSError:
        return None
    if pid is None:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    else:
        soft = _limit_from_proc(proc / target / "limits")
    if soft <= 0 or soft == resource.RLIM_INFINITY:
        return None
    return FdUsage(count, soft)


def _limit_from_proc(path: Path) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("Max open files"):
                value = line.split()[3]
                return int(value) if is_digits(value) else 0
    except (OSError, IndexError):
        return 0
    return 0
