"""HAProxy 2.6 configuration grammar, as plain data.

lbguard's HAProxy parser uses these tables to report "unknown keyword", "removed
keyword", "keyword ignored in this section" and "wrong arguments" on the same lines
where ``haproxy -c`` would, without needing an haproxy binary.  The module is pure
data (frozensets, dicts and one NamedTuple) plus a few tiny lookup helpers, so that
importing it costs nothing.

Provenance
----------
* Facts were taken from HAProxy's own ``doc/configuration.txt`` (sections 3, 4.1,
  4.2, 5.1, 5.2, 5.3.2, 6.2.1) and C sources of the v2.6.0 tag
  (``cfgparse-global.c``, ``cfgparse-listen.c``, ``cfgparse.c``, ``proxy.c``,
  ``backend.c``, ``server.c``, ``listener.c``, ``cfgparse-ssl.c``,
  ``cfgparse-tcp.c``, ``check.c``, ``tcp_rules.c``, ...), and from the registered
  keyword dump of the 2.6.12 binary (``haproxy -dKall -q -c -f /dev/null``).
  Nothing is copied; only names, counts and applicability are recorded.
* Validation: every keyword listed here for global / defaults / frontend /
  listen / backend, every ``option`` and ``timeout`` name (in all four proxy
  section types), every ``server``/``default-server``/``server-template`` option
  (each with a trailing keyword, which also proves the argument count), every
  ``bind`` option, every keyword of the other sections, every rule action and
  every balance algorithm / hash-type combination was fed to HAProxy 2.6.12
  (Debian build, ``haproxy -c -dr``, one small config per case) and none is
  reported as "unknown keyword"/"unknown option";
  a sample of misspelt or removed names is rejected as recorded below.  Section
  applicability of proxy keywords, options and timeouts (``*_SECTIONS`` tables)
  is what that binary does, which differs from the 4.1 matrix of the
  documentation in a few places (see ``DOC_MATRIX_DISCREPANCIES``).
* Build-dependent keywords (51Degrees, DeviceAtlas, WURFL, QUIC, zlib, OpenSSL
  engines, memory profiling) are kept apart in ``BUILD_DEPENDENT_*`` tables: a
  binary built without them reports them as unknown.  Lua, OpenSSL, OpenTracing,
  PROMEX, TPROXY, splice and TFO were enabled in the validating build.

How HAProxy 2.6 classifies the first word of a line
---------------------------------------------------
1. ``no`` / ``default`` prefixes are stripped first (see ``NEGATABLE_KEYWORDS``).
2. A section name (``SECTION_HEADERS``) opens a new section from any section.
3. Otherwise the current section's parser decides.  In ``defaults``, ``frontend``,
   ``listen`` and ``backend`` all share one parser: a word from ``PROXY_KEYWORDS``
   is never "unknown" in any of them, but it may be ignored with a warning or
   rejected when used in the wrong section type (``classify_proxy_keyword``).
4. Removed keywords are recognised and rejected with a dedicated message
   (``REMOVED_KEYWORDS`` and friends) instead of "unknown keyword".
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

HAPROXY_VERSION: Final = "2.6"
VALIDATED_WITH: Final = "HAProxy 2.6.12-1+deb12u4 (haproxy -c -dr)"

# ---------------------------------------------------------------------------
# Sections and directives
# ---------------------------------------------------------------------------

#: Words that open a section.  Recognised as section starts in every section.
SECTION_HEADERS: Final = frozenset(
    {
        "backend",
        "cache",
        "defaults",
        "fcgi-app",
        "frontend",
        "global",
        "http-errors",
        "listen",
        "log-forward",
        "mailers",
        "namespace_list",
        "peers",
        "program",
        "resolvers",
        "ring",
        "userlist",
    }
)

PROXY_SECTIONS: Final = ("defaults", "frontend", "listen", "backend")

#: Conditional-block directives (handled before any section parser).
CONDITIONAL_DIRECTIVES: Final = frozenset({".elif", ".else", ".endif", ".if"})
#: Message directives; any other word starting with "." is "unknown directive".
MESSAGE_DIRECTIVES: Final = frozenset({".alert", ".diag", ".notice", ".warning"})

#: First words accepted with a ``no`` or ``default`` prefix.  Any other word with
#: such a prefix is rejected with "negation/default currently supported only for
#: options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted
#: and numa-cpu-mapping."  Note that ``no h2-workaround-bogus-websocket-clients``
#: and ``no insecure-setuid-wanted`` are rejected although their parsers read the
#: flag.
NEGATABLE_KEYWORDS: Final = frozenset(
    {
        "busy-polling",
        "insecure-fork-wanted",
        "log",
        "numa-cpu-mapping",
        "option",
        "set-dumpable",
        "strict-limits",
    }
)

#: Quirk of 2.6: ``no`` shifts the words left and blanks the last one, but
#: ``default`` shifts without blanking, so the last word appears twice.  As a
#: consequence ``default option <flag>`` for an argument-less option fails with
#: "'option X' cannot handle unexpected argument 'X'" and ``default log`` fails
#: with "log : expects <address> and <facility>".  ``default option redispatch``
#: happens to work.
DEFAULT_PREFIX_DUPLICATES_LAST_WORD: Final = True

# ---------------------------------------------------------------------------
# global
# ---------------------------------------------------------------------------

GLOBAL_KEYWORDS: Final = frozenset(
    {
        "busy-polling",
        "ca-base",
        "chroot",
        "close-spread-time",
        "cluster-secret",
        "cpu-map",
        "crt-base",
        "daemon",
        "default-path",
        "description",
        "expose-experimental-directives",
        "external-check",
        "fd-hard-limit",
        "gid",
        "grace",
        "group",
        "h1-accept-payload-with-any-method",
        "h1-case-adjust",
        "h1-case-adjust-file",
        "h2-workaround-bogus-websocket-clients",
        "hard-stop-after",
        "httpclient.resolvers.id",
        "httpclient.resolvers.prefer",
        "httpclient.ssl.ca-file",
        "httpclient.ssl.verify",
        "insecure-fork-wanted",
        "insecure-setuid-wanted",
        "issuers-chain-path",
        "localpeer",
        "log",
        "log-send-hostname",
        "log-tag",
        "lua-load",
        "lua-load-per-thread",
        "lua-prepend-path",
        "master-worker",
        "max-spread-checks",
        "maxcompcpuusage",
        "maxcomprate",
        "maxconn",
        "maxconnrate",
        "maxpipes",
        "maxsessrate",
        "maxsslconn",
        "maxsslrate",
        "maxzlibmem",
        "mworker-max-reloads",
        "nbthread",
        "no-memory-trimming",
        "node",
        "noepoll",
        "noevports",
        "nogetaddrinfo",
        "nokqueue",
        "nopoll",
        "noreuseport",
        "nosplice",
        "numa-cpu-mapping",
        "pidfile",
        "pp2-never-send-local",
        "presetenv",
        "profiling.tasks",
        "quiet",
        "resetenv",
        "server-state-base",
        "server-state-file",
        "set-dumpable",
        "set-var",
        "set-var-fmt",
        "setenv",
        "spread-checks",
        "ssl-default-bind-ciphers",
        "ssl-default-bind-ciphersuites",
        "ssl-default-bind-curves",
        "ssl-default-bind-options",
        "ssl-default-server-ciphers",
        "ssl-default-server-ciphersuites",
        "ssl-default-server-options",
        "ssl-dh-param-file",
        "ssl-load-extra-del-ext",
        "ssl-load-extra-files",
        "ssl-mode-async",
        "ssl-propquery",
        "ssl-provider",
        "ssl-provider-path",
        "ssl-server-verify",
        "ssl-skip-self-issued-ca",
        "stats",
        "strict-limits",
        "thread-group",
        "thread-groups",
        "tune.buffers.limit",
        "tune.buffers.reserve",
        "tune.bufsize",
        "tune.comp.maxlevel",
        "tune.fail-alloc",
        "tune.fd.edge-triggered",
        "tune.h2.header-table-size",
        "tune.h2.initial-window-size",
        "tune.h2.max-concurrent-streams",
        "tune.h2.max-frame-size",
        "tune.http.cookielen",
        "tune.http.logurilen",
        "tune.http.maxhdr",
        "tune.idle-pool.shared",
        "tune.idletimer",
        "tune.listener.multi-queue",
        "tune.lua.forced-yield",
        "tune.lua.maxmem",
        "tune.lua.service-timeout",
        "tune.lua.session-timeout",
        "tune.lua.task-timeout",
        "tune.maxaccept",
        "tune.maxpollevents",
        "tune.maxrewrite",
        "tune.pattern.cache-size",
        "tune.peers.max-updates-at-once",
        "tune.pipesize",
        "tune.pool-high-fd-ratio",
        "tune.pool-low-fd-ratio",
        "tune.rcvbuf.client",
        "tune.rcvbuf.server",
        "tune.recv_enough",
        "tune.runqueue-depth",
        "tune.sched.low-latency",
        "tune.sndbuf.client",
        "tune.sndbuf.server",
        "tune.ssl.cachesize",
        "tune.ssl.capture-buffer-size",
        "tune.ssl.capture-cipherlist-size",
        "tune.ssl.default-dh-param",
        "tune.ssl.force-private-cache",
        "tune.ssl.hard-maxrecord",
        "tune.ssl.keylog",
        "tune.ssl.lifetime",
        "tune.ssl.maxrecord",
        "tune.ssl.ssl-ctx-cache-size",
        "tune.vars.check-max-size",
        "tune.vars.global-max-size",
        "tune.vars.proc-max-size",
        "tune.vars.reqres-max-size",
        "tune.vars.sess-max-size",
        "tune.vars.txn-max-size",
        "uid",
        "ulimit-n",
        "unix-bind",
        "unsetenv",
        "user",
        "zero-warning",
    }
)

#: Global keywords that only exist when HAProxy is built with an option
#: (value: the build option).  Without it they are "unknown keyword".
BUILD_DEPENDENT_GLOBAL_KEYWORDS: Final[dict[str, str]] = {
    "51degrees-cache-size": "USE_51DEGREES",
    "51degrees-data-file": "USE_51DEGREES",
    "51degrees-property-name-list": "USE_51DEGREES",
    "51degrees-property-separator": "USE_51DEGREES",
    "deviceatlas-json-file": "USE_DEVICEATLAS",
    "deviceatlas-log-level": "USE_DEVICEATLAS",
    "deviceatlas-properties-cookie": "USE_DEVICEATLAS",
    "deviceatlas-property-separator": "USE_DEVICEATLAS",
    "profiling.memory": "USE_MEMORY_PROFILING",
    "ssl-engine": "USE_ENGINE",
    "tune.quic.frontend.conn-tx-buffers.limit": "USE_QUIC",
    "tune.quic.frontend.max-idle-timeout": "USE_QUIC",
    "tune.quic.frontend.max-streams-bidi": "USE_QUIC",
    "tune.quic.retry-threshold": "USE_QUIC",
    "tune.zlib.memlevel": "USE_ZLIB",
    "tune.zlib.windowsize": "USE_ZLIB",
    "wurfl-cache-size": "USE_WURFL",
    "wurfl-data-file": "USE_WURFL",
    "wurfl-engine-mode": "USE_WURFL",
    "wurfl-information-list": "USE_WURFL",
    "wurfl-information-list-separator": "USE_WURFL",
    "wurfl-patch-file": "USE_WURFL",
    "wurfl-useragent-priority": "USE_WURFL",
}

#: Experimental keywords: rejected unless ``expose-experimental-directives``
#: appears earlier in ``global``.
EXPERIMENTAL_GLOBAL_KEYWORDS: Final = frozenset({"tune.fd.edge-triggered"})

#: Keywords of ``global`` rejected with a dedicated message (value: the hint).
REMOVED_GLOBAL_KEYWORDS: Final[dict[str, str]] = {
    "nbproc": "not supported since HAProxy 2.5; threads are used automatically (see 'nbthread')",
    "tune.chksize": "not supported any more; 'tune.bufsize' is used instead",
}

#: Deprecated global keywords: accepted, with a warning.
DEPRECATED_GLOBAL_KEYWORDS: Final[dict[str, str]] = {
    "tune.ssl.capture-cipherlist-size": "use 'tune.ssl.capture-buffer-size'",
}

#: First words of ``stats`` in global (``stats socket``, ``stats timeout`` ...).
GLOBAL_STATS_KEYWORDS: Final = frozenset({"bind-process", "maxconn", "socket", "timeout"})

# ---------------------------------------------------------------------------
# Proxy sections: defaults / frontend / listen / backend
# ---------------------------------------------------------------------------

# Groups by where HAProxy 2.6.12 accepts the keyword without any diagnostic.
_PX_EVERYWHERE = frozenset(
    {
        "acl",  # named defaults only
        "bind-process",  # deprecated: "has no effect" warning everywhere
        "compression",
        "disabled",
        "email-alert",
        "enabled",
        "errorfile",
        "errorfiles",
        "errorloc",
        "errorloc302",
        "errorloc303",
        "external-check",
        "hash-balance-factor",
        "http-after-response",  # named defaults only
        "http-error",
        "http-request",  # named defaults only
        "http-response",  # named defaults only
        "log",
        "log-tag",
        "mode",
        "option",  # per-option applicability in OPTION_SECTIONS
        "persist",
        "stats",  # per-subkeyword applicability in PROXY_SUBKEYWORD_SECTIONS
        "tcp-request",  # named defaults only; see PROXY_SUBKEYWORD_SECTIONS
        "timeout",  # per-timeout applicability in TIMEOUT_SECTIONS
        "transparent",
        "unique-id-format",
        "unique-id-header",
    }
)
_PX_FRONTEND_SIDE = frozenset(  # defaults, frontend, listen
    {
        "backlog",
        "clitcpka-cnt",
        "clitcpka-idle",
        "clitcpka-intvl",
        "default_backend",
        "error-log-format",
        "log-format",
        "log-format-sd",
        "max-session-srv-conns",
        "maxconn",
        "monitor-uri",
        "rate-limit",
    }
)
_PX_BACKEND_SIDE = frozenset(  # defaults, listen, backend
    {
        "balance",
        "cookie",
        "default-server",
        "dynamic-cookie-key",
        "fullconn",
        "hash-type",
        "http-check",
        "http-reuse",
        "http-send-name-header",
        "load-server-state-from-file",
        "max-keep-alive-queue",
        "retries",
        "retry-on",
        "server-state-file-name",
        "source",
        "srvtcpka-cnt",
        "srvtcpka-idle",
        "srvtcpka-intvl",
        "tcp-check",
        "tcp-response",  # named defaults only
    }
)
_PX_INSTANCE_ONLY = frozenset(  # frontend, listen, backend (not defaults)
    {"description", "filter", "id", "redirect", "stick-table"}
)
_PX_FRONTEND_ONLY = frozenset(  # frontend, listen
    {"bind", "capture", "declare", "monitor", "use_backend"}
)
_PX_BACKEND_ONLY = frozenset(  # listen, backend
    {
        "dispatch",
        "force-persist",
        "ignore-persist",
        "server",
        "server-template",
        "stick",
        "use-fcgi-app",
        "use-server",
    }
)

#: Every first word the proxy-section parser recognises (never "unknown keyword"
#: in defaults/frontend/listen/backend).  Removed keywords are not included.
PROXY_KEYWORDS: Final = (
    _PX_EVERYWHERE
    | _PX_FRONTEND_SIDE
    | _PX_BACKEND_SIDE
    | _PX_INSTANCE_ONLY
    | _PX_FRONTEND_ONLY
    | _PX_BACKEND_ONLY
)

#: Where each proxy keyword is accepted without warning or error.
PROXY_KEYWORD_SECTIONS: Final[dict[str, frozenset[str]]] = {
    **dict.fromkeys(_PX_EVERYWHERE, frozenset(PROXY_SECTIONS)),
    **dict.fromkeys(_PX_FRONTEND_SIDE, frozenset({"defaults", "frontend", "listen"})),
    **dict.fromkeys(_PX_BACKEND_SIDE, frozenset({"defaults", "listen", "backend"})),
    **dict.fromkeys(_PX_INSTANCE_ONLY, frozenset({"frontend", "listen", "backend"})),
    **dict.fromkeys(_PX_FRONTEND_ONLY, frozenset({"frontend", "listen"})),
    **dict.fromkeys(_PX_BACKEND_ONLY, frozenset({"listen", "backend"})),
}

#: Misplaced keywords that are a fatal error (ALERT) rather than a warning
#: ("'X' ignored because frontend 'f' has no backend capability").  Every other
#: misplaced proxy keyword is ignored with a warning.
MISPLACED_IS_ERROR: Final[dict[str, frozenset[str]]] = {
    "defaults": frozenset(
        {
            "bind",
            "capture",
            "declare",
            "description",
            "dispatch",
            "filter",
            "force-persist",
            "id",
            "ignore-persist",
            "monitor",
            "redirect",
            "server",
            "server-template",
            "stick",
            "stick-table",
            "use-fcgi-app",
            "use-server",
            "use_backend",
        }
    ),
    "frontend": frozenset(
        {"default-server", "retry-on", "server", "server-template", "tcp-response", "use-fcgi-app"}
    ),
    "listen": frozenset(),
    "backend": frozenset({"declare"}),
}

#: Keywords refused in an anonymous (unnamed) ``defaults`` section.
NAMED_DEFAULTS_ONLY: Final = frozenset(
    {"acl", "http-after-response", "http-request", "http-response", "tcp-request", "tcp-response"}
)

#: Applicability of the two-word forms that differ from their first word.
PROXY_SUBKEYWORD_SECTIONS: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("compression", "offload"): frozenset({"frontend", "listen", "backend"}),  # warns in defaults
    ("stats", "admin"): frozenset({"frontend", "listen", "backend"}),  # error in defaults
    ("stats", "http-request"): frozenset({"frontend", "listen", "backend"}),  # error in defaults
    ("tcp-request", "connection"): frozenset({"defaults", "frontend", "listen"}),  # backend: error
    ("tcp-request", "content"): frozenset(PROXY_SECTIONS),
    ("tcp-request", "inspect-delay"): frozenset(PROXY_SECTIONS),
    ("tcp-request", "session"): frozenset({"defaults", "frontend", "listen"}),  # backend: error
    ("tcp-response", "content"): frozenset({"defaults", "listen", "backend"}),
    ("tcp-response", "inspect-delay"): frozenset({"defaults", "listen", "backend"}),
}

#: Sub-keywords of ``stats`` in proxy sections.
PROXY_STATS_KEYWORDS: Final = frozenset(
    {
        "admin",
        "auth",
        "enable",
        "hide-version",
        "http-request",
        "realm",
        "refresh",
        "scope",
        "show-desc",
        "show-legends",
        "show-modules",
        "show-node",
        "uri",
    }
)

SUBKEYWORDS: Final[dict[str, frozenset[str]]] = {
    "capture": frozenset({"cookie", "request", "response"}),
    "declare": frozenset({"capture"}),
    "email-alert": frozenset({"from", "level", "mailers", "myhostname", "to"}),
    "external-check": frozenset({"command", "path"}),
    "http-check": frozenset(
        {
            "comment",
            "connect",
            "disable-on-404",
            "expect",
            "send",
            "send-state",
            "set-var",
            "set-var-fmt",
            "unset-var",
        }
    ),
    "monitor": frozenset({"fail"}),
    "persist": frozenset({"rdp-cookie"}),
    "rate-limit": frozenset({"sessions"}),
    "stick": frozenset({"match", "on", "store-request", "store-response"}),
    "tcp-check": frozenset(
        {
            "comment",
            "connect",
            "expect",
            "send",
            "send-binary",
            "send-binary-lf",
            "send-lf",
            "set-var",
            "set-var-fmt",
            "unset-var",
        }
    ),
    "tcp-request": frozenset({"connection", "content", "inspect-delay", "session"}),
    "tcp-response": frozenset({"content", "inspect-delay"}),
}

#: Proxy keywords rejected with a dedicated message (value: the replacement hint).
REMOVED_KEYWORDS: Final[dict[str, str]] = {
    "appsession": "removed in HAProxy 1.6; use 'cookie' / stick tables",
    "block": "removed in HAProxy 2.1; use 'http-request deny' (same syntax)",
    "cliexp": "removed in HAProxy 2.1; use 'http-request replace-path/replace-uri/replace-header'",
    "clitimeout": "removed in HAProxy 2.1; use 'timeout client'",
    "contimeout": "removed in HAProxy 2.1; use 'timeout connect'",
    "grace": "removed from proxies in HAProxy 2.5 (still valid in 'global')",
    "monitor-net": "removed; use 'http-request return status 200 if { src <net> }'",
    "redisp": "removed in HAProxy 2.1; use 'option redispatch'",
    "redispatch": "removed in HAProxy 2.1; use 'option redispatch'",
    "reqadd": "removed in HAProxy 2.1; use 'http-request add-header'",
    "reqallow": "removed in HAProxy 2.1; use 'http-request allow'",
    "reqdel": "removed in HAProxy 2.1; use 'http-request del-header'",
    "reqdeny": "removed in HAProxy 2.1; use 'http-request deny'",
    "reqiallow": "removed in HAProxy 2.1; use 'http-request allow'",
    "reqidel": "removed in HAProxy 2.1; use 'http-request del-header'",
    "reqideny": "removed in HAProxy 2.1; use 'http-request deny'",
    "reqipass": "removed in HAProxy 2.1",
    "reqirep": "removed in HAProxy 2.1; use 'http-request replace-header'",
    "reqitarpit": "removed in HAProxy 2.1; use 'http-request tarpit'",
    "reqpass": "removed in HAProxy 2.1",
    "reqrep": "removed in HAProxy 2.1; use 'http-request replace-path/replace-uri/replace-header'",
    "reqtarpit": "removed in HAProxy 2.1; use 'http-request tarpit'",
    "rspadd": "removed in HAProxy 2.1; use 'http-response add-header'",
    "rspdel": "removed in HAProxy 2.1; use 'http-response del-header'",
    "rspdeny": "removed in HAProxy 2.1; use 'http-response deny'",
    "rspidel": "removed in HAProxy 2.1; use 'http-response del-header'",
    "rspideny": "removed in HAProxy 2.1; use 'http-response deny'",
    "rspirep": "removed in HAProxy 2.1; use 'http-response replace-header'",
    "rsprep": "removed in HAProxy 2.1; use 'http-response replace-header'",
    "srvexp": "removed in HAProxy 2.1; use 'http-response replace-header'",
    "srvtimeout": "removed in HAProxy 2.1; use 'timeout server'",
}

#: Accepted with a deprecation warning.
DEPRECATED_KEYWORDS: Final[dict[str, str]] = {
    "bind-process": "has no effect since 2.5 and is removed in 2.7",
}

#: ``option`` names rejected with a dedicated message.
REMOVED_OPTIONS: Final[dict[str, str]] = {
    "forceclose": "removed in HAProxy 2.0; remove it, or use 'option httpclose'",
    "http-tunnel": "removed in HAProxy 2.1; remove it",
    "http_proxy": "removed in HAProxy 2.5; use 'http-request set-dst'/'set-uri'/'do-resolve'",
}

#: ``mode`` values: only these two are valid; ``mode health`` was removed.
PROXY_MODES: Final = frozenset({"http", "tcp"})
REMOVED_MODES: Final[dict[str, str]] = {
    "health": "removed; use 'http-request return status 200'",
}

# ---------------------------------------------------------------------------
# option NAME
# ---------------------------------------------------------------------------

_OPT_EVERYWHERE = frozenset(
    {
        "external-check",  # the doc says backend side only; 2.6.12 does not check
        "forwardfor",
        "http-buffer-request",
        "http-keep-alive",
        "http-no-delay",
        "http-restrict-req-hdr-names",
        "http-server-close",
        "httpclose",
        "independent-streams",
        "nolinger",
        "originalto",
        "splice-auto",
        "splice-request",
        "splice-response",
        "tcpka",
    }
)
_OPT_FRONTEND_SIDE = frozenset(  # defaults, frontend, listen
    {
        "accept-invalid-http-request",
        "clitcpka",
        "contstats",
        "disable-h2-upgrade",
        "dontlog-normal",
        "dontlognull",
        "h1-case-adjust-bogus-client",
        "http-ignore-probes",
        "http-use-proxy-header",
        "httplog",  # backend: "directive is ignored in backends" warning
        "httpslog",
        "idle-close-on-response",
        "log-separate-errors",
        "logasap",
        "socket-stats",
        "tcp-smart-accept",
        "tcplog",
    }
)
_OPT_BACKEND_SIDE = frozenset(  # defaults, listen, backend
    {
        "abortonclose",
        "accept-invalid-http-response",
        "allbackups",
        "checkcache",
        "h1-case-adjust-bogus-server",
        "http-pretend-keepalive",
        "httpchk",
        "ldap-check",
        "log-health-checks",
        "mysql-check",
        "persist",
        "pgsql-check",
        "prefer-last-server",
        "redis-check",
        "redispatch",
        "smtpchk",
        "spop-check",
        "srvtcpka",
        "ssl-hello-chk",
        "tcp-check",
        "tcp-smart-connect",
        "transparent",
    }
)

#: Every ``option`` name HAProxy 2.6 recognises (misplaced ones only warn).
OPTIONS: Final = _OPT_EVERYWHERE | _OPT_FRONTEND_SIDE | _OPT_BACKEND_SIDE

#: Valid ``option`` names per proxy section type (accepted without a warning).
PROXY_OPTIONS: Final[dict[str, frozenset[str]]] = {
    "defaults": OPTIONS,
    "frontend": _OPT_EVERYWHERE | _OPT_FRONTEND_SIDE,
    "listen": OPTIONS,
    "backend": _OPT_EVERYWHERE | _OPT_BACKEND_SIDE,
}

#: Options accepting the ``no``/``default`` prefix.  Others fail with
#: "negation/default is not supported for option 'X'".
NEGATABLE_OPTIONS: Final = frozenset(
    {
        "abortonclose",
        "accept-invalid-http-request",
        "accept-invalid-http-response",
        "allbackups",
        "checkcache",
        "clitcpka",
        "contstats",
        "disable-h2-upgrade",
        "dontlog-normal",
        "dontlognull",
        "h1-case-adjust-bogus-client",
        "h1-case-adjust-bogus-server",
        "http-buffer-request",
        "http-ignore-probes",
        "http-keep-alive",
        "http-no-delay",
        "http-pretend-keepalive",
        "http-server-close",
        "http-use-proxy-header",
        "httpclose",
        "idle-close-on-response",
        "independent-streams",
        "log-health-checks",
        "log-separate-errors",
        "logasap",
        "nolinger",
        "persist",
        "prefer-last-server",
        "redispatch",
        "socket-stats",
        "splice-auto",
        "splice-request",
        "splice-response",
        "srvtcpka",
        "tcp-smart-accept",
        "tcp-smart-connect",
        "transparent",
    }
)

#: Options only meaningful in ``mode http``.
HTTP_MODE_OPTIONS: Final = frozenset(
    {
        "accept-invalid-http-request",
        "accept-invalid-http-response",
        "checkcache",
        "disable-h2-upgrade",
        "forwardfor",
        "h1-case-adjust-bogus-client",
        "h1-case-adjust-bogus-server",
        "http-buffer-request",
        "http-ignore-probes",
        "http-keep-alive",
        "http-no-delay",
        "http-pretend-keepalive",
        "http-restrict-req-hdr-names",
        "http-server-close",
        "http-use-proxy-header",
        "httpchk",
        "httpclose",
        "httplog",
        "httpslog",
        "idle-close-on-response",
        "originalto",
        "prefer-last-server",
    }
)

#: Options taking words after their name: (min words, max words), max None
#: when HAProxy does not count them.  Options absent from this table take no
#: argument ("'option X' cannot handle unexpected argument 'Y'").
OPTION_ARGS: Final[dict[str, tuple[int, int | None]]] = {
    "forwardfor": (0, None),  # [except <net>] [header <name>] [if-none]
    "http-restrict-req-hdr-names": (1, 1),  # preserve | delete | reject
    "httpchk": (0, 3),  # [<method>] [<uri>] [<version>]
    "httplog": (0, 1),  # [clf]
    "httpslog": (0, None),  # takes nothing, but extra words are not checked
    "mysql-check": (0, 3),  # [user <username> [{post-41|pre-41}]]
    "originalto": (0, None),  # [except <net>] [header <name>]
    "pgsql-check": (2, 2),  # user <username>
    "redispatch": (0, None),  # [<interval>]; further words are not checked
    "smtpchk": (0, 2),  # [<hello> <domain>]
}

OPTION_FORWARDFOR_PARAMS: Final[dict[str, int]] = {"except": 1, "header": 1, "if-none": 0}
OPTION_ORIGINALTO_PARAMS: Final[dict[str, int]] = {"except": 1, "header": 1}
OPTION_HTTP_RESTRICT_REQ_HDR_NAMES_VALUES: Final = frozenset({"delete", "preserve", "reject"})

# ---------------------------------------------------------------------------
# timeout NAME
# ---------------------------------------------------------------------------

_TMO_FRONTEND = frozenset({"client", "client-fin"})
_TMO_BACKEND = frozenset({"check", "connect", "queue", "server", "server-fin", "tunnel"})
_TMO_BOTH = frozenset({"http-keep-alive", "http-request", "tarpit"})

#: Every ``timeout`` name of proxy sections.  A misplaced one only warns
#: ("'timeout X' will be ignored because ... has no ... capability"); any other
#: name is an error listing the valid ones.
PROXY_TIMEOUT_NAMES: Final = _TMO_FRONTEND | _TMO_BACKEND | _TMO_BOTH

TIMEOUTS: Final[dict[str, frozenset[str]]] = {
    "defaults": PROXY_TIMEOUT_NAMES,
    "frontend": _TMO_FRONTEND | _TMO_BOTH,
    "listen": PROXY_TIMEOUT_NAMES,
    "backend": _TMO_BACKEND | _TMO_BOTH,
    # non-proxy sections
    "log-forward": frozenset({"client"}),
    "mailers": frozenset({"mail"}),
    "resolvers": frozenset({"resolve", "retry"}),
    "ring": frozenset({"connect", "server"}),
}

#: ``timeout clitimeout`` etc. get the same "removed" messages as the bare words.
REMOVED_TIMEOUT_NAMES: Final[dict[str, str]] = {
    "clitimeout": "use 'timeout client'",
    "contimeout": "use 'timeout connect'",
    "srvtimeout": "use 'timeout server'",
}

# ---------------------------------------------------------------------------
# Other sections
# ---------------------------------------------------------------------------

RESOLVERS_KEYWORDS: Final = frozenset(
    {
        "accepted_payload_size",
        "hold",
        "nameserver",
        "parse-resolv-conf",
        "resolve_retries",
        "timeout",
    }
)
RESOLVERS_HOLD_STATUSES: Final = frozenset(
    {"nx", "obsolete", "other", "refused", "timeout", "valid"}
)
REMOVED_RESOLVERS_KEYWORDS: Final[dict[str, str]] = {
    "resolution_pool_size": "not supported anymore (it never appeared in a stable release)",
}

SECTION_KEYWORDS: Final[dict[str, frozenset[str]]] = {
    "global": GLOBAL_KEYWORDS,
    "defaults": frozenset(k for k, s in PROXY_KEYWORD_SECTIONS.items() if "defaults" in s),
    "frontend": frozenset(k for k, s in PROXY_KEYWORD_SECTIONS.items() if "frontend" in s),
    "listen": frozenset(k for k, s in PROXY_KEYWORD_SECTIONS.items() if "listen" in s),
    "backend": frozenset(k for k, s in PROXY_KEYWORD_SECTIONS.items() if "backend" in s),
    "cache": frozenset(
        {"max-age", "max-object-size", "max-secondary-entries", "process-vary", "total-max-size"}
    ),
    "fcgi-app": frozenset(
        {
            "acl",
            "docroot",
            "index",
            "log-stderr",
            "option",
            "pass-header",
            "path-info",
            "set-param",
        }
    ),
    "http-errors": frozenset({"errorfile"}),
    "log-forward": frozenset({"backlog", "bind", "dgram-bind", "log", "maxconn", "timeout"}),
    "mailers": frozenset({"mailer", "timeout"}),
    "peers": frozenset(
        {
            "bind",
            "default-bind",
            "default-server",
            "disabled",
            "enabled",
            "log",
            "peer",
            "server",
            "table",
        }
    ),
    "program": frozenset({"command", "group", "option", "user"}),
    "resolvers": RESOLVERS_KEYWORDS,
    "ring": frozenset({"description", "format", "maxlen", "server", "size", "timeout"}),
    "userlist": frozenset({"group", "user"}),
}

#: "hide-header" exists in the fcgi-app parser source but is compiled out in 2.6.
DISABLED_FCGI_APP_KEYWORDS: Final = frozenset({"hide-header"})

#: How each section words its "unknown keyword" alert ({kw} = the word, {section}
#: = the section type).  Only global and proxy sections append "; did you mean
#: '<best>' maybe ?" when a close candidate exists.  Note the userlist section
#: calls itself 'users' and ring says "unknown statement".
UNKNOWN_KEYWORD_MESSAGES: Final[dict[str, str]] = {
    "global": "unknown keyword '{kw}' in 'global' section",
    "defaults": "unknown keyword '{kw}' in '{section}' section",
    "frontend": "unknown keyword '{kw}' in '{section}' section",
    "listen": "unknown keyword '{kw}' in '{section}' section",
    "backend": "unknown keyword '{kw}' in '{section}' section",
    "cache": "unknown keyword '{kw}' in 'cache' section",
    "fcgi-app": "unknown keyword '{kw}' in 'fcgi-app' section",
    "http-errors": "unknown keyword '{kw}' in 'http-errors' section",
    "log-forward": "unknown keyword '{kw}' in log-forward section.",
    "mailers": "unknown keyword '{kw}' in 'mailers' section",
    "peers": "unknown keyword '{kw}' in 'peers' section",
    "program": "unknown keyword '{kw}' in 'program' section",
    "resolvers": "unknown keyword '{kw}' in 'resolvers' section",
    "ring": "unknown statement '{kw}'.",
    "userlist": "unknown keyword '{kw}' in 'users' section",
}
UNKNOWN_OPTION_MESSAGE: Final = "unknown option '{kw}'."
DID_YOU_MEAN_SUFFIX: Final = "; did you mean '{best}' maybe ?"
#: Outside any section (before the first section header).
OUT_OF_SECTION_MESSAGE: Final = "unknown keyword '{kw}' out of section."

PROGRAM_OPTIONS: Final = frozenset({"start-on-reload"})  # "no option start-on-reload" too
CACHE_PROCESS_VARY_VALUES: Final = frozenset({"off", "on"})
#: Values of "format" in ring sections and of "log ... format X".
LOG_FORMATS: Final = frozenset(
    {"iso", "local", "raw", "rfc3164", "rfc5424", "short", "timed", "priority"}
)

# ---------------------------------------------------------------------------
# balance / hash-type
# ---------------------------------------------------------------------------


class BalanceAlgorithm(NamedTuple):
    """Argument rules of one ``balance`` algorithm (HAProxy 2.6 ``backend.c``)."""

    #: "none": bare word; "optional": ``name`` or ``name(x)``; "required": ``name(x)``.
    paren: Literal["none", "optional", "required"]
    #: Mandatory words after the algorithm (url_param <param>, hash <expr>).
    positional: int
    #: Optional modifier words -> number of values each takes.
    modifiers: dict[str, int]
    #: What HAProxy does with any other trailing word: silently "ignored", or
    #: "error" ("only accepts ..." / "takes no other argument").  For url_param
    #: and hdr() only the first word after the mandatory ones is checked.
    extra_words: Literal["ignored", "error"]
    #: Needs ``mode http``; otherwise a warning and fallback to roundrobin.
    http_only: bool


BALANCE_ALGORITHMS: Final[dict[str, BalanceAlgorithm]] = {
    "first": BalanceAlgorithm("none", 0, {}, "ignored", False),
    "hash": BalanceAlgorithm("none", 1, {}, "error", False),
    "hdr": BalanceAlgorithm("required", 0, {"use_domain_only": 0}, "error", True),
    "leastconn": BalanceAlgorithm("none", 0, {}, "ignored", False),
    "random": BalanceAlgorithm("optional", 0, {}, "ignored", False),
    "rdp-cookie": BalanceAlgorithm("optional", 0, {}, "ignored", False),
    "roundrobin": BalanceAlgorithm("none", 0, {}, "ignored", False),
    "source": BalanceAlgorithm("none", 0, {}, "ignored", False),
    "static-rr": BalanceAlgorithm("none", 0, {}, "ignored", False),
    "uri": BalanceAlgorithm(
        "none", 0, {"depth": 1, "len": 1, "path-only": 0, "whole": 0}, "error", True
    ),
    "url_param": BalanceAlgorithm("none", 1, {"check_post": 0}, "error", True),
}

#: ``balance`` with no algorithm selects roundrobin.
BALANCE_DEFAULT: Final = "roundrobin"

#: Parsing quirks of 2.6, confirmed with the binary:
#: * ``random`` is matched as a prefix: ``randomness`` is accepted as random;
#:   ``random(N)`` needs N >= 1, ``random()`` means the default (2 draws),
#:   ``random(3`` fails with "missing closing parenthesis".
#: * ``hdr(`` is a prefix match: text after ``)`` is ignored; ``hdr()`` fails.
#: * ``rdp-cookie`` followed by anything other than ``(`` fails
#:   ("missing cookie name").
#: * ``uri len``/``uri depth`` need a positive integer.
#: * ``url_param <p> check_post <n>``: the word after check_post is ignored.
BALANCE_PREFIX_MATCH: Final = frozenset({"hdr", "random", "rdp-cookie"})

HASH_TYPES: Final = frozenset({"consistent", "map-based"})
#: No "none" function in 2.6 (it appeared in a later release).
HASH_FUNCTIONS: Final = frozenset({"crc32", "djb2", "sdbm", "wt6"})
HASH_MODIFIERS: Final = frozenset({"avalanche"})
#: ``hash-type avalanche`` (old experimental syntax) has a dedicated error
#: message suggesting ``hash-type map-based sdbm avalanche``.
REMOVED_HASH_TYPES: Final[dict[str, str]] = {"avalanche": "use 'map-based sdbm avalanche'"}
#: Default function when none is given: sdbm (plus avalanche for consistent).
HASH_DEFAULT_FUNCTION: Final = "sdbm"

# ---------------------------------------------------------------------------
# server / default-server / server-template options
# ---------------------------------------------------------------------------

#: Number of words each server option consumes after its name; -1 means a
#: variable count (``source <addr>[:<port>] [usesrc ...] [interface <name>]``).
#: There is no generic ``no-`` prefix: only the ``no-*`` names listed exist.
SERVER_OPTIONS: Final[dict[str, int]] = {
    "addr": 1,
    "agent-addr": 1,
    "agent-check": 0,
    "agent-inter": 1,
    "agent-port": 1,
    "agent-send": 1,
    "allow-0rtt": 0,
    "alpn": 1,
    "backup": 0,
    "ca-file": 1,
    "check": 0,
    "check-alpn": 1,
    "check-proto": 1,
    "check-send-proxy": 0,
    "check-sni": 1,
    "check-ssl": 0,
    "check-via-socks4": 0,
    "ciphers": 1,
    "ciphersuites": 1,
    "cookie": 1,
    "crl-file": 1,
    "crt": 1,
    "disabled": 0,
    "downinter": 1,
    "enabled": 0,
    "error-limit": 1,
    "fall": 1,
    "fastinter": 1,
    "force-sslv3": 0,
    "force-tlsv10": 0,
    "force-tlsv11": 0,
    "force-tlsv12": 0,
    "force-tlsv13": 0,
    "id": 1,
    "init-addr": 1,
    "inter": 1,
    "log-proto": 1,
    "max-reuse": 1,
    "maxconn": 1,
    "maxqueue": 1,
    "minconn": 1,
    "namespace": 1,
    "no-agent-check": 0,
    "no-backup": 0,
    "no-check": 0,
    "no-check-send-proxy": 0,
    "no-check-ssl": 0,
    "no-send-proxy": 0,
    "no-send-proxy-v2": 0,
    "no-send-proxy-v2-ssl": 0,
    "no-send-proxy-v2-ssl-cn": 0,
    "no-ssl": 0,
    "no-ssl-reuse": 0,
    "no-sslv3": 0,
    "no-tfo": 0,
    "no-tls-tickets": 0,
    "no-tlsv10": 0,
    "no-tlsv11": 0,
    "no-tlsv12": 0,
    "no-tlsv13": 0,
    "non-stick": 0,
    "npn": 1,
    "observe": 1,
    "on-error": 1,
    "on-marked-down": 1,
    "on-marked-up": 1,
    "pool-low-conn": 1,
    "pool-max-conn": 1,
    "pool-purge-delay": 1,
    "port": 1,
    "proto": 1,
    "proxy-v2-options": 1,
    "redir": 1,
    "resolve-net": 1,
    "resolve-opts": 1,
    "resolve-prefer": 1,
    "resolvers": 1,
    "rise": 1,
    "send-proxy": 0,
    "send-proxy-v2": 0,
    "send-proxy-v2-ssl": 0,
    "send-proxy-v2-ssl-cn": 0,
    "slowstart": 1,
    "sni": 1,
    "socks4": 1,
    "source": -1,
    "ssl": 0,
    "ssl-max-ver": 1,
    "ssl-min-ver": 1,
    "ssl-reuse": 0,
    "stick": 0,
    "tcp-ut": 1,
    "tfo": 0,
    "tls-tickets": 0,
    "track": 1,
    "usesrc": 0,  # always an error: only valid inside "source ... usesrc ..."
    "verify": 1,
    "verifyhost": 1,
    "weight": 1,
    "ws": 1,
}

#: Rejected on ``default-server`` with "'X' option is not accepted in
#: default-server sections" (an ALERT that is *not* fatal in 2.6: ``haproxy -c``
#: still reports the configuration as valid).
NOT_FOR_DEFAULT_SERVER: Final = frozenset(
    {"id", "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13"}
)

#: Server options that only make sense on ``default-server``: none in 2.6.
DEFAULT_SERVER_ONLY: Final = frozenset[str]()

#: Options rejected for servers added at runtime ("add server" on the CLI).
NOT_FOR_DYNAMIC_SERVER: Final = frozenset(
    {
        "cookie",
        "init-addr",
        "log-proto",
        "max-reuse",
        "namespace",
        "no-agent-check",
        "no-check",
        "no-check-send-proxy",
        "no-check-ssl",
        "no-send-proxy-v2-ssl",
        "no-send-proxy-v2-ssl-cn",
        "no-ssl",
        "non-stick",
        "redir",
        "resolve-net",
        "resolve-opts",
        "resolve-prefer",
        "resolvers",
        "socks4",
        "ssl-reuse",
        "stick",
        "tcp-ut",
    }
)

#: Positional words before the options: ``server <name> <addr>``,
#: ``default-server`` (none), ``server-template <prefix> <num|range> <fqdn>``.
SERVER_LINE_POSITIONAL: Final[dict[str, int]] = {
    "default-server": 0,
    "server": 2,
    "server-template": 3,
}

# ---------------------------------------------------------------------------
# bind options
# ---------------------------------------------------------------------------

#: Number of words each ``bind`` option consumes after its name.
BIND_OPTIONS: Final[dict[str, int]] = {
    "accept-netscaler-cip": 1,
    "accept-proxy": 0,
    "allow-0rtt": 0,
    "alpn": 1,
    "backlog": 1,
    "ca-file": 1,
    "ca-ignore-err": 1,
    "ca-sign-file": 1,
    "ca-sign-pass": 1,
    "ca-verify-file": 1,
    "ciphers": 1,
    "ciphersuites": 1,
    "crl-file": 1,
    "crt": 1,
    "crt-ignore-err": 1,
    "crt-list": 1,
    "curves": 1,
    "defer-accept": 0,
    "ecdhe": 1,
    "expose-fd": 1,
    "force-sslv3": 0,
    "force-tlsv10": 0,
    "force-tlsv11": 0,
    "force-tlsv12": 0,
    "force-tlsv13": 0,
    "generate-certificates": 0,
    "gid": 1,
    "group": 1,
    "id": 1,
    "interface": 1,
    "level": 1,
    "maxconn": 1,
    "mode": 1,
    "mss": 1,
    "name": 1,
    "namespace": 1,
    "nice": 1,
    "no-ca-names": 0,
    "no-sslv3": 0,
    "no-tls-tickets": 0,
    "no-tlsv10": 0,
    "no-tlsv11": 0,
    "no-tlsv12": 0,
    "no-tlsv13": 0,
    "npn": 1,
    "prefer-client-ciphers": 0,
    "process": 1,  # deprecated (warning), removed in 2.7
    "proto": 1,
    "severity-output": 1,
    "shards": 1,
    "ssl": 0,
    "ssl-max-ver": 1,
    "ssl-min-ver": 1,
    "strict-sni": 0,
    "tcp-ut": 1,
    "tfo": 0,
    "thread": 1,
    "tls-ticket-keys": 1,
    "transparent": 0,
    "uid": 1,
    "user": 1,
    "v4v6": 0,
    "v6only": 0,
    "verify": 1,
}

BUILD_DEPENDENT_BIND_OPTIONS: Final[dict[str, str]] = {"quic-force-retry": "USE_QUIC"}

#: SSL options also valid per certificate inside a crt-list file.
CRT_LIST_OPTIONS: Final[dict[str, int]] = {
    "allow-0rtt": 0,
    "alpn": 1,
    "ca-file": 1,
    "ca-verify-file": 1,
    "ciphers": 1,
    "ciphersuites": 1,
    "crl-file": 1,
    "curves": 1,
    "ecdhe": 1,
    "no-ca-names": 0,
    "npn": 1,
    "ssl-max-ver": 1,
    "ssl-min-ver": 1,
    "verify": 1,
}

SSL_VERSIONS: Final = frozenset({"SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"})

# ---------------------------------------------------------------------------
# Rule actions (http-request, tcp-request ...)
# ---------------------------------------------------------------------------

_STICK_COUNTER_ACTIONS = frozenset(
    {"sc-inc-gpc", "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt", "sc-set-gpt0"}
)
_VAR_ACTIONS = frozenset({"set-var", "set-var-fmt", "unset-var"})
_TCP_L4_ACTIONS = frozenset(
    {"set-dst", "set-dst-port", "set-mark", "set-src", "set-src-port", "set-tos", "silent-drop"}
)

#: Action names per rule set.  Names in ``ACTION_PREFIXES`` are matched as
#: prefixes by HAProxy (``set-var(txn.x)``, ``track-sc0``, ``sc-inc-gpc0(1)``).
RULE_ACTIONS: Final[dict[str, frozenset[str]]] = {
    "tcp-request connection": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | _TCP_L4_ACTIONS
    | {"accept", "expect-netscaler-cip", "expect-proxy", "reject", "track-sc"},
    "tcp-request session": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | _TCP_L4_ACTIONS
    | {"accept", "reject", "track-sc"},
    "tcp-request content": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | _TCP_L4_ACTIONS
    | {
        "accept",
        "capture",
        "do-resolve",
        "reject",
        "send-spoe-group",
        "set-log-level",
        "set-nice",
        "set-priority-class",
        "set-priority-offset",
        "switch-mode",
        "track-sc",
        "use-service",
    },
    "tcp-response content": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | {
        "accept",
        "close",
        "reject",
        "send-spoe-group",
        "set-log-level",
        "set-mark",
        "set-nice",
        "set-tos",
        "silent-drop",
    },
    "http-request": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | {
        "add-acl",
        "add-header",
        "allow",
        "auth",
        "cache-use",
        "capture",
        "del-acl",
        "del-header",
        "del-map",
        "deny",
        "disable-l7-retry",
        "do-resolve",
        "early-hint",
        "normalize-uri",
        "redirect",
        "reject",
        "replace-header",
        "replace-path",
        "replace-pathq",
        "replace-uri",
        "replace-value",
        "return",
        "send-spoe-group",
        "set-dst",
        "set-dst-port",
        "set-header",
        "set-log-level",
        "set-map",
        "set-mark",
        "set-method",
        "set-nice",
        "set-path",
        "set-pathq",
        "set-priority-class",
        "set-priority-offset",
        "set-query",
        "set-src",
        "set-src-port",
        "set-timeout",
        "set-tos",
        "set-uri",
        "silent-drop",
        "strict-mode",
        "tarpit",
        "track-sc",
        "use-service",
        "wait-for-body",
        "wait-for-handshake",
    },
    "http-response": _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | {
        "add-acl",
        "add-header",
        "allow",
        "cache-store",
        "capture",
        "del-acl",
        "del-header",
        "del-map",
        "deny",
        "redirect",
        "replace-header",
        "replace-value",
        "return",
        "send-spoe-group",
        "set-header",
        "set-log-level",
        "set-map",
        "set-mark",
        "set-nice",
        "set-status",
        "set-tos",
        "silent-drop",
        "strict-mode",
        "track-sc",
        "wait-for-body",
    },
    "http-after-response": _VAR_ACTIONS
    | {
        "add-header",
        "allow",
        "capture",
        "del-header",
        "replace-header",
        "replace-value",
        "set-header",
        "set-status",
        "strict-mode",
    },
}

ACTION_PREFIXES: Final = (
    _STICK_COUNTER_ACTIONS
    | _VAR_ACTIONS
    | {"add-acl", "del-acl", "del-map", "do-resolve", "set-map", "track-sc"}
)

#: Experimental rule actions (need ``expose-experimental-directives``).
EXPERIMENTAL_ACTIONS: Final = frozenset({"normalize-uri"})

#: Rule actions that exist only in some builds (``ot-group``: USE_OT).
BUILD_DEPENDENT_ACTIONS: Final[dict[str, str]] = {"ot-group": "USE_OT"}

# ---------------------------------------------------------------------------
# "did you mean" data
# ---------------------------------------------------------------------------
# HAProxy suggests the closest keyword for an unknown word: each word becomes a
# fingerprint of letter/digit/other transitions; the candidate with the smallest
# fingerprint distance wins, unless that distance exceeds twice the length of
# either word.  Candidates are the registered keywords of the section plus the
# following hard-coded lists.  "server"/"bind" options and "option" names get
# the same treatment; "timeout", "stats", "balance", "hash-type" and the small
# sections (resolvers, peers, userlist, program, ...) never suggest anything.

SUGGESTION_EXTRA_GLOBAL: Final = frozenset(
    {
        "backend",
        "busy-polling",
        "chroot",
        "cluster-secret",
        "cpu-map",
        "daemon",
        "defaults",
        "description",
        "external-check",
        "frontend",
        "gid",
        "global",
        "group",
        "insecure-fork-wanted",
        "insecure-setuid-wanted",
        "listen",
        "localpeer",
        "log",
        "log-send-hostname",
        "log-tag",
        "master-worker",
        "max-spread-checks",
        "maxcompcpuusage",
        "maxcomprate",
        "maxconn",
        "maxconnrate",
        "maxpipes",
        "maxsessrate",
        "maxsslrate",
        "maxzlibmem",
        "nbproc",
        "node",
        "noepoll",
        "noevports",
        "nogetaddrinfo",
        "nokqueue",
        "nopoll",
        "noreuseport",
        "nosplice",
        "numa-cpu-mapping",
        "peers",
        "pidfile",
        "presetenv",
        "quiet",
        "resetenv",
        "resolvers",
        "server-state-base",
        "server-state-file",
        "set-dumpable",
        "setenv",
        "spread-checks",
        "ssl-server-verify",
        "strict-limits",
        "tune.buffers.limit",
        "tune.buffers.reserve",
        "tune.bufsize",
        "tune.comp.maxlevel",
        "tune.http.cookielen",
        "tune.http.logurilen",
        "tune.http.maxhdr",
        "tune.idletimer",
        "tune.maxaccept",
        "tune.maxpollevents",
        "tune.maxrewrite",
        "tune.pattern.cache-size",
        "tune.pipesize",
        "tune.rcvbuf.client",
        "tune.rcvbuf.server",
        "tune.recv_enough",
        "tune.runqueue-depth",
        "tune.sndbuf.client",
        "tune.sndbuf.server",
        "uid",
        "ulimit-n",
        "unix-bind",
        "unsetenv",
        "user",
        "zero-warning",
    }
)

SUGGESTION_EXTRA_PROXY: Final = frozenset(
    {
        "acl",
        "appsession",
        "backend",
        "backlog",
        "balance",
        "bind",
        "bind-process",
        "block",
        "capture",
        "cookie",
        "default-server",
        "default_backend",
        "defaults",
        "description",
        "disabled",
        "dispatch",
        "dynamic-cookie-key",
        "email-alert",
        "enabled",
        "error-log-format",
        "force-persist",
        "frontend",
        "fullconn",
        "hash-balance-factor",
        "hash-type",
        "http-after-response",
        "http-request",
        "http-response",
        "http-reuse",
        "http-send-name-header",
        "id",
        "ignore-persist",
        "listen",
        "load-server-state-from-file",
        "log",
        "log-format",
        "log-format-sd",
        "log-tag",
        "max-session-srv-conns",
        "maxconn",
        "mode",
        "monitor",
        "monitor-net",
        "monitor-uri",
        "option",
        "persist",
        "redirect",
        "retries",
        "server",
        "server-state-file-name",
        "server-template",
        "source",
        "stats",
        "stick",
        "stick-table",
        "transparent",
        "unique-id-format",
        "unique-id-header",
        "use-server",
        "use_backend",
        "usesrc",
    }
)

SUGGESTION_EXTRA_OPTIONS: Final = frozenset(
    {
        "external-check",
        "forwardfor",
        "http-keep-alive",
        "http-server-close",
        "httpchk",
        "httpclose",
        "httplog",
        "ldap-check",
        "mysql-check",
        "original-to",  # sic: HAProxy suggests this misspelling of "originalto"
        "pgsql-check",
        "redis-check",
        "redispatch",
        "smtpchk",
        "spop-check",
        "ssl-hello-chk",
        "tcp-check",
        "tcpka",
        "tcplog",
    }
)

# ---------------------------------------------------------------------------
# Documentation vs. binary
# ---------------------------------------------------------------------------

#: Places where the 4.1 matrix / 4.2 headers of configuration.txt disagree
#: with what HAProxy 2.6.12 accepts silently; the tables above follow the binary.
DOC_MATRIX_DISCREPANCIES: Final[dict[str, str]] = {
    "hash-balance-factor": "doc: not in listen; binary: accepted everywhere",
    "http-send-name-header": "matrix: not in defaults; 4.2 and binary: accepted",
    "option external-check": "doc: backend side only; binary: accepted in frontends too",
    "option spop-check": "doc: backend only; binary: defaults/listen/backend",
    "option tcplog": "matrix: backend yes; binary: 'ignored in backends' warning",
    "server-state-file-name": "4.2: not in defaults; matrix and binary: accepted",
    "transparent": "deprecated in the doc; binary: accepted in frontends without warning",
    "unique-id-format": "doc: not in backend; binary: accepted",
    "unique-id-header": "doc: not in backend; binary: accepted",
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

ProxyKeywordStatus = Literal["ok", "removed", "warning", "error", "unknown"]


def classify_proxy_keyword(section: str, keyword: str) -> ProxyKeywordStatus:
    """Say what HAProxy 2.6 does with first word *keyword* in a proxy *section*.

    "warning" means the line is ignored with a warning; "error" means a fatal
    alert; "unknown" means HAProxy reports "unknown keyword".  ``no``/``default``
    prefixes, sub-keywords and named-defaults rules are not considered here.
    """
    if keyword in REMOVED_KEYWORDS:
        return "removed"
    where = PROXY_KEYWORD_SECTIONS.get(keyword)
    if where is None:
        return "unknown"
    if section in where:
        return "ok"
    return "error" if keyword in MISPLACED_IS_ERROR.get(section, frozenset()) else "warning"


def is_rule_action(ruleset: str, word: str) -> bool:
    """True if *word* is an action of *ruleset* (e.g. "http-request", "set-var(txn.a)")."""
    actions = RULE_ACTIONS.get(ruleset, frozenset())
    if word in actions:
        return True
    return any(word.startswith(a) for a in ACTION_PREFIXES & actions)
