"""Ask the real nginx binary (``nginx -t``) for its verdict, without touching the host.

Why this is more than one subprocess call: ``nginx -t`` is not read-only. While it
checks a config it opens (and creates) every log file the config names, creates the
temp and cache directories, and reads includes relative to the conf directory. Run on
a user's config as root it would create ``/var/log/...`` files and
``/var/lib/nginx/*`` directories on the machine running lbguard. So the check runs on
a copy:

* every file the config reads (found by lbguard's own include resolution) is copied
  under a fresh temporary directory, and ``include`` arguments are rewritten to point
  at the copies;
* ``error_log``, ``access_log``, ``pid``, ``lock_file``, ``*_temp_path`` and
  ``*_cache_path`` paths are rewritten into the temporary directory, and the default
  temp paths are set there too (inserted after ``http {``);
* every rewrite stays on its original line, so nginx's ``FILE:LINE`` maps straight back
  to the user's file; fragments are checked inside a generated wrapper (``events {}``
  plus the blocks the fragment is included from) and messages about the wrapper are
  reported at line 1 of the fragment.

``nginx -t`` never binds sockets, and nothing it leaves behind outlives the temporary
directory. Success is judged by the exit code; each ``[emerg]``/``[warn]`` line becomes
a NATIVE finding. Failures that depend on this machine rather than on the config (DNS,
missing include/certificate files, users, dynamic modules) are flagged
``environment=True``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lbguard.findings import NATIVE, Finding, Severity
from lbguard.model import Location
from lbguard.parsers import nginx_directives as nd
from lbguard.parsers.nginx import (
    CONTEXTS,
    NginxDirective,
    NginxFile,
    check_tree,
    detect_context,
    parse_file,
)

DEFAULT_TIMEOUT = 20.0
# "nginx: [emerg] msg" before the error log is set up, "DATE TIME [emerg] PID#TID: msg"
# after it (with -g error_log, most messages).
_LINE_RE = re.compile(
    r"^(?:nginx: |\S+ \S+ )\[(?P<level>emerg|alert|crit|error|warn|notice)\] "
    r"(?:\d+#\d+: )?(?P<msg>.*)$"
)
_WHERE_RE = re.compile(r"^(?P<msg>.*) in (?P<file>/\S+?):(?P<line>\d+)$")
_ENV_PATTERNS = (
    re.compile(r"host not found in"),
    re.compile(r'open\(\) ".*" failed'),
    re.compile(r"No such file or directory"),
    re.compile(r'getpwnam\(".*"\) failed'),
    re.compile(r'getgrnam\(".*"\) failed'),
    re.compile(r"cannot load certificate"),
    re.compile(r"BIO_new_file"),
    re.compile(r"dlopen\(\)"),
    re.compile(r"PEM_read_bio"),
    re.compile(r"no resolver defined"),
)
_UNKNOWN_RE = re.compile(r'unknown directive "([^"]+)"')
_PATH_DIRECTIVES = frozenset({"error_log", "access_log", "pid", "lock_file"})
_TEMP_DEFAULTS = (
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
)
# Wrappers for fragments: (text before the include, text after it).
_WRAPPERS = {
    "http": ("http {", "}"),
    "server": ("http { server {", "} }"),
    "location": ("http { server { location / {", "} } }"),
    "upstream": ("http { upstream lbguard_fragment {", "} }"),
    "stream": ("stream {", "}"),
}


def find_nginx() -> str | None:
    """The nginx binary to use: $LBGUARD_NGINX, then PATH, then /usr/sbin/nginx."""
    configured = os.environ.get("LBGUARD_NGINX")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def run_nginx_check(
    paths: Sequence[str | os.PathLike[str]],
    *,
    context: str | None = None,
    prefix: str | None = None,
    nginx: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Finding]:
    """Run ``nginx -t`` on a safe copy of the config; findings mapped to the user's files.

    `paths`: the main config, or fragments (checked together inside one wrapper);
    `context`/`prefix` as for ``parse_nginx``. Raises ConfigReadError when a top-level
    file cannot be read.
    """
    files = [os.fspath(p) for p in paths]
    if not files:
        return []
    binary = nginx or find_nginx()
    first = Location(files[0], 1, 1)
    if binary is None:
        return [
            Finding(
                NATIVE,
                "native-check",
                Severity.WARNING,
                "nginx binary not found (set LBGUARD_NGINX or install nginx); "
                "the native check was skipped",
                first,
                environment=True,
            )
        ]
    parsed = [parse_file(f) for f in files]
    conf_dir = prefix or os.path.dirname(os.path.abspath(files[0]))
    if context is None:
        context = detect_context(parsed[0].directives, files[0])
    if context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}")
    checked = check_tree(parsed, conf_dir=conf_dir, context=context)
    tmp = tempfile.mkdtemp(prefix="lbguard-nginx-")
    try:
        return _run(binary, tmp, parsed, checked.files, conf_dir, context, timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_path(tmp: str, original: str) -> str:
    return os.path.join(tmp, "tree", os.path.abspath(original).lstrip("/"))


def _run(
    binary: str,
    tmp: str,
    top: list[NginxFile],
    all_files: dict[str, NginxFile],
    conf_dir: str,
    context: str,
    timeout: float,
) -> list[Finding]:
    counter = [0]
    back: dict[str, str] = {}
    sets_pid = False
    for real, nf in all_files.items():
        rewrites: list[tuple[int, int, str]] = []
        inserts: list[tuple[int, int, str]] = []
        sets_pid |= _collect(nf.directives, tmp, conf_dir, counter, rewrites, inserts)
        text = Path(nf.path).read_bytes().decode("latin-1")
        target = _copy_path(tmp, nf.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).write_bytes(_apply(text, rewrites, inserts).encode("latin-1"))
        back[target] = nf.path
        back[_copy_path(tmp, real)] = nf.path
    os.makedirs(os.path.join(tmp, "logs"), exist_ok=True)
    os.makedirs(os.path.join(tmp, "temp"), exist_ok=True)
    wrapper = os.path.join(tmp, "lbguard-wrapper.conf")
    if context == "main":
        conf = _copy_path(tmp, top[0].path)
    else:
        before, after = _WRAPPERS[context]
        temps = _temp_paths(tmp, frozenset()) if context != "stream" else ""
        if context != "stream":
            before = before.replace("http {", "http {" + temps, 1)
        includes = " ".join(f'include "{_copy_path(tmp, f.path)}";' for f in top)
        Path(wrapper).write_text(f"events {{}}\n{before}\n{includes}\n{after}\n")
        conf = wrapper
    glob_args = f"error_log {tmp}/error.log;"
    if not sets_pid:
        glob_args = f"pid {tmp}/nginx.pid; " + glob_args
    cmd = [binary, "-t", "-q", "-p", tmp + "/", "-c", conf, "-g", glob_args]
    first = Location(top[0].path, 1, 1)
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return [
            Finding(
                NATIVE,
                "native-check",
                Severity.WARNING,
                f"nginx -t did not finish within {timeout:g} s (a DNS lookup may be hanging)",
                first,
                environment=True,
            )
        ]
    except OSError as exc:
        return [
            Finding(
                NATIVE,
                "native-check",
                Severity.WARNING,
                f"could not run {binary}: {exc.strerror or exc}",
                first,
                environment=True,
            )
        ]
    output = proc.stderr.decode("utf-8", "replace") + proc.stdout.decode("utf-8", "replace")
    findings, fatal = _findings(output, tmp, back, wrapper, top[0].path)
    if proc.returncode != 0 and not fatal:
        findings.append(
            Finding(
                NATIVE,
                "native-check",
                Severity.ERROR,
                f"nginx -t failed (exit {proc.returncode}) without an [emerg] message",
                first,
            )
        )
    return findings


def _collect(
    nodes: list[NginxDirective],
    tmp: str,
    conf_dir: str,
    counter: list[int],
    rewrites: list[tuple[int, int, str]],
    inserts: list[tuple[int, int, str]],
) -> bool:
    """Gather the same-line rewrites for one file's raw tree; True if it sets `pid`."""
    sets_pid = False
    for node in nodes:
        name = node.name
        if node.args and node.block is None:
            first = node.args[0]
            new: str | None = None
            if name == "include":
                pattern = first if os.path.isabs(first) else os.path.join(conf_dir, first)
                new = _copy_path(tmp, pattern)
            elif name in _PATH_DIRECTIVES or name.endswith(("_temp_path", "_cache_path")):
                if name == "pid":
                    sets_pid = True
                if (
                    first != "off"
                    and first != "stderr"
                    and not first.startswith(("syslog:", "memory:"))
                ):
                    counter[0] += 1
                    sub = "temp" if name.endswith(("_temp_path", "_cache_path")) else "logs"
                    new = f"{tmp}/{sub}/{name}-{counter[0]}"
            if new is not None:
                line, col = node.arg_positions[0]
                rewrites.append((line, col, '"' + new.replace("\\", "\\\\") + '"'))
        if node.block is not None:
            if name == "http" and node.end_line:
                present = {c.name for c in node.block}
                inserts.append((node.end_line, node.end_column, _temp_paths(tmp, present)))
            sets_pid |= _collect(node.block, tmp, conf_dir, counter, rewrites, inserts)
    return sets_pid


def _temp_paths(tmp: str, present: set[str] | frozenset[str]) -> str:
    names = [n for n in _TEMP_DEFAULTS if n not in present]
    return "".join(f" {n} {tmp}/temp/{n};" for n in names)


def _apply(
    text: str, rewrites: list[tuple[int, int, str]], inserts: list[tuple[int, int, str]]
) -> str:
    """Replace words / insert text at (line, column) positions, never adding a line."""
    lines = text.split("\n")
    edits: dict[int, list[tuple[int, str, bool]]] = {}
    for line, col, new in rewrites:
        edits.setdefault(line, []).append((col, new, True))
    for line, col, new in inserts:
        edits.setdefault(line, []).append((col, new, False))
    for line, items in edits.items():
        if not 1 <= line <= len(lines):
            continue
        row = lines[line - 1]
        for col, new, replace in sorted(items, reverse=True):
            start = col - 1
            if replace:
                end = _word_end(row, start)
                row = row[:start] + new + row[end:]
            else:
                row = row[: start + 1] + new + row[start + 1 :]
        lines[line - 1] = row
    return "\n".join(lines)


def _word_end(row: str, start: int) -> int:
    if start < len(row) and row[start] in "\"'":
        quote = row[start]
        i = start + 1
        while i < len(row):
            if row[i] == "\\":
                i += 2
                continue
            if row[i] == quote:
                return i + 1
            i += 1
        return len(row)
    i = start
    while i < len(row) and row[i] not in " \t\r;{":
        i += 2 if row[i] == "\\" else 1
    return min(i, len(row))


def _is_environment(message: str) -> bool:
    if any(p.search(message) for p in _ENV_PATTERNS):
        return True
    m = _UNKNOWN_RE.search(message)
    if m is None:
        return False
    name = m.group(1)
    if nd.other_module(name) is not None:
        return True
    specs = nd.DIRECTIVES.get(name)
    return specs is not None and all(nd.MODULES.get(s.module) == nd.DYNAMIC for s in specs)


def _findings(
    output: str, tmp: str, back: dict[str, str], wrapper: str, first: str
) -> tuple[list[Finding], bool]:
    """Findings from nginx's output, and whether any message was fatal (emerg/alert/crit)."""
    findings: list[Finding] = []
    fatal = False
    for raw in output.splitlines():
        m = _LINE_RE.match(raw.strip())
        if m is None:
            continue
        level, message = m.group("level"), m.group("msg")
        if level == "notice":
            continue
        fatal |= level in ("emerg", "alert", "crit")
        location = Location(first, 1, 1)
        where = _WHERE_RE.match(message)
        if where is not None:
            message = where.group("msg")
            path, line = where.group("file"), int(where.group("line"))
            if path == wrapper:
                message += " (in lbguard's wrapper around the fragment)"
            else:
                location = Location(back.get(path, path), line, 1)
        message = message.replace(os.path.join(tmp, "tree"), "").replace(tmp, "<tmp>")
        env = _is_environment(message)
        host = "host not found" in message
        severity = Severity.WARNING if level == "warn" or host else Severity.ERROR
        findings.append(
            Finding(
                NATIVE, "native-check", severity, f"nginx: {message}", location, environment=env
            )
        )
    return findings, fatal
