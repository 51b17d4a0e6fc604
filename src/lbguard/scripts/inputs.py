"""The values a script or template is checked with: `--env`, `--var` and `--vars`.

A provisioning script's config depends on values that only exist at deploy time (an
inventory lookup, a CI variable). These options let the user state them, so that
the config lbguard checks is the config the deploy would write, and so a finding can
say which value caused it ("WEB3_IP from --var").
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbguard.errors import ConfigReadError, LbguardError
from lbguard.sources import read_source

_DOTENV = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class ScriptInputs:
    """Everything `check` knows about the environment a script or template runs in."""

    # The environment the script starts with (the user's, like running it here would).
    environ: Mapping[str, str] = field(default_factory=dict)
    # --env FILE and --var values: they win over the script's own assignments.
    overrides: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    # Template variables from --vars files, merged in order; None when none were given.
    template_vars: Mapping[str, Any] | None = None
    vars_files: tuple[str, ...] = ()
    # Jinja2 StrictUndefined: the first undefined variable stops the render, as it
    # would stop Ansible with `error_on_undefined_vars`.
    strict_undefined: bool = False

    @property
    def shell_env(self) -> dict[str, str]:
        return {**self.environ, **self.overrides}


def parse_dotenv(path: str) -> dict[str, str]:
    """`KEY=value` lines as docker-compose and systemd EnvironmentFile write them."""
    text = read_source(path).text
    out: dict[str, str] = {}
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _DOTENV.match(line)
        if m is None:
            raise ConfigReadError(f"{path}:{n}: expected NAME=VALUE in an --env file")
        value = m.group(2)
        if value[:1] in ("'", '"'):
            try:
                parts = shlex.split(value, posix=True)
            except ValueError:
                raise ConfigReadError(f"{path}:{n}: unterminated quote") from None
            value = parts[0] if parts else ""
        else:
            value = re.sub(r"\s+#.*$", "", value)
        out[m.group(1)] = value
    return out


def parse_var(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise LbguardError(f"--var expects NAME=VALUE, got '{text}'")
    return name, value


def build_inputs(
    env_files: Iterable[str],
    var_args: Iterable[str],
    vars_files: Iterable[str],
    environ: Mapping[str, str] | None = None,
    strict_undefined: bool = False,
) -> ScriptInputs:
    overrides: dict[str, str] = {}
    labels: dict[str, str] = {}
    for path in env_files:
        for k, v in parse_dotenv(path).items():
            overrides[k] = v
            labels[k] = f"--env {path}"
    for arg in var_args:
        k, v = parse_var(arg)
        overrides[k] = v
        labels[k] = "--var"
    files = tuple(vars_files)
    template_vars = load_vars(files) if files else None
    return ScriptInputs(
        dict(os.environ if environ is None else environ),
        overrides,
        labels,
        template_vars,
        files,
        strict_undefined,
    )


def load_vars(paths: Iterable[str]) -> dict[str, Any]:
    """Merge --vars files: YAML or JSON mappings, Ansible playbooks, inventories, var dirs."""
    merged: dict[str, Any] = {}
    for path in paths:
        p = Path(path)
        if p.is_dir():
            _merge(merged, _load_dir(p))
        else:
            _merge(merged, _load_file(p))
    return merged


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for k, v in new.items():
        if k in ("groups", "hostvars") and isinstance(v, dict) and isinstance(into.get(k), dict):
            into[k] = {**into[k], **v}
        else:
            into[k] = v


def _load_dir(p: Path) -> dict[str, Any]:
    """group_vars/ and host_vars/ layouts: group_vars/all first, then every other file."""
    out: dict[str, Any] = {}
    files = sorted(
        f for f in p.rglob("*") if f.is_file() and f.suffix in (".yml", ".yaml", ".json")
    )
    files.sort(key=lambda f: (0 if f.stem == "all" or f.parent.name == "all" else 1, str(f)))
    for f in files:
        _merge(out, _load_file(f))
    for sub in ("group_vars", "host_vars"):
        if (p / sub).is_dir():
            _merge(out, _load_dir(p / sub))
    return out


def _load_file(p: Path) -> dict[str, Any]:
    text = read_source(str(p)).text
    if p.suffix in (".ini", ".cfg") or p.name in ("hosts", "inventory") or _looks_like_ini(text):
        return load_inventory(text)
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigReadError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigReadError(f"{p}{where}: invalid YAML") from None
    if isinstance(data, list):
        # An Ansible playbook: the plays' vars are what a template sees.
        out: dict[str, Any] = {}
        for play in data:
            if isinstance(play, dict) and isinstance(play.get("vars"), dict):
                _merge(out, play["vars"])
            if isinstance(play, dict) and isinstance(play.get("hosts"), str):
                out.setdefault("__play_hosts__", play["hosts"])
        return out
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigReadError(f"{p}: expected a mapping of variable names to values")
    return data


def _looks_like_ini(text: str) -> bool:
    return bool(re.search(r"^\[[A-Za-z0-9_:-]+\]\s*$", text, re.MULTILINE)) and not re.search(
        r"^\s*[{\[]\s*$|^\s*-\s", text, re.MULTILINE
    )


def load_inventory(text: str) -> dict[str, Any]:
    """An Ansible INI inventory as the `groups` and `hostvars` a template reads."""
    groups: dict[str, list[str]] = {"all": []}
    hostvars: dict[str, dict[str, Any]] = {}
    group_vars: dict[str, dict[str, str]] = {}
    children: dict[str, list[str]] = {}
    section = "ungrouped"
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m is not None:
            section = m.group(1)
            continue
        if section.endswith(":vars"):
            k, _, v = line.partition("=")
            group_vars.setdefault(section[:-5], {})[k.strip()] = v.strip()
            continue
        if section.endswith(":children"):
            children.setdefault(section[:-9], []).append(line)
            continue
        words = shlex.split(line, comments=True)
        if not words:
            continue
        host = words[0]
        groups.setdefault(section, []).append(host)
        if host not in groups["all"]:
            groups["all"].append(host)
        hv = hostvars.setdefault(host, {"inventory_hostname": host})
        for w in words[1:]:
            k, _, v = w.partition("=")
            hv[k] = _scalar(v)
    for parent, kids in children.items():
        members = groups.setdefault(parent, [])
        for kid in kids:
            members.extend(h for h in groups.get(kid, []) if h not in members)
    for group, values in group_vars.items():
        for host in groups.get(group, []):
            for k, v in values.items():
                hostvars.setdefault(host, {}).setdefault(k, _scalar(v))
    return {"groups": groups, "hostvars": hostvars}


def _scalar(value: str) -> Any:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
