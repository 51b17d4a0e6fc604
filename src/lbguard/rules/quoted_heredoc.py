"""LBG402: a quoted heredoc delimiter leaves the script's own `$VARIABLES` in the config."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect
from lbguard.rules.script_base import ScriptRule
from lbguard.scripts.nginx_vars import is_nginx_variable

if TYPE_CHECKING:  # annotations only: see unset_variable_in_config
    from lbguard.scripts.context import ScriptContext


def _in_double_quotes(text: str, pos: int) -> bool:
    return text[:pos].count('"') % 2 == 1


class QuotedHeredoc(ScriptRule):
    """A heredoc delimiter is quoted, so the script's variables reach the config unexpanded.

    ## What it does
    Reports `cat > FILE <<'EOF'` (or `<<"EOF"`, `<<\\EOF`) when the text it writes to a
    balancer config still contains `$NAME` or `${NAME}` for a variable the script itself
    sets, reads or exports: the author meant the shell to fill it in.

    ## Why is this bad?
    Quoting the delimiter turns off every expansion in the heredoc. It is a common
    "fix" for a shellcheck warning, and it silently writes `server web-01
    ${WEB1_IP}:8080` into the config. HAProxy expands `${...}` only inside double
    quotes and nginx treats `$NAME` as one of its own variables, so the balancer sees a
    literal placeholder, or an empty value when its environment lacks the name.

    ## Example
    ```sh
    cat > haproxy.cfg <<'EOF'
    backend app
        server web-01 ${WEB1_IP}:8080 check
    EOF
    ```

    ## Use instead
    ```sh
    cat > haproxy.cfg <<EOF
    backend app
        server web-01 ${WEB1_IP}:8080 check
    EOF
    ```
    Keep the delimiter quoted only for text that goes through `envsubst` with an explicit
    variable list, or that is meant for the balancer's own variables.
    """

    code = "LBG402"
    name = "quoted-heredoc-delimiter"
    severity = Severity.ERROR

    def check_script(self, ctx: ScriptContext) -> Iterator[Finding]:
        if ctx.analysis is None:
            return
        known = ctx.analysis.variables
        by_heredoc: dict[int, list[tuple[str, int, str]]] = {}
        for out in ctx.outputs:
            for n, row in enumerate(out.rows(), start=1):
                for span in row.spans:
                    sub = span.sub
                    if sub.kind != "literal" or sub.name not in known:
                        continue
                    if out.dialect is Dialect.NGINX and is_nginx_variable(sub.name):
                        continue
                    if out.dialect is Dialect.HAPROXY and _in_double_quotes(row.text, span.start):
                        continue  # HAProxy expands "${NAME}" itself, on purpose
                    by_heredoc.setdefault(sub.anchor, []).append((sub.value, n, out.target))
        for anchor, uses in sorted(by_heredoc.items()):
            names = list(dict.fromkeys(value for value, _, _ in uses))
            lines = sorted({n for _, n, _ in uses})
            target = uses[0][2]
            m = re.match(r"<<-?\s*(\S+)", ctx.text[anchor : anchor + 120])
            delimiter = m.group(1) if m else "<<'EOF'"
            end = anchor + (m.end() if m else 2)
            shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
            yield self.finding(
                f"the heredoc delimiter {delimiter} is quoted, so the shell expands nothing: "
                f"{shown} reach {target} literally (its lines {_ranges(lines)})",
                ctx.location(anchor, end),
                context=(f"writes {target}",),
                fix="remove the quotes from the delimiter (<<EOF) and escape what is meant for "
                "the balancer (\\$host)",
            )


def _ranges(lines: list[int]) -> str:
    if len(lines) > 1 and lines[-1] - lines[0] == len(lines) - 1:
        return f"{lines[0]}-{lines[-1]}"
    return ", ".join(str(n) for n in lines)
