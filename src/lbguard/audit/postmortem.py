"""A postmortem skeleton written from the trail: the facts filled in, the judgement left out.

Everything a review needs to agree on before it can discuss causes is already in the
trail: when impact began, when an alert first said so, when the last alert resolved,
what happened in between, and the config change that came just before, with what it
did to predicted traffic. The Root cause and Actions sections are left empty on
purpose: those are for people to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lbguard.audit.durations import human, relative
from lbguard.audit.timeline import Event, first_bad


@dataclass
class Windows:
    first_bad: Event | None
    first_alert: Event | None
    resolved: Event | None
    change: Event | None

    @property
    def detection(self) -> float | None:
        if self.first_bad is None or self.first_alert is None:
            return None
        return (self.first_alert.at - self.first_bad.at).total_seconds()

    @property
    def resolution(self) -> float | None:
        if self.first_bad is None or self.resolved is None:
            return None
        return (self.resolved.at - self.first_bad.at).total_seconds()

    @property
    def recovery(self) -> float | None:
        """From the first alert to resolution: how long the responders took."""
        if self.first_alert is None or self.resolved is None:
            return None
        return (self.resolved.at - self.first_alert.at).total_seconds()


def windows(evs: Sequence[Event]) -> Windows:
    """The impact window's edges and the change that preceded it."""
    start = first_bad(evs)
    first_alert = next(
        (e for e in evs if e.kind == "alert" and e.record.body.get("state") == "firing"), None
    )
    resolved = _resolution(evs, first_alert, start)
    change = start if start is not None and start.kind == "deploy" else None
    if change is None and start is not None:
        change = next((e for e in reversed(evs) if e.kind == "deploy" and e.at <= start.at), None)
    return Windows(start, first_alert, resolved, change)


def _resolution(
    evs: Sequence[Event], first_alert: Event | None, start: Event | None
) -> Event | None:
    """When the last firing alert resolved (all fingerprints clear), or a clean audit
    after trouble when no alert ever fired."""
    if first_alert is not None:
        firing: set[str] = set()
        resolved: Event | None = None
        for ev in evs:
            if ev.kind != "alert" or ev.at < first_alert.at:
                continue
            body = ev.record.body
            key = str(
                body.get("fingerprint") or (body.get("kind"), body.get("pool"), body.get("server"))
            )
            if body.get("state") == "firing":
                firing.add(key)
                resolved = None
            elif body.get("state") == "resolved" and key in firing:
                firing.discard(key)
                if not firing:
                    resolved = ev
        return resolved if not firing else None
    if start is None:
        return None
    seen_bad = False
    for ev in evs:
        if ev.at < start.at:
            continue
        if ev.bad:
            seen_bad = True
        elif seen_bad and ev.kind in ("audit", "check"):
            return ev
    return None


def _change_section(change: Event | None, evs: Sequence[Event]) -> list[str]:
    if change is None:
        return ["No deploy was recorded before the first bad event in this window."]
    body = change.record.body
    out = [
        f"Deploy at {change.at:%Y-%m-%d %H:%M:%S} UTC (trail record #{change.record.seq}): "
        f"{body.get('note') or '(no note)'}."
    ]
    drift: list[dict[str, Any]] = list(body.get("drift") or [])
    source = "the deploy marker"
    if not drift:
        for ev in evs:
            if ev.at >= change.at and ev.kind == "audit":
                drift = [f for f in ev.record.body.get("findings", []) if f.get("kind") == "drift"]
                if drift:
                    source = f"the audit at {ev.at:%H:%M:%S} (record #{ev.record.seq})"
                    break
    if not drift:
        out += [
            "",
            "No drift was recorded for it. Record it next time with "
            "`lbguard trail mark deploy --config CONFIG`.",
        ]
        return out
    baselines = body.get("baselines") or {}
    against = ", ".join(f"#{v}" for v in sorted({v for v in baselines.values() if v}))
    out += [
        "",
        f"Semantic diff against the approved baseline {against or ''}".rstrip()
        + f", from {source}, largest traffic impact first:",
        "",
        "| change | traffic moved |",
        "|---|---|",
    ]
    for f in drift:
        moved = f"{f.get('impact', 0):.1%}" if f.get("impact") else "-"
        out.append(f"| {_md(str(f.get('message', '')))} | {moved} |")
    pools: dict[str, dict[str, Any]] = {}
    for f in drift:
        detail = f.get("detail") or {}
        if f.get("pool") and "shares_before" in detail and f["pool"] not in pools:
            pools[f["pool"]] = detail
    for pool, detail in pools.items():
        before, after = detail["shares_before"], detail["shares_after"]
        out += [
            "",
            f"Predicted shares of `{pool}` (the `lbguard diff` model; "
            f"{detail.get('pool_shift', 0):.1%} of its requests move):",
            "",
            "| server | before | after |",
            "|---|---|---|",
        ]
        for name in dict.fromkeys([*before, *after]):
            out.append(f"| {name} | {before.get(name, 0):.1%} | {after.get(name, 0):.1%} |")
        if "keys_remapped" in detail:
            out += ["", f"Hash keys remapped to another server: {detail['keys_remapped']:.1%}."]
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _clock(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def render_markdown(evs: Sequence[Event], since: datetime, until: datetime) -> str:
    w = windows(evs)
    alerts = [e for e in evs if e.kind == "alert" and e.record.body.get("state") == "firing"]
    title = alerts[0].record.body.get("summary") if alerts else None
    day = (w.first_bad.at if w.first_bad else since).strftime("%Y-%m-%d")
    out = [f"# Postmortem: {title or 'incident'} ({day})", "", "## Summary", ""]
    if w.first_bad is None:
        out.append(
            f"No bad event (alert, failed audit or check, bad health) was recorded between "
            f"{_clock(since)} and {_clock(until)}."
        )
    else:
        end = _clock(w.resolved.at) if w.resolved else "not resolved in this window"
        length = f" ({human(w.resolved.at - w.first_bad.at)})" if w.resolved else ""
        out += [
            f"- **Impact window**: {_clock(w.first_bad.at)} to {end}{length}",
            f"- **First bad event**: {_clock(w.first_bad.at)}, #{w.first_bad.record.seq} "
            f"{w.first_bad.what}",
        ]
        if w.first_alert is not None and w.detection is not None:
            out.append(
                f"- **Detection time**: {human(w.first_alert.at - w.first_bad.at)} "
                f"(first alert at {_clock(w.first_alert.at)}: {w.first_alert.what})"
            )
        else:
            out.append("- **Detection time**: no alert fired in this window")
        if w.resolved is not None:
            from_alert = (
                f"; {human(w.resolved.at - w.first_alert.at)} after the first alert"
                if w.first_alert
                else ""
            )
            out.append(
                f"- **Time to resolution**: {human(w.resolved.at - w.first_bad.at)} from the "
                f"first bad event{from_alert} (resolved at {_clock(w.resolved.at)}: "
                f"{w.resolved.what})"
            )
        else:
            out.append("- **Time to resolution**: not resolved in this window")
        pools = sorted({p for e in alerts for p in e.pools})
        servers = sorted(
            {str(e.record.body["server"]) for e in alerts if e.record.body.get("server")}
        )
        out.append(
            f"- **Alerts**: {len(alerts)} fired"
            + (f"; pools {', '.join(pools)}" if pools else "")
            + (f"; servers {', '.join(servers)}" if servers else "")
        )
    out += ["", "## Timeline", ""]
    if evs:
        out += ["| time (UTC) | relative | record | event |", "|---|---|---|---|"]
        for ev in evs:
            rel = relative(ev.at - w.first_bad.at) if w.first_bad else ""
            what = f"**{_md(ev.what)}**" if ev.bad or ev is w.first_bad else _md(ev.what)
            out.append(f"| {ev.at:%H:%M:%S} | {rel} | #{ev.record.seq} | {what} |")
    else:
        out.append("The trail has no records in this window.")
    out += ["", "## The change that preceded it", ""]
    out += _change_section(w.change, evs)
    out += [
        "",
        "## Root cause",
        "",
        "<!-- What made this possible? Write it after the review. -->",
        "",
        "## Actions",
        "",
        "| action | owner | due |",
        "|---|---|---|",
        "",
        f"_Generated by `lbguard postmortem` from the trail, {_clock(since)} to {_clock(until)}._",
    ]
    return "\n".join(out) + "\n"
