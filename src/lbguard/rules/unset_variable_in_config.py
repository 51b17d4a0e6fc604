"""LBG401: a script or template variable that is unset or empty where a server is written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect
from lbguard.rules.script_base import ScriptRule

# Only for annotations: importing the script interpreter costs `check` of a plain
# config 40 ms at start-up.
if TYPE_CHECKING:
    from lbguard.scripts.context import RenderedOutput, ScriptContext
    from lbguard.scripts.rendered import PStr, Span

_CONSEQUENCE = {
    "address": "an empty host is read as 0.0.0.0, which for a server means 'the address the "
    "client connected to' (the balancer itself), so this server's share of traffic never "
    "reaches a web server",
    "port": "the server has no port, so the balancer uses the client's destination port "
    "(HAProxy) or 80 (nginx), not the service's",
    "server name": "the words of the line shift left: the address becomes the name and the "
    "next option is read as the address",
    "weight": "the weight keyword has no value, so the line does not mean what it says",
    "balance argument": "the balancing algorithm is not the one the script meant",
    "server count": "the server-template has no count",
}


_KEYWORDS = frozenset({"server", "server-template", "balance", "hash"})
_SECTIONS = frozenset({"backend", "listen", "upstream", "frontend", "defaults"})


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[^\s;]+", text)]


def _field(dialect: Dialect, keyword: str, words: list[tuple[int, int, str]], pos: int) -> str:
    """Which part of a `server` or `balance` line the (empty) expansion at `pos` was."""
    index = None
    word = ""
    offset_in_word = 0
    for k, (start, end, text) in enumerate(words):
        if start <= pos < end or (start == pos):
            index, word, offset_in_word = k, text, pos - start
            break
        if end == pos:
            # Glued to the end of a word: `10.0.0.1:${PORT}` with PORT empty.
            index, word, offset_in_word = k, text, pos - start
    if index is None:
        index = sum(1 for _, end, _ in words if end <= pos)
    previous = words[index - 1][2] if 0 < index <= len(words) else ""
    if keyword == "balance" or keyword == "hash":
        return "balance argument" if index >= 1 else ""
    if previous == "weight" or word.startswith("weight="):
        return "weight"
    colon = word.rfind(":") if word and not word.startswith("[") else -1
    address_index = 1 if dialect is Dialect.NGINX else (3 if keyword == "server-template" else 2)
    if index == address_index:
        return "port" if 0 <= colon < offset_in_word else "address"
    if dialect is Dialect.HAPROXY and index == 1:
        return "server name"
    if keyword == "server-template" and index == 2:
        return "server count"
    return ""


class UnsetVariableInConfig(ScriptRule):
    """A variable is unset or empty where a server's address, port, name or weight is written.

    ## What it does
    Follows every variable a script or template expands into the config it writes and
    reports the ones that expand to nothing inside a `server` line (its name, address,
    port or weight) or in the balancing algorithm, naming the variable and where its
    value came from.

    ## Why is this bad?
    This is the incident: an inventory lookup returned nothing, the heredoc wrote
    `server web-02 :80`, and HAProxy accepted it. An empty host means "the address the
    client connected to", so the server forwards traffic back to the balancer instead
    of to a web server, while the remaining servers carry everything. Nothing fails
    loudly: the config is valid.

    ## Example
    ```sh
    WEB2_IP=$(inventory get web-02.ip)   # returned nothing
    cat > /etc/haproxy/haproxy.cfg <<EOF
    backend app
        server web-01 ${WEB1_IP}:80 check
        server web-02 ${WEB2_IP}:80 check
    EOF
    ```

    ## Use instead
    ```sh
    set -eu
    WEB2_IP=$(inventory get web-02.ip)
    : "${WEB2_IP:?inventory has no web-02.ip}"
    cat > /etc/haproxy/haproxy.cfg <<EOF
    backend app
        server web-01 ${WEB1_IP}:80 check
        server web-02 ${WEB2_IP}:80 check
    EOF
    ```
    Check the script with the values it will see: `lbguard check --var WEB2_IP= gen.sh`.
    """

    code = "LBG401"
    name = "unset-variable-in-config"
    severity = Severity.ERROR

    def check_script(self, ctx: ScriptContext) -> Iterator[Finding]:
        seen: set[tuple[int, str]] = set()
        for out in ctx.outputs:
            section = ""
            for line, row in enumerate(out.rows(), start=1):
                words = _words(row.text)
                keyword = words[0][2] if words else ""
                if keyword in _SECTIONS and len(words) > 1:
                    section = f"{keyword} {words[1][2]}"
                if keyword not in _KEYWORDS or "{" in row.text:
                    continue
                for span in row.spans:
                    if not span.sub.missing or span.sub.kind == "literal":
                        continue
                    what = _field(out.dialect, keyword, words, span.start)
                    if not what:
                        continue
                    key = (span.sub.offset, what)
                    if key in seen:
                        continue
                    seen.add(key)
                    yield self._finding(ctx, out, section, line, row, span, what)

    def _finding(
        self,
        ctx: ScriptContext,
        out: RenderedOutput,
        section: str,
        line: int,
        row: PStr,
        span: Span,
        what: str,
    ) -> Finding:
        sub = span.sub
        state = "unset" if sub.state == "unset" else "empty"
        label = f"${{{sub.name}}}" if sub.kind in ("shell", "envsubst") else f"{{{{ {sub.name} }}}}"
        if sub.kind == "template":
            label = sub.name
        where = f" (from {sub.origin})" if sub.origin and sub.origin != "template" else ""
        message = (
            f"{label} is {state} here{where}, so the {what} is missing in "
            f"`{row.text.strip()}` ({out.target} line {line}): {_CONSEQUENCE[what]}"
        )
        fix = (
            f'set {sub.name}; make the script stop when it is empty: `: "${{{sub.name}:?}}"` '
            "or `set -u`"
            if sub.kind in ("shell", "envsubst")
            else f"define {sub.name} in the template variables, or use `| mandatory`"
        )
        return self.finding(
            message,
            ctx.span_location(out, line, span),
            context=tuple(c for c in (section, f"{out.target}:{line}") if c),
            fix=fix,
        )
