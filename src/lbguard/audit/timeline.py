"""The incident timeline, read from the trail: what happened, in order, against one clock.

Times are relative to the first bad event, because that is the question an incident
review asks of every line: how long after things went wrong did this happen? The
first bad event is the first record that shows trouble (an alert firing, a failed
audit or check, a health change to bad), or, when a deploy came before that trouble
with no other deploy in between, that deploy: the change is where impact began.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lbguard.audit.findings import Kind
from lbguard.store import TrailRecord

_BAD_HEALTH = frozenset({"down", "bad", "fail", "failed", "failing", "unhealthy", "critical"})
CHANGE_KINDS = ("deploy",)


@dataclass(frozen=True)
class Event:
    record: TrailRecord
    what: str
    bad: bool
    pools: frozenset[str]

    @property
    def at(self) -> datetime:
        return self.record.at

    @property
    def kind(self) -> str:
        return self.record.kind


def _pools(record: TrailRecord) -> frozenset[str]:
    body = record.body
    found = set()
    if isinstance(body.get("pool"), str) and body["pool"]:
        found.add(body["pool"])
    for f in body.get("findings", []) if isinstance(body.get("findings"), list) else []:
        if isinstance(f, dict) and f.get("pool"):
            found.add(str(f["pool"]))
    for f in body.get("drift", []) if isinstance(body.get("drift"), list) else []:
        if isinstance(f, dict) and f.get("pool"):
            found.add(str(f["pool"]))
    return frozenset(found)


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict):
        return ""
    return ", ".join(f"{n} {k}" for k, n in counts.items() if isinstance(n, int) and n)


def describe(record: TrailRecord) -> tuple[str, bool]:
    """One line for the record, and whether it shows trouble."""
    b = record.body
    kind = record.kind
    if kind == "deploy":
        text = f"deploy: {b.get('note') or '(no note)'}"
        drift = b.get("drift") or []
        if drift:
            top = drift[0].get("message", "") if isinstance(drift[0], dict) else ""
            text += f" ({b.get('drift_total', len(drift))} changes; largest: {top})"
        return text, False
    if kind == "baseline":
        return (
            f"baseline #{b.get('id')} approved: {b.get('note') or '(no note)'} "
            f"({b.get('pools', 0)} pools, {b.get('servers', 0)} servers)",
            False,
        )
    if kind == "audit":
        if b.get("error"):
            return f"audit could not run: {b['error']}", True
        failed = bool(b.get("failed"))
        summary = b.get("summary") or {}
        counts = _counts({k.value: summary.get(k.value, 0) for k in Kind})
        verdict = "FAILED" if failed else "passed"
        return f"audit {verdict}: {counts or 'no findings'}", failed
    if kind == "check":
        failed = bool(b.get("failed"))
        summary = b.get("summary") or {}
        return (
            f"check {'FAILED' if failed else 'passed'}: {summary.get('errors', 0)} errors, "
            f"{summary.get('warnings', 0)} warnings",
            failed,
        )
    if kind == "alert":
        state = str(b.get("state", "?"))
        where = "/".join(str(x) for x in (b.get("pool"), b.get("server")) if x)
        text = f"alert {state}: [{b.get('severity', '?')}] {b.get('kind', '?')}"
        if where:
            text += f" {where}"
        if b.get("summary"):
            text += f": {b['summary']}"
        return text, state == "firing"
    if kind == "action":
        dry = " (dry run)" if b.get("dry_run") else ""
        return (
            f"action{dry}: {b.get('what', '?')} by {b.get('who', '?')}"
            + (f": {b['why']}" if b.get("why") else ""),
            False,
        )
    if kind == "health":
        state = str(b.get("state", "")).lower()
        text = f"health: {b.get('summary') or state or '?'}"
        return text, state in _BAD_HEALTH or b.get("ok") is False
    note = b.get("note") or b.get("summary") or ""
    return f"{kind}: {note}".rstrip(": "), False


def events(records: Iterable[TrailRecord], pool: str | None = None) -> list[Event]:
    out = []
    for r in records:
        what, bad = describe(r)
        pools = _pools(r)
        if pool is not None and pools and pool not in pools:
            continue
        if pool is not None and r.kind == "alert" and not pools:
            continue
        out.append(Event(r, what, bad, pools))
    return out


def first_bad(evs: Sequence[Event]) -> Event | None:
    """The deploy that preceded the first trouble, or the first trouble itself."""
    for i, ev in enumerate(evs):
        if not ev.bad:
            continue
        for prior in reversed(evs[:i]):
            if prior.kind in CHANGE_KINDS:
                return prior
        return ev
    return None


def render_text(evs: Sequence[Event], anchor: Event | None) -> str:
    from lbguard.audit.durations import relative

    lines = []
    for ev in evs:
        rel = relative(ev.at - anchor.at) if anchor else ""
        mark = "!" if ev.bad else ("*" if ev is anchor else " ")
        lines.append(f"{ev.at:%Y-%m-%d %H:%M:%S} {rel:>11} {mark} #{ev.record.seq:<6} {ev.what}")
    return "\n".join(lines)
