"""What reading a script produces: the files it writes, its reloads, and the notes.

Kept apart from the interpreter so rules and the check pipeline can use the results
without importing the machinery that computes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lbguard.scripts.rendered import PStr
from lbguard.scripts.shell_ast import HereDoc

MAX_ITERATIONS = 10_000
MAX_DEPTH = 64
NAME_RE = re.compile(r"\$(\{)?([A-Za-z_][A-Za-z0-9_]*)(?(1)\})")
DECLARE = frozenset({"export", "readonly", "local", "declare", "typeset"})
QUIET = frozenset(
    {
        "mkdir",
        "chmod",
        "chown",
        "chgrp",
        "rm",
        "ln",
        "touch",
        "install",
        "sleep",
        "cd",
        "umask",
        "trap",
        "wait",
        "logger",
        "sync",
        "pushd",
        "popd",
        "hash",
        "shopt",
        "ulimit",
        "systemctl",
        "service",
        "nginx",
        "haproxy",
        "lbguard",
        "rc-service",
        "invoke-rc.d",
        "apt-get",
        "apt",
        "yum",
        "dnf",
        "apk",
        "chcon",
        "restorecon",
        "kill",
        "alias",
    }
)
BALANCERS = ("haproxy", "nginx")


class ExitScript(Exception):
    def __init__(self, status: int | None) -> None:
        self.status = status


class ReturnFromFunction(Exception):
    def __init__(self, status: int | None) -> None:
        self.status = status


class BreakLoop(Exception):
    def __init__(self, levels: int, cont: bool) -> None:
        self.levels = levels
        self.cont = cont


@dataclass
class Var:
    value: PStr
    items: list[PStr] | None = None
    unknown: str = ""  # the command the value comes from, when lbguard cannot know it
    origin: str = ""
    offset: int = -1
    exported: bool = False


@dataclass
class Note:
    offset: int
    message: str
    severity: str = "info"


@dataclass
class Output:
    target: str
    offset: int
    data: PStr = field(default_factory=PStr)


@dataclass
class Validation:
    offset: int
    command: str
    checked: bool


@dataclass
class Reload:
    offset: int
    end: int
    command: str
    balancer: str
    validated: bool


@dataclass
class EnvsubstCall:
    offset: int
    names: frozenset[str] | None


@dataclass
class ScriptAnalysis:
    path: str
    text: str
    shell: str
    outputs: list[Output]
    stdout: PStr
    notes: list[Note]
    reloads: list[Reload]
    validations: list[Validation]
    heredocs: list[HereDoc]
    envsubst: list[EnvsubstCall]
    # Names the script treats as its own variables (assigned, read, exported).
    variables: set[str]
    nounset: bool


@dataclass
class Sink:
    kind: str  # file, capture, null, stdout
    target: str = ""
    buf: PStr = field(default_factory=PStr)
