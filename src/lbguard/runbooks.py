"""Where each alert's and audit finding's runbook lives on the documentation site.

Alerts and findings carry `runbook_url` so that whoever is paged lands on what to
look at first. The kinds are listed here, once, so a test can hold every kind to
having a page, and every page to being reachable from the site's navigation.
"""

from __future__ import annotations

RUNBOOK_BASE = "https://lbguard.dev/runbooks/"

ALERT_KINDS = (
    "concentration",
    "share-deviation",
    "starvation",
    "overload",
    "no-active-server",
    "running-on-backup",
    "weight-drift",
    "blind",
    "remediation-panic",  # raised by watch --remediate, not by detection
)
AUDIT_KINDS = (
    "drift",
    "runtime-mismatch",
    "stale-reload",
    "validator-failure",
    "new-findings",
    "unreadable-file",
)


def runbook_url(kind: str) -> str:
    """The runbook page of an alert or audit finding kind."""
    if kind not in ALERT_KINDS and kind not in AUDIT_KINDS:
        raise ValueError(f"no runbook for kind {kind!r}")
    return f"{RUNBOOK_BASE}{kind}/"
