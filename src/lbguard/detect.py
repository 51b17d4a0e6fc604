"""Which balancer a file is written for, from its name first and its content second."""

from __future__ import annotations

import os
import re

from lbguard.errors import ConfigReadError
from lbguard.model import Dialect

_HAPROXY_SECTION = re.compile(
    r"^(global|defaults|frontend|backend|listen|userlist|resolvers|peers)\b", re.MULTILINE
)
_NGINX_SHAPE = re.compile(
    r"^\s*(events|http|stream|upstream|server|location|map|include)\b[^\n]*[{;]", re.MULTILINE
)
CONFIG_SUFFIXES = (".cfg", ".conf", ".config", ".cfg.bak", ".conf.bak")
# Scripts and templates that write configs (checked by lbguard.scripts).
SCRIPT_SUFFIXES = (".sh", ".j2", ".jinja", ".jinja2", ".erb", ".tmpl", ".ctmpl")


def detect_dialect(path: str, text: str) -> Dialect | None:
    """Guess the dialect; None when the file looks like neither."""
    name = os.path.basename(path).lower()
    h = len(_HAPROXY_SECTION.findall(text[:200_000]))
    n = len(_NGINX_SHAPE.findall(text[:200_000]))
    if "haproxy" in name and h >= n:
        return Dialect.HAPROXY
    if "nginx" in name and n >= h:
        return Dialect.NGINX
    if h == 0 and n == 0:
        if name.endswith(".cfg"):
            return Dialect.HAPROXY
        if name.endswith(".conf"):
            return Dialect.NGINX
        return None
    return Dialect.HAPROXY if h > n else Dialect.NGINX


def discover(path: str) -> list[str]:
    """Files to check under a directory (sorted, recursive), or the file itself."""
    if not os.path.isdir(path):
        return [path]
    found: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if name.endswith(CONFIG_SUFFIXES + SCRIPT_SUFFIXES) or name in (
                "nginx.conf",
                "haproxy.cfg",
            ):
                found.append(os.path.join(root, name))
    if not found:
        raise ConfigReadError(
            f"{path}: directory has no config files (*.cfg for HAProxy, *.conf for nginx) "
            "or config-writing scripts and templates (*.sh, *.j2, *.erb, *.tmpl)"
        )
    return found
