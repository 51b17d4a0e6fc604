"""LBG404: a script writes the balancer config and reloads without validating it first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lbguard.findings import Finding, Severity
from lbguard.rules.script_base import ScriptRule

if TYPE_CHECKING:  # annotations only: see unset_variable_in_config
    from lbguard.scripts.context import ScriptContext

_IDIOM = {
    "haproxy": 'haproxy -c -f "$OUT" && systemctl reload haproxy',
    "nginx": "nginx -t && nginx -s reload",
}


class ReloadWithoutValidation(ScriptRule):
    """The script reloads the balancer without checking the config it just wrote.

    ## What it does
    Reports `systemctl reload haproxy`, `service nginx reload`, `nginx -s reload` and
    similar commands that are not preceded by a validation whose exit status is
    checked: `haproxy -c`, `nginx -t` or `lbguard check` in an `if`, before `&&` or
    `||`, under `set -e`, or followed by a test of `$?`.

    ## Why is this bad?
    A broken config reaches the reload. HAProxy and nginx keep the old process when
    the new config does not load, so the deploy "succeeds" while the balancer serves
    the previous config; on a fresh host or after a restart, the balancer does not
    start at all. Either way nobody is told.

    ## Example
    ```sh
    cat > /etc/haproxy/haproxy.cfg <<EOF
    ...
    EOF
    systemctl reload haproxy
    ```

    ## Use instead
    ```sh
    cat > /etc/haproxy/haproxy.cfg.new <<EOF
    ...
    EOF
    haproxy -c -f /etc/haproxy/haproxy.cfg.new &&
      mv /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg &&
      systemctl reload haproxy
    ```
    """

    code = "LBG404"
    name = "reload-without-validation"
    severity = Severity.WARNING

    def check_script(self, ctx: ScriptContext) -> Iterator[Finding]:
        if ctx.analysis is None:
            return
        for reload in ctx.analysis.reloads:
            if reload.validated:
                continue
            unchecked = [v for v in ctx.analysis.validations if v.offset < reload.offset]
            detail = (
                f" (`{unchecked[-1].command}` at line {ctx.index.line(unchecked[-1].offset)} "
                "runs, but its exit status is ignored)"
                if unchecked
                else ""
            )
            yield self.finding(
                f"`{reload.command}` reloads {reload.balancer} without validating the config "
                f"first{detail}; a broken config is only noticed when the reload fails",
                ctx.location(reload.offset, reload.end),
                fix=f"validate, then reload: {_IDIOM[reload.balancer]}",
            )
