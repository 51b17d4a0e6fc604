"""The `lbguard` command line. It only wires things together; the work lives in modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from lbguard import __version__, speedups
from lbguard.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, LbguardError
from lbguard.findings import Severity
from lbguard.model import Dialect
from lbguard.options import merge_option
from lbguard.util import without_gc

FORMATS = ("text", "json", "sarif", "junit", "github")


# Commands whose modules pull in numpy or polars: imported only when they run, so
# `lbguard check` does not pay for them at start-up.
_LAZY = {
    "simulate": ("lbguard.simulate.cli", "simulate_command"),
    "diff": ("lbguard.simulate.cli", "diff_command"),
    "verify": ("lbguard.sandbox.cli", "verify_command"),
    "watch": ("lbguard.watch.cli", "watch_command"),
    "agent": ("lbguard.health.cli", "agent_command"),
    "probe": ("lbguard.health.cli", "probe_command"),
    "audit": ("lbguard.audit.cli", "audit_command"),
    "baseline": ("lbguard.audit.cli", "baseline_command"),
    "trail": ("lbguard.audit.cli", "trail_command"),
    "timeline": ("lbguard.audit.cli", "timeline_command"),
    "postmortem": ("lbguard.audit.cli", "postmortem_command"),
    "drill": ("lbguard.drill.cli", "drill_command"),
}


class _Group(click.Group):
    """Turns every LbguardError into one line on stderr and exit 2, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            import importlib

            module, attr = _LAZY[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LbguardError as exc:
            click.echo(f"lbguard: error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("lbguard: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            ctx.exit(EXIT_OK)


def _dialect(value: str | None) -> Dialect | None:
    return Dialect(value) if value else None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    prog_name="lbguard",
    message=f"%(prog)s, version %(version)s ({speedups.status()})",
)
def main() -> None:
    """Keeps load balancers honest: check, simulate, verify, watch and audit HAProxy and nginx."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--dialect", type=click.Choice([d.value for d in Dialect]), help="Override detection."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default=None,
    help="Lowest severity that makes the exit code 1 (default: warning).",
)
@click.option("--no-native", is_flag=True, help="Do not run haproxy -c / nginx -t.")
@merge_option
@click.option(
    "--context",
    type=click.Choice(["http", "server", "upstream", "location", "stream"]),
    help="nginx: check the files as fragments of this context.",
)
@click.option("--prefix", "-p", type=click.Path(), help="nginx: prefix path, as nginx -p.")
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    help="lbguard.toml to use instead of searching upward from the current directory.",
)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the report here.")
@click.option(
    "--env",
    "env_files",
    multiple=True,
    type=click.Path(),
    help="Scripts: NAME=VALUE file (dotenv) of values the script runs with; they win over "
    "the script's own assignments.",
)
@click.option(
    "--var",
    "var_args",
    multiple=True,
    metavar="NAME=VALUE",
    help="Scripts: one variable's value (repeatable); wins over --env and the script.",
)
@click.option(
    "--vars",
    "vars_files",
    multiple=True,
    type=click.Path(),
    help="Templates: YAML/JSON variables, an Ansible playbook, inventory or group_vars "
    "directory (repeatable, merged in order).",
)
@click.option(
    "--strict-undefined",
    is_flag=True,
    help="Templates: an undefined Jinja2 variable is an error (StrictUndefined).",
)
@click.option("--record", is_flag=True, help="Append the result to the trail (lbguard timeline).")
# The collector stays off until the report is written: turned back on after the
# parse, it would walk the whole model (a million objects for 125k lines, none in a
# cycle) again and again while the report is built.
@without_gc()
def check(
    paths: tuple[str, ...],
    dialect: str | None,
    fmt: str,
    fail_on: str | None,
    no_native: bool,
    merge: bool,
    context: str | None,
    prefix: str | None,
    settings_path: Path | None,
    output: Path | None,
    env_files: tuple[str, ...],
    var_args: tuple[str, ...],
    vars_files: tuple[str, ...],
    strict_undefined: bool,
    record: bool,
) -> None:
    """Check load-balancer configs for syntax errors and traffic-concentrating mistakes.

    Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage or input error.
    """
    from lbguard.check import check_paths
    from lbguard.output import render
    from lbguard.rule_settings import load_check_settings
    from lbguard.scripts.inputs import build_inputs
    from lbguard.util import keep_until_exit

    if _EXITS_WITHOUT_TEARDOWN:
        keep_until_exit()  # check ends in _leave: nothing it builds needs freeing

    settings = load_check_settings(settings_path)
    threshold = Severity.parse(fail_on) if fail_on else settings.severity_threshold()
    report = check_paths(
        list(paths),
        settings,
        dialect=_dialect(dialect),
        native=not no_native,
        merge=merge,
        context=context,
        prefix=prefix,
        script_inputs=build_inputs(
            env_files, var_args, vars_files, strict_undefined=strict_undefined
        ),
    )
    for notice in report.notices:
        click.echo(f"lbguard: {notice}", err=True)
    report.notices.clear()
    _emit(lambda stream: render(report, fmt, stream), output)
    if record:
        from lbguard.audit.recording import record_check
        from lbguard.rule_settings import load_command_settings

        record_check(report, threshold, load_command_settings(settings_path))
    finished("check")
    sys.exit(EXIT_FINDINGS if report.failed(threshold) else EXIT_OK)


def _emit(write: Any, output: Path | None) -> None:
    """Write to stdout, or atomically to a file so a crash never leaves half a report."""
    if output is None:
        write(sys.stdout)
        return
    from lbguard.atomic import atomic_write_text

    atomic_write_text(output, write)


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Print a rule's documentation (by code, LBG101, or name, single-active-server)."""
    from lbguard.rules import rule_by_key

    rule = rule_by_key(code)
    if rule is None:
        raise LbguardError(f"unknown rule '{code}'; run 'lbguard rules' to list them")
    click.echo(f"{rule.code} {rule.name} ({rule.severity.label})\n")
    click.echo(rule.doc())
    click.echo(f"\nDocs: {rule.help_uri()}")


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules_cmd(fmt: str) -> None:
    """List every rule with its code, name, severity and dialects."""
    import json

    from lbguard.rules import RULES

    if fmt == "json":
        data = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity.label,
                "dialects": sorted(d.value for d in r.dialects),
                "summary": r.summary(),
                "options": {o.name: o.default for o in r.options},
            }
            for r in RULES
        ]
        click.echo(json.dumps(data, indent=2))
        return
    for r in RULES:
        dialects = ",".join(sorted(d.value for d in r.dialects))
        click.echo(f"{r.code}  {r.name:<36} {r.severity.label:<8} {dialects:<14} {r.summary()}")


# Commands that have written their whole report and cleaned up after themselves
# (every temporary directory of `check` is removed in a `finally`; a one-shot
# `audit` has closed its store by the time its exit reaches run()).
_FINISHED: set[str] = set()
# True when the console script runs (run()), which ends a finished command with
# _leave; False where main() is called in a longer-lived process (tests, embedding).
_EXITS_WITHOUT_TEARDOWN = False


def exits_without_teardown() -> bool:
    """Whether a command that calls `finished` will end in `_leave`, not teardown."""
    return _EXITS_WITHOUT_TEARDOWN


def finished(command: str) -> None:
    """`command` has written its whole report: its exit may skip freeing what it built."""
    _FINISHED.add(command)


def run() -> None:
    import os

    global _EXITS_WITHOUT_TEARDOWN
    _EXITS_WITHOUT_TEARDOWN = True

    # lbguard's numpy work is element-wise, never BLAS; at import OpenBLAS would start a
    # thread per core that spins for ~70 ms of CPU, on the core check's forked child
    # wants. A user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        main()
    except SystemExit as exc:
        if _FINISHED and isinstance(exc.code, int):
            _leave(exc.code)
        raise
    except Exception as exc:  # pragma: no cover - last line of defence
        if os.environ.get("LBGUARD_DEBUG"):
            raise
        click.echo(
            f"lbguard: internal error: {type(exc).__name__}: {exc} "
            "(set LBGUARD_DEBUG=1 for a traceback, and please report it)",
            err=True,
        )
        sys.exit(EXIT_USAGE)


def _leave(code: int) -> None:
    """Exit at once, without tearing down the interpreter.

    Freeing a big config's model object by object at exit took 0.1-0.2 s of a
    1.5 s check; the process is ending and the report is written, so nothing is
    lost: output is flushed here, and `check` registers no exit handlers.
    """
    import contextlib
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
