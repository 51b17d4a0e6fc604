"""Reading a config-writing shell script without running it.

The incident config was not typed by hand: a provisioning script wrote it from
variables. This module walks the script's syntax tree (see `shell_parse.py`) the way
the shell would, but with every command that is not pure text processing replaced
by a record of what it would have done: heredocs, `echo`/`printf`, `tee`, `envsubst`
and `{ ...; } > FILE` groups write into per-file buffers, variables and `$((...))`
are computed, loops over lists are unrolled, and every rendered character keeps the
script offset it came from. `$(...)` is only evaluated when its commands are pure
(`cat <<EOF`, `printf`, `seq`); anything else is marked unknown and a stand-in is
used, so the rest of the config can still be checked.

Nothing is ever executed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from lbguard.scripts.shell_builtins import Shell
from lbguard.scripts.shell_model import (
    BreakLoop,
    EnvsubstCall,
    ExitScript,
    Note,
    Output,
    Reload,
    ReturnFromFunction,
    ScriptAnalysis,
    Sink,
    Validation,
    Var,
)
from lbguard.scripts.shell_parse import parse_script

__all__ = [
    "EnvsubstCall",
    "Note",
    "Output",
    "Reload",
    "ScriptAnalysis",
    "Validation",
    "Var",
    "analyse_script",
    "detect_shell",
]


def detect_shell(text: str) -> str:
    """`sh` (dash semantics for echo) or `bash`, from the shebang."""
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        if re.search(r"\b(bash|zsh|ksh)\b", first):
            return "bash"
        if re.search(r"(/|\s)(sh|dash|ash)\b", first):
            return "sh"
    return "bash"


def analyse_script(
    path: str,
    text: str,
    env: Mapping[str, str] | None = None,
    *,
    pinned: Collection[str] = (),
    labels: Mapping[str, str] | None = None,
    shell: str | None = None,
) -> ScriptAnalysis:
    """Everything the script writes, with variables expanded; nothing is executed.

    `env` is the environment the script starts with; names in `pinned` (from
    `--var`/`--env`) keep their value even where the script assigns them, so a
    value the script would compute (`WEB3_IP=$(inventory ...)`) can be supplied.
    Raises ShellSyntaxError when the script does not parse.
    """
    tree, heredocs = parse_script(text)
    sh = Shell(path, text, env or {}, frozenset(pinned), labels or {}, shell or detect_shell(text))
    top = Sink("stdout")
    sh.top = top
    try:
        sh.run(tree, None, top)
    except ExitScript:
        pass
    except ReturnFromFunction:
        pass
    except BreakLoop:
        pass
    return ScriptAnalysis(
        path,
        text,
        sh.shell,
        list(sh.files.values()),
        sh.stdout,
        sh.notes,
        sh.reloads,
        sh.validations,
        heredocs,
        sh.envsubst_calls,
        sh.referenced | set(sh.vars),
        sh.nounset_seen,
    )
