"""Alert kinds and the detection thresholds: small, so settings can validate without detection.

Only `lbguard watch` validates the `[watch]` table (`lbguard.watch.settings`); other
commands keep it raw and never import this package.
"""

from __future__ import annotations

from dataclasses import dataclass

CONCENTRATION = "concentration"
SHARE_DEVIATION = "share-deviation"
STARVATION = "starvation"
OVERLOAD = "overload"
NO_ACTIVE_SERVER = "no-active-server"
RUNNING_ON_BACKUP = "running-on-backup"
WEIGHT_DRIFT = "weight-drift"
BLIND = "blind"

KINDS = (
    CONCENTRATION,
    SHARE_DEVIATION,
    STARVATION,
    OVERLOAD,
    NO_ACTIVE_SERVER,
    RUNNING_ON_BACKUP,
    WEIGHT_DRIFT,
    BLIND,
)
SEVERITY = {
    CONCENTRATION: "critical",
    SHARE_DEVIATION: "warning",
    STARVATION: "warning",
    OVERLOAD: "warning",
    NO_ACTIVE_SERVER: "critical",
    RUNNING_ON_BACKUP: "warning",
    WEIGHT_DRIFT: "warning",
    BLIND: "critical",
}


@dataclass(frozen=True)
class Thresholds:
    """Every knob of detection; defaults are the documented ones (docs/watch.md)."""

    min_volume: int = 100  # requests in the window before a share can alarm (Envoy's volume)
    window: int = 10  # intervals in the χ² sliding window
    skew: float = 2.0  # the CUSUM's alternative: one server gets this many times its share
    cusum_h: float = 12.0  # alarm level; Wald: ≥ e^12 ≈ 160,000 evaluations between false alarms
    chi_alpha: float = 1e-6  # χ² confirmation p-value
    min_deviation: float = 0.05  # and at least this many share points off (effect size)
    concentration: float = 0.9  # one server takes ≥ this share while ≥ 2 servers are UP
    starvation_expected: float = 20.0  # expected requests that must have been missed (e^-20)
    queue_polls: int = 3  # qcur > 0 for this many polls in a row
    session_ratio: float = 0.9  # scur ≥ this fraction of slim
    rtime_factor: float = 4.0  # response time above baseline + factor × deviation
    rtime_floor_ms: float = 50.0  # ... and at least this many ms above the baseline
    rtime_alpha: float = 0.1  # EWMA weight of each new response-time sample
    rtime_warmup: int = 10  # samples before the baseline is trusted
    outlier_factor: float = 1.9  # Envoy's success-rate stdev factor
    outlier_min_hosts: int = 5  # hosts needed for the mean − factor·σ rule
    max_5xx_ratio: float = 0.2  # the fixed rule for smaller pools
    min_5xx_ratio: float = 0.05  # never an outlier below this 5xx ratio
    min_responses: int = 20  # responses a host needs in the window to be judged
    concurrency_min: int = 20  # leastconn: connections in use before shares are judged
    concurrency_deviation: float = 0.3  # leastconn: share of connections this far off
    blind_polls: int = 3  # failed polls in a row before the blind alert
