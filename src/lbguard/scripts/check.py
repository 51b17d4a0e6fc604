"""`lbguard check` on a script or template: render, check the config, blame the script.

The config a script writes is checked with exactly the same parser, rules and native
check as a config file, in a temporary file; then every finding is moved from the
rendered file to the script character that produced it, and the script rules
(LBG4xx) add what only the script shows: which variable was empty, which heredoc was
quoted, which reload was not validated.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import replace

from lbguard import redact, suppress
from lbguard.errors import ConfigReadError
from lbguard.findings import NATIVE, PARSE, Finding, Severity
from lbguard.model import Config, Dialect, Location
from lbguard.rule_settings import RuleSettings
from lbguard.rules import RULES
from lbguard.rules.script_base import ScriptRule
from lbguard.scripts.context import RenderedOutput, ScriptContext
from lbguard.scripts.inputs import ScriptInputs
from lbguard.scripts.kind import is_script as is_script  # re-exported for callers
from lbguard.scripts.kind import script_kind
from lbguard.scripts.rendered import PStr, Span
from lbguard.scripts.shell import Note, ScriptAnalysis, analyse_script
from lbguard.scripts.shell_parse import ShellSyntaxError
from lbguard.sources import SourceText, read_source

SCRIPT = "SCRIPT"
_HAPROXY_EVIDENCE = re.compile(
    r"^\s*(global|defaults|frontend|backend|listen|resolvers|peers|userlist)\b", re.MULTILINE
)
_NGINX_EVIDENCE = re.compile(
    r"^\s*(events|http|stream|upstream|server|location)\b[^\n]*[{;]", re.MULTILINE
)
_NATIVE_POS = re.compile(r"\[([^\]:]+):(\d+)\]")
_IGNORE = re.compile(r"lbguard:\s*ignore=([A-Za-z0-9_,-]+)\s*(.*?)\s*(?:#\}|%>|\*/\}\})?\s*$")


def check_script(
    path: str,
    settings: RuleSettings,
    *,
    env: ScriptInputs | None = None,
    native: bool = True,
    dialect: Dialect | None = None,
) -> tuple[list[Finding], dict[str, list[str]]]:
    """Findings at the script's own lines, and the script's lines for code frames."""
    inputs = env or ScriptInputs()
    src = read_source(path)
    text = src.text
    sources = {path: text.split("\n")}
    kind = script_kind(path, text) or "shell"
    analysis: ScriptAnalysis | None = None
    notes: list[Note] = []
    try:
        rendered, analysis, notes = _render(path, text, kind, inputs)
    except _Unreadable as exc:
        return [exc.finding], sources
    ctx = ScriptContext(path, text, kind, [], analysis)
    tmp = tempfile.mkdtemp(prefix="lbguard-script-")
    findings: list[Finding] = []
    secrets: set[str] = set()
    try:
        for n, (target, offset, data, forced) in enumerate(rendered):
            d = _dialect_of(target, data.text, forced)
            if d is None:
                continue  # not a balancer config: a log line, a unit file...
            d = dialect or d
            out = RenderedOutput(target, d, data, write_offset=offset)
            ctx.outputs.append(out)
            findings.extend(_check_output(ctx, out, settings, native, tmp, n))
            if out.config is not None:
                secrets |= redact.secret_words(out.config)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if kind == "shell" and analysis is not None and not ctx.outputs and not analysis.reloads:
        notes = [n for n in notes if n.severity != "info"]
    findings.extend(_script_rules(ctx, settings))
    findings.extend(_note_findings(ctx, notes))
    findings.extend(_standin_notes(ctx))
    findings = _dedupe(findings)
    findings = _apply_script_suppressions(path, text, findings)
    findings = redact.redact_findings(findings, secrets)
    sources[path] = redact.redact_lines(sources[path], secrets)
    return findings, sources


class _Unreadable(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


def _render(
    path: str, text: str, kind: str, inputs: ScriptInputs
) -> tuple[list[tuple[str, int, PStr, bool]], ScriptAnalysis | None, list[Note]]:
    """(target, write offset, rendered text, dialect must be found) per written file."""
    if kind == "shell":
        labels = {k: "the environment" for k in inputs.environ}
        labels.update(inputs.labels)
        try:
            analysis = analyse_script(
                path, text, inputs.shell_env, pinned=set(inputs.overrides), labels=labels
            )
        except ShellSyntaxError as exc:
            line = text.count("\n", 0, max(exc.offset, 0)) + 1
            raise _Unreadable(
                Finding(
                    PARSE,
                    "script-syntax",
                    Severity.ERROR,
                    f"cannot read this shell script: {exc.message}; the config it writes "
                    "was not checked",
                    Location(path, line, 1),
                )
            ) from None
        except RecursionError:
            raise _Unreadable(
                Finding(
                    PARSE,
                    "script-syntax",
                    Severity.ERROR,
                    "the script is nested too deeply for lbguard to read; the config it "
                    "writes was not checked",
                    Location(path, 1, 1),
                )
            ) from None
        outputs = [(o.target, o.offset, o.data, False) for o in analysis.outputs]
        if analysis.stdout.text.strip():
            outputs.append(("<stdout>", 0, analysis.stdout, False))
        return outputs, analysis, analysis.notes
    if kind == "jinja":
        from lbguard.scripts.jinja import TemplateRenderError, render_jinja

        try:
            render = render_jinja(path, text, inputs.template_vars, strict=inputs.strict_undefined)
        except TemplateRenderError as exc:
            raise _Unreadable(
                Finding(
                    PARSE,
                    "template-error",
                    Severity.ERROR,
                    f"{exc.message}; the config it writes was not checked",
                    Location(path, max(exc.line, 1), 1),
                )
            ) from None
    elif kind == "erb":
        from lbguard.scripts.erb import render_erb

        render = render_erb(path, text)
    else:
        from lbguard.scripts.gotmpl import render_gotmpl

        render = render_gotmpl(path, text)
    return [(render.target, 0, render.text, True)], None, render.notes


def _dialect_of(target: str, text: str, template: bool) -> Dialect | None:
    name = os.path.basename(target).lower()
    h = len(_HAPROXY_EVIDENCE.findall(text))
    n = len(_NGINX_EVIDENCE.findall(text))
    if "haproxy" in name and h >= n:
        return Dialect.HAPROXY
    if "nginx" in name and n >= h:
        return Dialect.NGINX
    if h or n:
        return Dialect.HAPROXY if h > n else Dialect.NGINX
    if template and name.endswith(".cfg"):
        return Dialect.HAPROXY
    if template and name.endswith(".conf"):
        return Dialect.NGINX
    return None


def _check_output(
    ctx: ScriptContext,
    out: RenderedOutput,
    settings: RuleSettings,
    native: bool,
    tmp: str,
    n: int,
) -> list[Finding]:
    from lbguard.check import dedupe_native, run_rules, unresolved_env_findings

    folder = os.path.join(tmp, str(n))
    os.makedirs(folder)
    name = os.path.basename(out.target) or "config"
    if not name.endswith((".cfg", ".conf")):
        name += ".cfg" if out.dialect is Dialect.HAPROXY else ".conf"
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(out.text.text)
    out.parsed_path = path
    config: Config
    if out.dialect is Dialect.HAPROXY:
        from lbguard.parsers.haproxy import parse_haproxy_texts

        digest = hashlib.sha256(out.text.text.encode()).hexdigest()
        result = parse_haproxy_texts([SourceText(path, out.text.text, digest)], env={})
        config, parsed = result.config, result.findings
    else:
        from lbguard.parsers.nginx import parse_nginx

        try:
            config, parsed = parse_nginx([path])
        except ConfigReadError as exc:
            return [
                Finding(
                    PARSE,
                    "syntax-error",
                    Severity.ERROR,
                    exc.message,
                    ctx.location(out.write_offset),
                )
            ]
    out.config = config
    own = list(parsed)
    own.extend(unresolved_env_findings(config))
    own.extend(run_rules(config, settings))
    if native and settings.native:
        own.extend(dedupe_native(own, _native(out, config, path)))
    sups, problems = suppress.collect(config)
    kept, unused = suppress.apply(own, sups)
    kept.extend(problems)
    kept.extend(unused)
    return [_to_script(ctx, out, f, tmp) for f in kept if not _on_standin(out, f, path)]


def _native(out: RenderedOutput, config: Config, path: str) -> list[Finding]:
    if out.dialect is Dialect.HAPROXY:
        from lbguard.native_haproxy import haproxy_binary, run_haproxy_check

        if haproxy_binary() is None:
            return []
        return run_haproxy_check([path], config)
    from lbguard.native_nginx import find_nginx, run_nginx_check

    if find_nginx() is None:
        return []
    return run_nginx_check([path])


def _on_standin(out: RenderedOutput, f: Finding, path: str) -> bool:
    """Whether the finding is about a stand-in lbguard made up rather than the author's text."""
    loc = f.location
    if loc.path != path:
        return False
    row = out.line(loc.line)
    start = loc.column - 1
    end = loc.end_column if loc.end_line == loc.line and loc.end_column else loc.column
    for span in row.spans:
        if not span.sub.standin:
            continue
        if span.start < end and span.end > start and loc.column > 1:
            return True
        value = span.sub.value
        if len(value) >= 4 and value in f.message:
            return True
    return False


def _to_script(ctx: ScriptContext, out: RenderedOutput, f: Finding, tmp: str) -> Finding:
    loc = f.location
    message = f.message.replace(out.parsed_path, out.target)
    if loc.path != out.parsed_path:
        if loc.path.startswith(tmp):
            return replace(f, message=message, location=ctx.location(out.write_offset))
        return replace(f, message=message)
    m = _NATIVE_POS.search(f.message)
    if (
        f.code == NATIVE
        and loc.line == 1
        and m
        and os.path.basename(m.group(1)) == os.path.basename(loc.path)
    ):
        loc = Location(loc.path, int(m.group(2)), 1)
    offset = ctx.source_offset(out, loc.line, loc.column)
    line, col = ctx.index.position(offset)
    end_line, end_col = line, col
    if loc.end_line == loc.line and loc.end_column >= loc.column:
        end_offset = ctx.source_offset(out, loc.line, loc.end_column)
        e_line, e_col = ctx.index.position(end_offset)
        if e_line == line and e_col >= col:
            end_line, end_col = e_line, e_col
    row = out.line(loc.line)
    why = _missing_on_line(row)
    if why and not f.code.startswith("LBG4"):
        message += f" [{why}]"
    context = (*f.context, f"{out.target}:{loc.line}")
    return replace(
        f,
        message=message,
        location=Location(ctx.path, line, col, end_line, end_col),
        context=context,
    )


def _missing_on_line(row: PStr) -> str:
    """Which expansions came out empty on a rendered line: the likely cause of a finding."""
    names: list[str] = []
    for span in row.spans:
        sub = span.sub
        if sub.missing and sub.kind != "literal":
            label = f"${sub.name}" if sub.kind in ("shell", "envsubst") else sub.name
            state = "unset" if sub.state == "unset" else "empty"
            names.append(f"{label} is {state} here")
    return "; ".join(dict.fromkeys(names))


def _script_rules(ctx: ScriptContext, settings: RuleSettings) -> list[Finding]:
    active = set(settings.active_rules())
    out: list[Finding] = []
    for rule_cls in RULES:
        if not issubclass(rule_cls, ScriptRule) or rule_cls.code not in active:
            continue
        options, severity = settings.options_for(rule_cls.code)
        ctx.options = options
        produced = list(rule_cls().check_script(ctx))
        if severity is not None:
            produced = [replace(f, severity=severity) for f in produced]
        out.extend(produced)
    return out


def _note_findings(ctx: ScriptContext, notes: list[Note]) -> list[Finding]:
    out: list[Finding] = []
    for note in notes:
        severity = Severity.WARNING if note.severity == "warning" else Severity.INFO
        out.append(
            Finding(SCRIPT, "script-extraction", severity, note.message, ctx.location(note.offset))
        )
    return out


def _standin_notes(ctx: ScriptContext) -> list[Finding]:
    """Say where lbguard had to guess: a `$(...)` it did not run, an unset guarded variable."""
    out: list[Finding] = []
    seen: set[int] = set()
    for rendered in ctx.outputs:
        for n, row in enumerate(rendered.rows(), start=1):
            for span in row.spans:
                sub = span.sub
                if sub.offset in seen:
                    continue
                if sub.kind == "template" and sub.state == "unset":
                    seen.add(sub.offset)
                    if _covered(span, row):
                        continue
                    out.append(
                        Finding(
                            SCRIPT,
                            "undefined-template-variable",
                            Severity.WARNING,
                            f"`{sub.name}` is undefined ({rendered.target} line {n}): Ansible "
                            "stops with an error here, plain Jinja2 writes an empty string",
                            ctx.location(sub.offset, sub.end),
                        )
                    )
                    continue
                if not sub.standin or sub.kind == "template":
                    continue
                seen.add(sub.offset)
                out.append(
                    Finding(
                        SCRIPT,
                        "unknown-value",
                        Severity.INFO,
                        _standin_message(
                            sub.name, sub.state, sub.command, sub.origin, rendered.target, n
                        ),
                        ctx.location(sub.offset, sub.end),
                    )
                )
    return out


def _covered(span: Span, row: PStr) -> bool:
    return bool(re.match(r"\s*server\b|\s*balance\b|\s*hash\b", row.text))


def _standin_message(
    name: str, state: str, command: str, origin: str, target: str, line: int
) -> str:
    var = name if name.startswith("$") else f"${name}"
    if state == "guarded":
        return (
            f"{var} is not set here; the script stops there rather than write an empty "
            f"value, so lbguard checked {target} line {line} with a stand-in "
            f"(pass --var {name}=VALUE to check a real value)"
        )
    source = (
        f"`$({command})`" if command and not command.startswith("$") else f"`{command or name}`"
    )
    where = f" ({origin})" if origin else ""
    hint = (
        f"pass --var {name}=VALUE"
        if re.fullmatch(r"[A-Za-z_]\w*", name)
        else "set the value it computes with --var"
    )
    return (
        f"{var} comes from {source}{where}, which lbguard does not run; {target} line {line} "
        f"was checked with a stand-in ({hint} to check the real value)"
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, int, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.code, f.location.path, f.location.line, f.location.column, f.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def _apply_script_suppressions(path: str, text: str, findings: list[Finding]) -> list[Finding]:
    """`# lbguard: ignore=LBG404 reason` in the script covers its line and the next.

    Unused or reason-less ones are not reported here: comments inside a heredoc are
    also comments of the rendered config, and were already judged there.
    """
    sups: list[suppress.Suppression] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if "lbguard:" not in line:
            continue
        m = _IGNORE.search(line)
        if m is None or not m.group(2):
            continue
        codes = frozenset(c for c in m.group(1).split(",") if c)
        sups.append(
            suppress.Suppression(Location(path, n, m.start() + 1), codes, m.group(2), n, n + 1)
        )
    if not sups:
        return findings
    kept, _ = suppress.apply(findings, sups)
    return kept
