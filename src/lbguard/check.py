"""`lbguard check`: parse, run the rules, ask the real binary, suppress, redact, report.

This is the one place that wires parsers, rules and the native check together, so
every entry point (CLI, pre-commit, audits) gets the same verdict for the same files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lbguard import redact, suppress
from lbguard.detect import detect_dialect, discover
from lbguard.errors import ConfigReadError
from lbguard.findings import PARSE, Finding, Severity
from lbguard.forked import Background, can_fork
from lbguard.model import Config, Dialect
from lbguard.report import Report, RuleInfo
from lbguard.rule_settings import RuleSettings
from lbguard.rules import RULES, Rule, RuleContext
from lbguard.rules.base import ConfigIndex
from lbguard.scripts.inputs import ScriptInputs
from lbguard.sources import SourceText, read_source
from lbguard.util import keep, without_gc


@dataclass
class Unit:
    """Files that make up one configuration (one `haproxy -f ...` or one nginx.conf)."""

    dialect: Dialect
    paths: list[str]
    # "config", or "script" for a config-writing script or template (lbguard.scripts).
    kind: str = "config"
    # For scripts: the dialect the user forced with --dialect (else found per output).
    forced: Dialect | None = None
    # Files already read while planning, so that a 5 MB config is not read, decoded
    # and hashed again for parsing and code frames.
    texts: dict[str, SourceText] = field(default_factory=dict, repr=False, compare=False)

    def read(self, path: str) -> SourceText:
        """One of the unit's files (or one it includes), read once."""
        return self.texts.get(path) or read_source(path)


@dataclass
class Parsed:
    config: Config
    findings: list[Finding]
    sources: dict[str, list[str]] = field(default_factory=dict)


def plan_units(
    paths: Sequence[str], dialect: Dialect | None = None, merge: bool = False
) -> list[Unit]:
    """Group the named paths into configs, detecting each file's dialect."""
    files: list[str] = []
    for path in paths:
        if not os.path.exists(path):
            raise ConfigReadError(f"{path}: no such file or directory")
        files.extend(discover(path))
    units: list[Unit] = []
    merged: Unit | None = None
    from lbguard.scripts.kind import is_script

    for path in files:
        source = read_source(path)
        text = source.text
        if is_script(path, text):
            units.append(Unit(dialect or Dialect.HAPROXY, [path], "script", dialect))
            continue
        d = dialect
        if d is None:
            d = detect_dialect(path, text)
            if d is None:
                raise ConfigReadError(
                    f"{path}: cannot tell whether this is an HAProxy or an nginx config; "
                    "pass --dialect haproxy or --dialect nginx"
                )
        if merge and d is Dialect.HAPROXY:
            if merged is None:
                merged = Unit(d, [])
                units.append(merged)
            merged.paths.append(path)
            merged.texts[path] = source
        else:
            units.append(Unit(d, [path], texts={path: source}))
    return units


def parse_unit(
    unit: Unit, *, context: str | None = None, prefix: str | None = None, validate: bool = True
) -> Parsed:
    """Parse one unit with its dialect's parser into the shared model.

    `validate=False` may skip the syntax checks a model does not need (HAProxy's).
    """
    if unit.dialect is Dialect.HAPROXY:
        from lbguard.parsers.haproxy import parse_haproxy

        result = parse_haproxy(unit.paths, read=unit.read, validate=validate)
        return Parsed(result.config, result.findings, result.sources)
    from lbguard.parsers.nginx import parse_nginx

    config, findings = parse_nginx(unit.paths, prefix=prefix, context=context)
    sources: dict[str, list[str]] = {}
    for f in config.files:
        try:
            sources[f.path] = unit.read(f.path).text.split("\n")
        except ConfigReadError:
            continue
    return Parsed(config, findings, sources)


# Rules that run the traffic simulator (and so import numpy and replay a trace).
_SIMULATING_RULES = frozenset({"LBG111", "LBG112"})
# From this many bytes of config on, a helper forked before the parse runs them.
PARALLEL_RULES_BYTES = 256 * 1024


def start_simulating_rules(
    unit: Unit,
    settings: RuleSettings,
    *,
    context: str | None = None,
    prefix: str | None = None,
) -> Background[dict[str, list[Finding]]] | None:
    """On a big config, the simulating rules' findings, computed in a helper process.

    The helper is forked before this process parses: it parses the same text itself
    and runs only those rules, while this process parses and runs the others. Forked
    after the parse it would share the model's pages, and each page either process
    then touched would be copied; forked before, it builds a model of its own, on
    the other core, for no more wall time. None when it does not pay (a small
    config, no idle core): `run_rules` then runs everything here.
    """
    size = sum(len(t.text) for t in unit.texts.values())
    if unit.kind != "config" or size < PARALLEL_RULES_BYTES or not can_fork():
        return None
    wanted = set(settings.active_rules()) & _SIMULATING_RULES
    if not any(r.code in wanted and unit.dialect in r.dialects for r in RULES):
        return None

    def simulate() -> dict[str, list[Finding]]:
        config = parse_unit(unit, context=context, prefix=prefix, validate=False).config
        return _rules_by_code(config, settings, simulating=True)

    return Background(simulate)


def run_rules(
    config: Config,
    settings: RuleSettings,
    rules: Iterable[type[Rule]] = RULES,
    simulating: Background[dict[str, list[Finding]]] | None = None,
) -> list[Finding]:
    """Every enabled rule for this dialect over every node it targets.

    `simulating` is what `start_simulating_rules` started for this config: those
    rules' findings come from it (or, if the helper failed, are computed here).
    """
    chosen = _chosen(config, settings, rules)
    if simulating is None:
        index = ConfigIndex(config)
        return [f for r in chosen for f in _run_rule(r, config, settings, index)]
    here = _rules_by_code(config, settings, rules, simulating=False)
    here.update(simulating.result(lambda: _rules_by_code(config, settings, rules, simulating=True)))
    return [f for r in chosen for f in here[r.code]]


def _chosen(
    config: Config, settings: RuleSettings, rules: Iterable[type[Rule]]
) -> list[type[Rule]]:
    active = set(settings.active_rules())
    return [r for r in rules if r.code in active and config.dialect in r.dialects]


def _rules_by_code(
    config: Config,
    settings: RuleSettings,
    rules: Iterable[type[Rule]] = RULES,
    *,
    simulating: bool,
) -> dict[str, list[Finding]]:
    """The findings of the chosen rules that do (or do not) simulate, by rule code."""
    index = ConfigIndex(config)
    return {
        r.code: _run_rule(r, config, settings, index)
        for r in _chosen(config, settings, rules)
        if (r.code in _SIMULATING_RULES) == simulating
    }


def _run_rule(
    rule_cls: type[Rule],
    config: Config,
    settings: RuleSettings,
    index: ConfigIndex | None = None,
) -> list[Finding]:
    options, severity = settings.options_for(rule_cls.code)
    rule = rule_cls()
    ctx = RuleContext(config, options, index)
    produced: list[Finding] = []
    if rule.target == "pool":
        for pool in config.pools:
            produced.extend(rule.check_pool(pool, ctx))
    elif rule.target == "frontend":
        for frontend in config.frontends:
            produced.extend(rule.check_frontend(frontend, ctx))
    else:
        produced.extend(rule.check_config(config, ctx))
    if severity is not None:
        produced = [
            Finding(f.code, f.rule, severity, f.message, f.location, f.context, f.fix)
            for f in produced
        ]
    return produced


def unresolved_env_findings(config: Config) -> list[Finding]:
    return [
        Finding(
            PARSE,
            "unset-variable",
            Severity.WARNING,
            f"environment variable '{name}' is not set here; HAProxy will expand "
            f'"${{{name}}}" to an empty string (use "${{{name}-default}}" to give a default)',
            loc,
            environment=True,
        )
        for name, loc in config.unresolved_env
    ]


def dedupe_native(own: list[Finding], native: list[Finding]) -> list[Finding]:
    """Drop a native finding when lbguard already reports an error on the same lines.

    An own finding covers every line of its span: a missing ';' is reported on the
    directive, and nginx reports it at the '}' that follows.
    """
    taken: set[tuple[str, int]] = set()
    for f in own:
        if f.code == PARSE or f.severity == Severity.ERROR:
            loc = f.location
            last = max(loc.end_line, loc.line)
            taken.update((loc.path, n) for n in range(loc.line, min(last, loc.line + 50) + 1))
    return [f for f in native if (f.location.path, f.location.line) not in taken]


def default_native(
    unit: Unit, config: Config, *, context: str | None, prefix: str | None
) -> list[Finding] | None:
    """Findings from the real binary, or None when it is not installed."""
    if unit.dialect is Dialect.HAPROXY:
        from lbguard.native_haproxy import haproxy_binary, run_haproxy_check

        if haproxy_binary() is None:
            return None
        return run_haproxy_check(unit.paths, config)
    from lbguard.native_nginx import find_nginx, run_nginx_check

    if find_nginx() is None:
        return None
    return run_nginx_check(unit.paths, context=context, prefix=prefix)


def rule_table() -> dict[str, RuleInfo]:
    return {r.code: RuleInfo(r.code, r.name, r.severity, r.summary(), r.help_uri()) for r in RULES}


def check_paths(
    paths: Sequence[str],
    settings: RuleSettings,
    *,
    dialect: Dialect | None = None,
    native: bool = True,
    merge: bool = False,
    context: str | None = None,
    prefix: str | None = None,
    script_inputs: ScriptInputs | None = None,
    on_config: ConfigHook | None = None,
) -> Report:
    """Check `paths`; `on_config` also sees each parsed config with its own findings."""
    with without_gc():
        units = plan_units(paths, dialect, merge)
        return _check_units(units, settings, native, context, prefix, script_inputs, on_config)


# Called once per parsed config (not for scripts) with its redacted findings; audits
# and baselines use it to read the same model and verdict that `check` reports.
ConfigHook = Callable[[Unit, Config, list[Finding]], None]


def _check_units(
    units: list[Unit],
    settings: RuleSettings,
    native: bool,
    context: str | None,
    prefix: str | None,
    script_inputs: ScriptInputs | None = None,
    on_config: ConfigHook | None = None,
) -> Report:
    findings: list[Finding] = []
    sources: dict[str, list[str]] = {}
    shown: list[str] = []
    notices: list[str] = []
    missing_binaries: set[str] = set()
    for unit in units:
        if unit.kind == "script":
            from lbguard.scripts.check import check_script

            script_findings, script_sources = check_script(
                unit.paths[0], settings, env=script_inputs, native=native, dialect=unit.forced
            )
            findings.extend(script_findings)
            sources.update(script_sources)
            shown.extend(p for p in unit.paths if p not in shown)
            continue
        simulating = start_simulating_rules(unit, settings, context=context, prefix=prefix)
        try:
            parsed = parse_unit(unit, context=context, prefix=prefix)
        except BaseException:
            if simulating is not None:
                simulating.cancel()
            raise
        config = parsed.config
        keep(parsed)
        own = list(parsed.findings)
        own.extend(unresolved_env_findings(config))
        own.extend(run_rules(config, settings, simulating=simulating))
        if native and settings.native:
            native_findings = default_native(unit, config, context=context, prefix=prefix)
            if native_findings is None:
                missing_binaries.add(unit.dialect.value)
            else:
                own.extend(dedupe_native(own, native_findings))
        sups, sup_problems = suppress.collect(config)
        kept, unused = suppress.apply(own, sups)
        kept.extend(sup_problems)
        kept.extend(unused)
        secrets = redact.secret_words(config)
        redacted = redact.redact_findings(kept, secrets)
        findings.extend(redacted)
        if on_config is not None:
            on_config(unit, config, redacted)
        for path, lines in parsed.sources.items():
            sources[path] = redact.redact_lines(lines, secrets)
        for f in config.files:
            if f.path not in shown:
                shown.append(f.path)
        for p in unit.paths:
            if p not in shown:
                shown.append(p)
    for name in sorted(missing_binaries):
        binary = "haproxy" if name == "haproxy" else "nginx"
        notices.append(
            f"note: {binary} is not installed, so the native check (`{binary} "
            f"{'-c' if binary == 'haproxy' else '-t'}`) was skipped; lbguard's own checks ran"
        )
    return Report.build(findings, shown, rule_table(), sources, notices)


__all__ = ["check_paths", "parse_unit", "plan_units", "run_rules"]
