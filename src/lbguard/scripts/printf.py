"""`printf FORMAT ARGS...` as bash's builtin formats it, keeping each character's origin.

`printf '    server api-%02d %s:%s check\\n' "$i" "$ip" "$PORT"` is how many scripts
write server lines; the rendered line must match bash byte for byte, and its
address must still point at the `"$ip"` that produced it.
"""

from __future__ import annotations

import re

from lbguard.scripts.rendered import PStr
from lbguard.util import is_digits

_SPEC = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?([diouxXcsbfeEgGq%])")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "e": "\x1b",
    "E": "\x1b",
}


class Stop(Exception):
    """`\\c` in a %b argument: printf stops producing output."""


def unescape(text: PStr, *, in_b: bool = False) -> PStr:
    """Backslash escapes of a printf format (or of a %b argument)."""
    out = PStr()
    s = text.text
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out.append(text.slice(i, i + 1))
            i += 1
            continue
        nxt = s[i + 1]
        origin = text.origins[i] if i < len(text.origins) else -1
        if nxt in _ESCAPES:
            out.append(PStr.at(_ESCAPES[nxt], origin))
            i += 2
        elif nxt == "c" and in_b:
            raise Stop
        elif nxt in "01234567":
            m = re.match(r"0?[0-7]{1,3}" if in_b else r"[0-7]{1,3}", s[i + 1 : i + 5])
            assert m is not None
            out.append(PStr.at(chr(int(m.group(0), 8) & 0xFF), origin))
            i += 1 + len(m.group(0))
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2 : i + 4])
            if m is None:
                out.append(text.slice(i, i + 2))
                i += 2
            else:
                out.append(PStr.at(chr(int(m.group(0), 16)), origin))
                i += 2 + len(m.group(0))
        else:
            out.append(text.slice(i, i + 2))
            i += 2
    return out


def _integer(text: str) -> int:
    t = text.strip()
    if t[:1] in ("'", '"') and len(t) >= 2:
        return ord(t[1])
    m = re.match(r"[-+]?(0[xX][0-9a-fA-F]+|0[0-7]*|\d+)", t)
    if m is None:
        return 0
    num = m.group(0)
    sign = -1 if num.startswith("-") else 1
    body = num.lstrip("+-")
    if body.lower().startswith("0x"):
        return sign * int(body, 16)
    if body.startswith("0") and len(body) > 1:
        return sign * int(body, 8)
    return sign * int(body)


def printf(fmt: PStr, args: list[PStr]) -> PStr:
    """What bash's printf writes for this format and these arguments."""
    out = PStr()
    fmt = unescape(fmt)
    remaining = list(args)
    first = True
    try:
        while first or remaining:
            first = False
            consumed = _one_pass(fmt, remaining, out)
            if not consumed:
                break
    except Stop:
        pass
    return out


def _one_pass(fmt: PStr, remaining: list[PStr], out: PStr) -> bool:
    s = fmt.text
    pos = 0
    consumed = False
    for m in _SPEC.finditer(s):
        out.append(fmt.slice(pos, m.start()))
        pos = m.end()
        flags, width, precision, conv = m.group(1), m.group(2), m.group(3), m.group(4)
        origin = fmt.origins[m.start()] if m.start() < len(fmt.origins) else -1
        if conv == "%":
            out.append(PStr.at("%", origin))
            continue

        def take() -> PStr | None:
            nonlocal consumed
            if remaining:
                consumed = True
                return remaining.pop(0)
            return None

        if width == "*":
            w = take()
            width = str(_integer(w.text)) if w is not None else ""
        if precision == "*":
            p = take()
            precision = str(_integer(p.text)) if p is not None else ""
        arg = take()
        spec = "%" + flags + (width or "") + (f".{precision}" if precision is not None else "")
        if conv in "sbq":
            value = arg if arg is not None else PStr()
            if conv == "b":
                value = unescape(value, in_b=True)
            if conv == "q":
                value = PStr.at(value.text, origin)
            text = value.text
            if precision not in (None, ""):
                value = value.slice(0, int(precision))
                text = value.text
            elif precision == "":
                value = value.slice(0, 0)
                text = ""
            pad = (
                max(int(width or 0) - len(text), 0) if width and is_digits(width.lstrip("-")) else 0
            )
            left = "-" in flags or (width or "").startswith("-")
            if pad and not left:
                out.append(PStr.at(" " * pad, origin))
            out.append(value)
            if pad and left:
                out.append(PStr.at(" " * pad, origin))
            continue
        raw = arg.text if arg is not None else ""
        where = arg.origins[0] if arg is not None and arg.origins else origin
        if conv == "c":
            rendered = raw[:1]
        elif conv in "diouxX":
            n = _integer(raw)
            if conv in "ouxX" and n < 0:
                n &= (1 << 64) - 1
            rendered = (spec + ("d" if conv == "i" else conv)) % n
        else:
            try:
                number = float(raw.strip() or "0")
            except ValueError:
                number = 0.0
            rendered = (spec + conv) % number
        piece = PStr.at(rendered, where)
        if arg is not None:
            for span in arg.spans:
                piece.add_span(0, len(rendered), span.sub)
        out.append(piece)
    out.append(fmt.slice(pos))
    return consumed
