"""Rules about config-writing scripts and templates (LBG4xx).

They are Rules like any other (a code, a name, docs, case files, settings), but they
read the script and the configs it renders rather than one parsed config, so they
implement `check_script` and are run by `lbguard.scripts.check`. Their
`check_config` finds nothing: on a plain config file there is no script to blame.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from lbguard.findings import Finding
from lbguard.model import Dialect
from lbguard.rules.base import Rule

if TYPE_CHECKING:
    from lbguard.scripts.context import ScriptContext


class ScriptRule(Rule):
    target: ClassVar[str] = "config"
    dialects: ClassVar[frozenset[Dialect]] = frozenset({Dialect.HAPROXY, Dialect.NGINX})

    def check_script(self, ctx: ScriptContext) -> Iterator[Finding]:
        return iter(())
