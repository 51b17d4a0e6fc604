"""The nginx side of the sandbox: every file of the config staged, line for line.

The config is read by lbguard's own parser, includes and all, and each file it read
is copied to FOLDER/tree/<its absolute path>, with edits that never add or remove a
line, so whatever nginx says about a copy points at the user's own line:

- `include` points at the copies (resolved against the conf directory exactly as
  the parser and nginx do); an include nginx could not open is left out;
- each `server` block listens on its own free 127.0.0.1 port (a `proxy_protocol`
  flag is kept, TLS and HTTP/2 flags go), so traffic reaches the block that routes
  to the upstream under test whatever its `server_name`;
- every upstream `server` goes to its own stub on loopback;
- a `*_pass` to a literal address outside the config's upstreams goes to a closed
  loopback port, so nothing can leave the machine;
- logs, pid, temp and cache paths move into the sandbox (access logging is off),
  and TLS, resolvers, users, modules and password files are left out.

A conf.d file of upstream and server blocks runs inside a generated main file.

The rest (balancing method, hash keys, weights, backup, down, max_fails,
worker_processes) is kept, and the simulator reads the staged copy, because
nginx's consistent hash keys on the server string as written.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.errors import LbguardError
from lbguard.model import Config, Pool
from lbguard.native_nginx import _TEMP_DEFAULTS
from lbguard.parsers.nginx import (
    _PASS_DIRECTIVES,
    NginxDirective,
    NginxFile,
    _pass_target,
    check_tree,
    detect_context,
    parse_file,
)
from lbguard.sandbox.haproxy_box import free_port

# Directives that reach outside the sandbox or are set by the sandbox itself.
_DROP = frozenset(
    {
        "user",
        "pid",
        "daemon",
        "master_process",
        "lock_file",
        "working_directory",
        "error_log",
        "access_log",
        "ssl",
        "resolver",
        "resolver_timeout",
        "auth_basic_user_file",
        "google_perftools_profiles",
    }
)
_DROP_PREFIXES = ("ssl_", "proxy_ssl_", "grpc_ssl_", "uwsgi_ssl_")
# Upstream server parameters that need DNS or NGINX Plus.
_DROP_SERVER_PARAMS = ("resolve", "service=", "route=", "drain")
# Idle stub connections each worker keeps per upstream.
_KEEPALIVE = 32
_NEEDS_QUOTES = re.compile(r"[\s;{}\"'#\\]|^$")


@dataclass
class NginxSandbox:
    main: str  # the staged copy of the main file: run it, and parse it for the model
    conf_dir: str  # the staged conf directory
    # Server block (file, line, column), as the parser located it -> its port.
    ports: dict[tuple[str, int, int], int]
    stub_ports: dict[tuple[str, str], int]  # (upstream, server address as staged) -> port
    notes: list[str] = field(default_factory=list)
    tree: str = ""
    # Upstream -> port of the server block generated for it (conf.d files only).
    synthetic: dict[str, int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        """The first server block's port (single-server configs)."""
        return next(iter(self.ports.values()))

    def original(self, text: str) -> str:
        """A message about the staged copies, with the user's paths instead."""
        return text.replace(self.tree, "")

    def entry_port(self, config: Config, pool: Pool) -> int:
        """The port of the server block that sends traffic to `pool`, by default if any."""
        for default in (True, False):
            if not default and pool.name in self.synthetic:
                return self.synthetic[pool.name]
            for fe in config.frontends:
                if any(r.pool == pool.name and (r.default or not default) for r in fe.routes):
                    loc = fe.location
                    port = self.ports.get((loc.path, loc.line, loc.column))
                    if port is not None:
                        return port
        raise LbguardError(
            f"no server block sends traffic to upstream '{pool.name}' (proxy_pass "
            f"http://{pool.name}); verify needs one to reach it"
        )


def staged_path(folder: str, original: str) -> str:
    return os.path.join(folder, "tree", os.path.abspath(original).lstrip("/"))


def _quote(arg: str) -> str:
    if not _NEEDS_QUOTES.search(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _Edits:
    """Edits of one file that keep every line where it was.

    Each is (start, end, text) with 1-based (line, column) positions, end inclusive;
    an insertion has its end just before its start.
    """

    spans: dict[tuple[int, int], tuple[tuple[int, int], str]] = field(default_factory=dict)
    inserts: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def replace(self, node: NginxDirective, words: list[str]) -> None:
        """The whole directive, up to its ';', becomes `words` (first edit wins)."""
        text = " ".join(_quote(w) if i else w for i, w in enumerate(words)) + ";"
        self.spans.setdefault((node.line, node.column), ((node.end_line, node.end_column), text))

    def drop(self, node: NginxDirective) -> None:
        self.spans.setdefault((node.line, node.column), ((node.end_line, node.end_column), ""))

    def after_brace(self, node: NginxDirective, text: str) -> None:
        """Insert `text` right after the '{' that opens `node`'s block."""
        self.inserts.append(((node.end_line, node.end_column + 1), " " + text))

    def after(self, node: NginxDirective, text: str) -> None:
        """Insert `text` right after the ';' that ends `node`."""
        self.inserts.append(((node.end_line, node.end_column + 1), " " + text))

    def apply(self, text: str) -> str:
        starts = [0]
        for line in text.split("\n"):
            starts.append(starts[-1] + len(line) + 1)

        def offset(pos: tuple[int, int]) -> int:
            return starts[pos[0] - 1] + pos[1] - 1

        edits = [(offset(a), offset(b) + 1, new) for a, (b, new) in self.spans.items()]
        edits += [(offset(a), offset(a), new) for a, new in self.inserts]
        out = text
        for a, b, new in sorted(edits, reverse=True):
            # A directive that spans lines leaves its line breaks behind.
            out = out[:a] + new + "\n" * out.count("\n", a, b) + out[b:]
        return out


class _Stager:
    """Walks the config from its main file, following includes, collecting edits."""

    def __init__(
        self, files: dict[str, NginxFile], conf_dir: str, folder: str, nginx_prefix: str
    ) -> None:
        self.files = files
        self.nginx_prefix = nginx_prefix
        self.conf_dir = conf_dir
        self.folder = folder
        self.edits: dict[str, _Edits] = {}
        self.ports: dict[tuple[str, int, int], int] = {}
        self.stub_ports: dict[tuple[str, str], int] = {}
        self.notes: list[str] = []
        self.upstreams = {
            n.args[0] for f in files.values() for n in _walk(f.directives) if _is_upstream(n)
        }
        self.servers: list[tuple[str, int, int]] = []  # the server blocks we are inside
        self.upstream = ""  # the upstream block we are inside
        self.closed_port = 0
        self.counter = 0
        # Upstreams to reach through a server block of the sandbox's own, and its port.
        self.direct: set[str] = set()
        self.synthetic: dict[str, int] = {}

    def edits_for(self, node: NginxDirective) -> _Edits:
        return self.edits.setdefault(node.file, _Edits())

    def walk(self, nodes: list[NginxDirective], ctx: str) -> bool:
        """Stage `nodes` in context `ctx`; True if a `listen` was seen at this level."""
        listened = False
        for node in nodes:
            name = node.name
            edits = self.edits_for(node)
            if node.block is not None:
                self.block(node, ctx)
            elif name == "include" and len(node.args) == 1:
                listened |= self.include(node, ctx)
            elif name == "listen" and ctx in ("server", "stream-server"):
                if listened:
                    edits.drop(node)
                    continue
                keep = [a for a in node.args[1:] if a == "proxy_protocol"]
                edits.replace(node, ["listen", f"127.0.0.1:{self.ports[self.servers[-1]]}", *keep])
                listened = True
            elif name == "server" and ctx == "upstream" and node.args:
                port = free_port()
                address = f"127.0.0.1:{port}"
                self.stub_ports[(self.upstream, address)] = port
                params = [a for a in node.args[1:] if not a.startswith(_DROP_SERVER_PARAMS)]
                edits.replace(node, ["server", address, *params])
            elif name == "load_module" and node.args:
                # A module of the nginx binary itself (stream, say) is kept when it is
                # installed; a relative path is relative to nginx's compiled-in prefix.
                module = os.path.join(self.nginx_prefix, node.args[0])
                if os.path.isfile(module):
                    edits.replace(node, ["load_module", module])
                else:
                    self.notes.append(
                        f"{node.file}:{node.line}: module {node.args[0]} is not installed; "
                        "the sandbox runs without it"
                    )
                    edits.drop(node)
            elif name in _DROP or name.startswith(_DROP_PREFIXES):
                edits.drop(node)
            elif name.endswith(("_temp_path", "_cache_path")) and node.args:
                self.counter += 1
                path = f"{self.folder}/temp/{name}-{self.counter}"
                edits.replace(node, [name, path, *node.args[1:]])
            elif name in _PASS_DIRECTIVES or name == "memcached_pass" or name == "proxy_pass":
                self.contain(node)
        return listened

    def include(self, node: NginxDirective, ctx: str) -> bool:
        """Point the include at the staged copies, and stage what it includes."""
        pattern = node.args[0]
        full = pattern if os.path.isabs(pattern) else os.path.join(self.conf_dir, pattern)
        names = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        found = [f for f in (self.files.get(os.path.realpath(n)) for n in names) if f]
        if not found and not glob.has_magic(full):
            self.notes.append(
                f"{node.file}:{node.line}: include {pattern} was not found; "
                "the sandbox runs without it"
            )
            self.edits_for(node).drop(node)
            return False
        self.edits_for(node).replace(node, ["include", staged_path(self.folder, full)])
        listened = False
        for f in found:
            listened |= self.walk(f.directives, ctx)
        return listened

    def block(self, node: NginxDirective, ctx: str) -> None:
        name, body = node.name, node.block or []
        if name == "server" and ctx in ("http", "stream"):
            key = (node.file, node.line, node.column)
            port = self.ports.setdefault(key, free_port())
            self.servers.append(key)
            try:
                if not self.walk(body, "server" if ctx == "http" else "stream-server"):
                    self.edits_for(node).after_brace(node, f"listen 127.0.0.1:{port};")
            finally:
                self.servers.pop()
        elif _is_upstream(node):
            self.upstream = node.args[0]
            self.walk(body, "upstream")
            self.upstream = ""
            if ctx == "http" and body and not any(c.name == "keepalive" for c in body):
                # Idle connections to the stubs are kept (after the balancing method,
                # as nginx requires): the keepalive module asks the balancer first
                # and only then looks for an idle connection to the server it chose,
                # so no choice changes, and nginx stops opening a connection per
                # request, which cost more than everything else in the sandbox.
                last = body[-1]
                self.edits_for(last).after(last, f"keepalive {_KEEPALIVE};")
        else:
            if name == "http":
                self.edits_for(node).after_brace(
                    node, self.http_settings(body) + self.direct_servers()
                )
            self.walk(body, name)

    def direct_servers(self) -> str:
        """A server block of the sandbox's own for each upstream in `self.direct`."""
        out = ""
        for name in sorted(self.direct):
            port = self.synthetic.setdefault(name, free_port())
            out += (
                f" server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://{name}; }} }}"
            )
        return out

    def http_settings(self, body: list[NginxDirective]) -> str:
        """What the sandbox adds at the top of the http block, on the same line."""
        present = {c.name for c in body}
        temps = "".join(f" {n} {self.folder}/temp/{n};" for n in _TEMP_DEFAULTS if n not in present)
        # HTTP/1.1 without "Connection: close" lets the stub connections be kept; a
        # level that sets its own proxy_set_header just closes them.
        keep = "" if "proxy_http_version" in present else "proxy_http_version 1.1; "
        if not any(c.name == "proxy_set_header" and c.args[:1] == ("Connection",) for c in body):
            keep += 'proxy_set_header Connection "";'
        return f"access_log off; {keep}{temps}"

    def contain(self, node: NginxDirective) -> None:
        """A pass to a literal address goes to a closed loopback port instead."""
        if not node.args or "$" in node.args[0]:
            return
        url = node.args[0]
        target = _pass_target(node.name, url)
        if target in self.upstreams:
            return
        if not self.closed_port:
            self.closed_port = free_port()
        at = url.find(target)
        new = url[:at] + f"127.0.0.1:{self.closed_port}" + url[at + len(target) :]
        self.notes.append(
            f"{node.file}:{node.line}: {node.name} {url} leads outside the config's "
            "upstreams; in the sandbox it leads to a closed loopback port"
        )
        self.edits_for(node).replace(node, [node.name, new, *node.args[1:]])


def _is_upstream(node: NginxDirective) -> bool:
    return node.name == "upstream" and node.block is not None and len(node.args) == 1


def _walk(nodes: list[NginxDirective]) -> Iterator[NginxDirective]:
    for node in nodes:
        yield node
        if node.block is not None:
            yield from _walk(node.block)


def build_nginx_sandbox(
    paths: list[str],
    folder: str,
    prefix: str | None = None,
    nginx_prefix: str = "/",
    direct: frozenset[str] = frozenset(),
) -> NginxSandbox:
    """Stage the config whose main file is `paths[0]` (see the module doc).

    `prefix`: the conf directory, as for `check`; `nginx_prefix`: the binary's own
    compiled-in prefix, which relative `load_module` paths are relative to.
    `direct`: upstreams that no `location /` sends to (only some paths do); each gets
    a server block of the sandbox's own, so that every request of the trace reaches
    it, as the model assumes. A conf.d file of upstream and server blocks runs inside
    a generated main file, with such a server block for each upstream none of its
    servers sends to.
    """
    parsed = [parse_file(p) for p in paths]
    conf_dir = prefix or os.path.dirname(os.path.abspath(paths[0]))
    context = detect_context(parsed[0].directives, paths[0])
    if context not in ("main", "http"):
        raise LbguardError(
            f"{paths[0]} is a fragment that nginx includes in a {context} block; verify "
            "runs a whole config or a conf.d file of upstream and server blocks: pass the "
            "main file (nginx.conf), with --prefix if includes are relative to another "
            "directory"
        )
    checked = check_tree(parsed, conf_dir=conf_dir, context=context)
    stager = _Stager(checked.files, conf_dir, folder, nginx_prefix)
    stager.direct = set(direct)
    if context == "main":
        stager.walk(parsed[0].directives, "main")
        main = staged_path(folder, parsed[0].path)
    else:
        body = [n for f in parsed for n in f.directives]
        stager.walk(body, "http")
        main = os.path.join(folder, "lbguard-main.conf")
        routed = {
            _pass_target(n.name, n.args[0])
            for n in _walk(body)
            if n.name in _PASS_DIRECTIVES and n.args
        }
        stager.direct |= stager.upstreams - routed
        includes = "".join(f'    include "{staged_path(folder, p.path)}";\n' for p in parsed)
        settings = stager.http_settings(body) + stager.direct_servers()
        Path(main).write_text(f"events {{}}\nhttp {{\n    {settings}\n{includes}}}\n")
        stager.notes.append(
            f"{paths[0]} is a conf.d file: it runs with nginx's defaults for the main "
            "file (worker_processes 1); verify the main file to run with yours"
        )
    for real, nf in checked.files.items():
        text = Path(nf.path).read_bytes().decode(nf.encoding)
        edits = stager.edits.get(nf.path)
        staged = (edits.apply(text) if edits is not None else text).encode(nf.encoding)
        # Under the path it was included by, and under its real path for symlinks.
        for target in {staged_path(folder, nf.path), staged_path(folder, real)}:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).write_bytes(staged)
    for sub in ("logs", "temp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    return NginxSandbox(
        main,
        staged_path(folder, conf_dir),
        stager.ports,
        stager.stub_ports,
        stager.notes,
        os.path.join(folder, "tree"),
        stager.synthetic,
    )
