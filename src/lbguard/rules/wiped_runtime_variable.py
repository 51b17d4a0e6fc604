"""LBG403: the shell or envsubst replaced nginx's own `$host`, `$remote_addr`... with nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect
from lbguard.rules.script_base import ScriptRule
from lbguard.scripts.nginx_vars import is_nginx_variable

if TYPE_CHECKING:  # annotations only: see unset_variable_in_config
    from lbguard.scripts.context import ScriptContext


class WipedRuntimeVariable(ScriptRule):
    """An unquoted heredoc or an `envsubst` without a variable list wiped nginx's variables.

    ## What it does
    Reports nginx runtime variables (`$host`, `$remote_addr`, `$scheme`,
    `$proxy_add_x_forwarded_for`, `$http_*`...) that the script's shell or `envsubst`
    replaced with an empty string in the nginx config it writes.

    ## Why is this bad?
    An unquoted heredoc expands every `$word`, and `envsubst` with no argument replaces
    every `$word` it finds, set or not. `proxy_set_header Host $host;` becomes
    `proxy_set_header Host ;`: nginx refuses the config, or, worse, a line like
    `proxy_set_header X-Real-IP $remote_addr;` inside a longer value silently loses the
    client address that logging, rate limiting and `hash` keys depend on.

    ## Example
    ```sh
    printf '%s\\n' "$tpl" | envsubst > /etc/nginx/conf.d/default.conf
    ```

    ## Use instead
    ```sh
    printf '%s\\n' "$tpl" | envsubst '${BACKEND_A} ${BACKEND_B}' > /etc/nginx/conf.d/default.conf
    ```
    In an unquoted heredoc, escape nginx's variables: `proxy_set_header Host \\$host;`.
    """

    code = "LBG403"
    name = "wiped-runtime-variable"
    severity = Severity.ERROR
    dialects = frozenset({Dialect.HAPROXY, Dialect.NGINX})

    def check_script(self, ctx: ScriptContext) -> Iterator[Finding]:
        for out in ctx.outputs:
            if out.dialect is not Dialect.NGINX:
                continue
            for n, row in enumerate(out.rows(), start=1):
                for span in row.spans:
                    sub = span.sub
                    if sub.kind not in ("shell", "envsubst") or not sub.missing:
                        continue
                    if not is_nginx_variable(sub.name):
                        continue
                    if sub.kind == "envsubst":
                        call = ctx.index.line(sub.anchor) if sub.anchor >= 0 else 0
                        how = f"envsubst without a variable list (line {call})"
                        fix = (
                            "give envsubst the list of the script's variables: "
                            "envsubst '${VAR1} ${VAR2}'"
                        )
                    else:
                        how = "the unquoted heredoc"
                        fix = f"escape it as \\${sub.name} (or quote the heredoc delimiter)"
                    yield self.finding(
                        f"{how} replaced nginx's ${sub.name} with an empty string: "
                        f"`{row.text.strip()}` ({out.target} line {n})",
                        ctx.location(sub.offset, sub.end),
                        context=(f"writes {out.target}",),
                        fix=fix,
                    )
