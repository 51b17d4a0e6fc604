"""One audit: is what is deployed approved, is what runs the file, does traffic still spread?

The configs are read once, through `lbguard check` (same parsers, rules, native check,
suppressions and redaction), and everything else (drift, new findings, predicted
shares) is computed from that one model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lbguard.audit import critical
from lbguard.audit.baselines import Baseline, latest_for, load
from lbguard.audit.drift import config_drift
from lbguard.audit.findings import AuditFinding, Kind
from lbguard.audit.normalise import ConfigState, config_state, state_hash
from lbguard.audit.recording import RECORDED_FINDINGS
from lbguard.errors import ConfigReadError, LbguardError
from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect
from lbguard.rule_settings import CommandSettings
from lbguard.sources import read_source
from lbguard.store import Store
from lbguard.store.canonical import utcnow
from lbguard.util import without_gc

STATE_VERSION = 1


def config_key(path: str) -> str:
    """Baselines are keyed by the config's real path, so `./haproxy.cfg` and the
    absolute path name the same approval."""
    return os.path.realpath(path)


def read_states(
    paths: Sequence[str],
    settings: CommandSettings,
    *,
    native: bool = True,
    dialect: Dialect | None = None,
    shares: bool = True,
) -> list[ConfigState]:
    """Every config's normalised state, read through `lbguard check`."""
    from lbguard.check import Unit, check_paths

    states: list[ConfigState] = []

    def keep(unit: Unit, config: Config, findings: list[Finding]) -> None:
        key = config_key(unit.paths[0])
        states.append(config_state(key, unit.paths, config, findings, shares=shares))

    check_paths(list(paths), settings, dialect=dialect, native=native, on_config=keep)
    read = {config_key(f.path) for st in states for f in st.config.files} | {
        st.key for st in states
    }
    for path in paths:
        if os.path.isfile(path) and config_key(path) not in read:
            # A config-writing script or template is checked, not audited: its output is.
            raise LbguardError(
                f"{path}: not a balancer config (a script or template?); audit and approve "
                "the config it writes"
            )
    return states


def approved_state(states: Iterable[ConfigState], settings: CommandSettings) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "configs": {s.key: s.state for s in states},
        "critical": critical.hashes(settings.audit.files),
    }


@dataclass
class AuditReport:
    at: datetime
    configs: list[str]
    baselines: dict[str, int | None]
    findings: list[AuditFinding]
    post_deploy: bool = False
    runtime: dict[str, Any] | None = None
    states: list[ConfigState] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in Kind}
        for f in self.findings:
            out[f.kind.value] += 1
        return out

    def failed(self, threshold: Severity = Severity.WARNING) -> bool:
        """`--post-deploy` fails on any drift or any error; otherwise on --fail-on."""
        if self.post_deploy:
            return any(f.kind is Kind.DRIFT or f.severity >= Severity.ERROR for f in self.findings)
        return any(f.severity >= threshold for f in self.findings)

    def as_json(self, threshold: Severity = Severity.WARNING) -> dict[str, Any]:
        return {
            "version": 1,
            "at": self.at.isoformat(),
            "configs": self.configs,
            "baselines": self.baselines,
            "post_deploy": self.post_deploy,
            "runtime": self.runtime,
            "findings": [f.as_json() for f in self.findings],
            "summary": {
                **self.counts(),
                "errors": sum(1 for f in self.findings if f.severity == Severity.ERROR),
                "warnings": sum(1 for f in self.findings if f.severity == Severity.WARNING),
                "infos": sum(1 for f in self.findings if f.severity == Severity.INFO),
            },
            "failed": self.failed(threshold),
        }

    def state_hashes(self) -> list[dict[str, str]]:
        from lbguard.audit.baselines import hash_list

        return hash_list(((s.key, state_hash(s.state)) for s in self.states), "config")

    def record_body(self, threshold: Severity = Severity.WARNING) -> dict[str, Any]:
        """The "audit" trail record: counts of everything, the most important findings."""
        body = self.as_json(threshold)
        body.pop("version")
        body.pop("at")
        body["findings"] = body["findings"][:RECORDED_FINDINGS]
        body["findings_total"] = len(self.findings)
        body["states"] = self.state_hashes()
        return body


def new_findings(
    old: dict[str, Any] | None, new: dict[str, Any], config: Config
) -> list[AuditFinding]:
    """Check findings whose fingerprint the baseline did not have."""
    if old is None:
        return []
    known = {f["fingerprint"] for f in old.get("findings", [])}
    out = []
    for f in new["findings"]:
        if f["fingerprint"] in known:
            continue
        out.append(
            AuditFinding(
                Kind.NEW_FINDINGS,
                Severity.parse(f["severity"]),
                f"{f['code']} [{f['rule']}] {f['message']}",
                ", ".join(f["context"]) or f["path"],
                path=f["path"],
                line=f["line"],
                detail={"code": f["code"], "rule": f["rule"]},
            )
        )
    return out


def _readable(paths: Sequence[str]) -> tuple[list[str], list[AuditFinding]]:
    ok: list[str] = []
    problems: list[AuditFinding] = []
    for path in paths:
        try:
            if os.path.isdir(path):
                ok.append(path)
                continue
            read_source(path)
        except ConfigReadError as exc:
            problems.append(
                AuditFinding(Kind.UNREADABLE_FILE, Severity.ERROR, exc.message, path, path=path)
            )
            continue
        ok.append(path)
    return ok, problems


def run_audit(
    paths: Sequence[str],
    settings: CommandSettings,
    store: Store,
    *,
    baseline_id: int | None = None,
    haproxy_stats: str | None = None,
    native: bool = True,
    post_deploy: bool = False,
    dialect: Dialect | None = None,
) -> AuditReport:
    """Audit `paths` against their approved baselines (or baseline `baseline_id`)."""
    # The model and the baseline are large and acyclic: collector passes over them
    # while the baseline's JSON is decoded would cost more than the decoding itself.
    with without_gc():
        return _run_audit(
            paths, settings, store, baseline_id, haproxy_stats, native, post_deploy, dialect
        )


def _run_audit(
    paths: Sequence[str],
    settings: CommandSettings,
    store: Store,
    baseline_id: int | None,
    haproxy_stats: str | None,
    native: bool,
    post_deploy: bool,
    dialect: Dialect | None,
) -> AuditReport:
    readable, findings = _readable(paths)
    states = (
        read_states(readable, settings, native=native, dialect=dialect, shares=False)
        if readable
        else []
    )
    chosen: Baseline | None = load(store, baseline_id) if baseline_id is not None else None
    used: dict[str, int | None] = {}
    newest: Baseline | None = chosen
    for st in states:
        baseline = chosen if chosen is not None else latest_for(store, st.key)
        used[st.key] = baseline.info.id if baseline else None
        if baseline is not None and (newest is None or baseline.info.id > newest.info.id):
            newest = baseline
        old = baseline.state["configs"].get(st.key) if baseline else None
        if baseline is not None and old is None:
            findings.append(
                AuditFinding(
                    Kind.DRIFT,
                    Severity.WARNING,
                    f"{st.key}: baseline {baseline.info.id} does not include this config",
                    st.key,
                    path=st.key,
                )
            )
            continue
        findings.extend(config_drift(st.key, old, st.state, st.config))
        findings.extend(new_findings(old, st.state, st.config))
    runtime: dict[str, Any] | None = None
    if haproxy_stats is not None:
        runtime = _runtime(haproxy_stats, states, findings)
    if settings.audit.files:
        approved = newest.state.get("critical") if newest is not None else None
        file_findings, _ = critical.audit_files(settings.audit.files, approved)
        findings.extend(file_findings)
    return AuditReport(
        utcnow(),
        [s.key for s in states] or list(paths),
        used,
        findings,
        post_deploy,
        runtime,
        states,
    )


def _runtime(
    endpoint: str, states: list[ConfigState], findings: list[AuditFinding]
) -> dict[str, Any]:
    from lbguard.audit.runtime import RuntimeSnapshot, compare_runtime
    from lbguard.haproxy_runtime import RuntimeClient

    snap = RuntimeSnapshot.read(RuntimeClient(endpoint))
    for st in states:
        if st.config.dialect is Dialect.HAPROXY:
            files = [f.path for f in st.config.files]
            findings.extend(compare_runtime(st.config, snap, files))
    return {
        "endpoint": endpoint,
        "pid": snap.info.get("Pid"),
        "version": snap.info.get("Version"),
        "started_at": snap.started_at(),
        "servers": len(snap.servers),
    }
