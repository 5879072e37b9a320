"""Sample-ratio mismatch: do the arms' exposures match the configured split?

Assignment hashes visitors into arms by weight, so exposures should follow the weights
up to multinomial noise. When they do not, something upstream loses or duplicates
visitors unevenly (a redirect that drops cookies in one variant, bots, a cache serving
one arm) and every other number in the report is suspect. The test is Pearson's
chi-square goodness of fit of the exposures against ``total × weight / Σ weights`` —
what ``scipy.stats.chisquare`` computes (the tests hold the two equal), with the
statistic summed here and the p-value from ``scipy.special.chdtrc``, because
``chisquare``'s argument handling costs 200 µs a call, a tenth of a report's budget.
Flagged at p < 0.001 — strict, because it is checked continually as data arrives, and
a false alarm stops an experiment.

Neutral results (``flagged`` False, ``p_value`` 1.0) with a reason: ``"single_arm"``;
``"too_few_exposures"`` while some arm expects fewer than ``MIN_EXPECTED`` exposures
(the chi-square approximation is poor below that). An arm with weight 0 takes no part
unless it has exposures, which is flagged outright (``"exposures_in_zero_weight_arm"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from daypart.experiments.stats.reasons import SINGLE_ARM, TOO_FEW_EXPOSURES, ZERO_WEIGHT_EXPOSED

SRM_THRESHOLD = 0.001
MIN_EXPECTED = 5.0


@dataclass(frozen=True, slots=True)
class SrmResult:
    p_value: float
    statistic: float
    flagged: bool
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    threshold: float = SRM_THRESHOLD
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Strict JSON (Starlette renders with allow_nan=False) has no Infinity.
        return {
            "p_value": self.p_value,
            "statistic": self.statistic if math.isfinite(self.statistic) else None,
            "flagged": self.flagged,
            "observed": list(self.observed),
            "expected": list(self.expected),
            "threshold": self.threshold,
            "reason": self.reason,
        }


def srm_check(
    exposures: Sequence[int],
    weights: Sequence[float],
    *,
    threshold: float = SRM_THRESHOLD,
    min_expected: float = MIN_EXPECTED,
) -> SrmResult:
    """Chi-square test of ``exposures`` (per arm) against the split ``weights``."""
    if len(exposures) != len(weights):
        raise ValueError(f"{len(exposures)} exposure counts for {len(weights)} weights")
    if len(exposures) == 0:
        raise ValueError("no arms given")
    observed = []
    for i, count in enumerate(exposures):
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
            raise ValueError(f"arm {i}: exposures must be a non-negative integer, got {count!r}")
        observed.append(int(count))
    shares = []
    for i, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.number):
            raise ValueError(f"arm {i}: weight must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"arm {i}: weight must be finite and not negative, got {weight}")
        shares.append(float(weight))
    total_weight = sum(shares)
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    total = sum(observed)
    expected = tuple(total * w / total_weight for w in shares)
    observed_t = tuple(observed)

    def neutral(reason: str) -> SrmResult:
        return SrmResult(1.0, 0.0, False, observed_t, expected, threshold, reason)

    if any(o > 0 and w == 0 for o, w in zip(observed, shares, strict=True)):
        return SrmResult(0.0, math.inf, True, observed_t, expected, threshold, ZERO_WEIGHT_EXPOSED)
    active = [i for i, w in enumerate(shares) if w > 0]
    if len(active) < 2:
        return neutral(SINGLE_ARM)
    if min(expected[i] for i in active) < min_expected:
        return neutral(TOO_FEW_EXPOSURES)
    statistic = sum((observed[i] - expected[i]) ** 2 / expected[i] for i in active)
    p_value = float(special.chdtrc(len(active) - 1, statistic))
    return SrmResult(
        p_value=p_value,
        statistic=statistic,
        flagged=p_value < threshold,
        observed=observed_t,
        expected=expected,
        threshold=threshold,
    )
