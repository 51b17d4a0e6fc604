"""The statistics behind detection, as pure functions of numbers.

* A multinomial CUSUM: for each server j, the log-likelihood ratio of the observed
  counts under "server j gets `skew` times its share" (the others scaled down) against
  the expected shares, accumulated and floored at zero (Page's CUSUM). Under the
  expected shares the drift per request is −KL(p‖q) < 0, so the statistic hugs zero;
  under the alternative it grows by KL(q‖p) per request. Wald's bound gives an average
  run length to a false alarm of at least e^h evaluations per server.
* Pearson's χ² on a sliding window, with its p-value from the regularised incomplete
  gamma function, to confirm that the deviation is real and not a CUSUM artefact.
* An EWMA of a value and of its absolute deviation (a server's own response-time
  baseline), and Envoy's success-rate outlier rule (mean − factor·σ over ≥ N hosts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lbguard.model import positional_constructor


def skewed_alternative(expected: Mapping[str, float], target: str, skew: float) -> dict[str, float]:
    """Expected shares with `target` multiplied by `skew` (capped at 0.99), the rest rescaled."""
    p = expected[target]
    q_target = min(p * skew, 0.99)
    rest = 1.0 - p
    scale = (1.0 - q_target) / rest if rest > 0 else 0.0
    return {
        name: (q_target if name == target else share * scale) for name, share in expected.items()
    }


def log_likelihood_ratio(
    counts: Mapping[str, int], expected: Mapping[str, float], alternative: Mapping[str, float]
) -> float:
    """Σ n_i ln(q_i / p_i) over servers with an expected share; +inf when p_i = 0 < n_i."""
    total = 0.0
    for name, p in expected.items():
        n = counts.get(name, 0)
        if n == 0:
            continue
        q = alternative.get(name, 0.0)
        if p <= 0.0:
            return math.inf
        if q <= 0.0:
            return -math.inf
        total += n * math.log(q / p)
    return total


def skew_llrs(
    counts: Mapping[str, int], expected: Mapping[str, float], skew: float
) -> dict[str, float]:
    """`log_likelihood_ratio` against `skewed_alternative` for every server, in O(servers).

    Under the alternative for j, every other server's share is scaled by the same
    factor, so Σ_{i≠j} n_i ln(scale_j) = (N − n_j) ln(scale_j): one pass, not one per j.
    """
    total = sum(counts.get(name, 0) for name in expected)
    out: dict[str, float] = {}
    for name, p in expected.items():
        if p <= 0.0:
            continue
        n = counts.get(name, 0)
        q = min(p * skew, 0.99)
        scale = (1.0 - q) / (1.0 - p) if p < 1.0 else 0.0
        llr = n * math.log(q / p) if n else 0.0
        rest = total - n
        if rest:
            llr = -math.inf if scale <= 0.0 else llr + rest * math.log(scale)
        out[name] = llr
    return out


def cusum_step(statistic: float, llr: float, cap: float) -> float:
    """Page's CUSUM update, capped so that the alarm clears soon after the cause is fixed."""
    return min(max(0.0, statistic + llr), cap)


def chi_square(counts: Mapping[str, int], expected: Mapping[str, float]) -> tuple[float, int]:
    """Pearson's statistic and degrees of freedom over servers with a positive expected share."""
    total = sum(counts.get(name, 0) for name in expected)
    cells = [(counts.get(name, 0), p * total) for name, p in expected.items() if p > 0]
    if total == 0 or len(cells) < 2:
        return 0.0, 0
    stat = sum((n - e) ** 2 / e for n, e in cells)
    return stat, len(cells) - 1


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(χ²_dof ≥ statistic): the upper regularised incomplete gamma Q(dof/2, statistic/2)."""
    if dof <= 0:
        return 1.0
    if statistic <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, statistic / 2.0)


def _gamma_q(a: float, x: float) -> float:
    if x < a + 1.0:
        # Series for P(a, x), accurate when x is small against a.
        term = total = 1.0 / a
        ap = a
        for _ in range(500):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # Lentz's continued fraction for Q(a, x).
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


@dataclass(frozen=True, slots=True)
class Baseline:
    """An exponentially weighted mean and mean absolute deviation, with how many samples fed it."""

    mean: float
    deviation: float
    samples: int

    def update(self, value: float, alpha: float) -> Baseline:
        if self.samples == 0:
            return _new_baseline(value, 0.0, 1)
        dev = abs(value - self.mean)
        return _new_baseline(
            self.mean + alpha * (value - self.mean),
            self.deviation + alpha * (dev - self.deviation),
            self.samples + 1,
        )

    def is_high(self, value: float, factor: float, floor: float) -> bool:
        """`value` above mean + factor·deviation and at least `floor` above the mean."""
        return value > self.mean + max(factor * self.deviation, floor)


# Called for every server on every poll: the fast constructor (see model.py).
_new_baseline = positional_constructor(Baseline)


def success_rate_outliers(
    rates: Mapping[str, float], *, factor: float = 1.9, min_hosts: int = 5, fixed: float = 0.8
) -> set[str]:
    """Hosts whose success rate is an outlier among their peers (Envoy's success_rate rule).

    With at least `min_hosts` hosts: below mean − factor·σ of the pool. With fewer, the
    mean of a handful says little, so only a success rate below the fixed `fixed` counts.
    """
    if not rates:
        return set()
    if len(rates) < min_hosts:
        return {name for name, rate in rates.items() if rate < fixed}
    values = list(rates.values())
    mean = sum(values) / len(values)
    sigma = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    threshold = mean - factor * sigma
    return {name for name, rate in rates.items() if rate < threshold}
