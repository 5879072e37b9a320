"""Bayesian statistics for daypart's experiments: pure functions over plain counts.

No store, no HTTP: counts in, frozen result dataclasses out (``to_dict()`` for JSON).

- ``analyze(arms, control=0)`` (``conversion``) — conversion experiments under a Beta(1, 1)
  prior: per arm the posterior mean ``rate`` and its 95% ``rate_interval``;
  ``prob_beat_control`` (exact for two arms), ``prob_best``, ``expected_loss`` and the
  ``uplift_interval`` of ``p_i / p_control − 1``, all by deterministic quadrature
  (``compare``), never Monte Carlo. ``analyze_many`` does the same for many experiments
  or segments in one vectorised call.
- ``analyze_revenue(arms, control=0)`` (``revenue``) — revenue per visitor, from one
  ``ArmCounts`` per arm (``inputs``).
- ``srm_check(exposures, weights)`` (``srm``) — sample-ratio mismatch.

Degenerate data gives neutral results with a reason code (``reasons``); misuse raises
``ValueError``.
"""

from daypart.experiments.stats.beta import CREDIBLE_LEVEL, credible_interval
from daypart.experiments.stats.conversion import ArmResult, analyze, analyze_many
from daypart.experiments.stats.inputs import ArmCounts
from daypart.experiments.stats.reasons import (
    ALL_CONVERTED,
    NO_CONVERSIONS,
    NO_DATA,
    SINGLE_ARM,
    TOO_FEW_CONVERSIONS,
    TOO_FEW_EXPOSURES,
)
from daypart.experiments.stats.revenue import (
    RevenueResult,
    analyze_revenue,
    analyze_revenue_many,
)
from daypart.experiments.stats.srm import SRM_THRESHOLD, SrmResult, srm_check

RevenueInput = ArmCounts  # the name before revenue and conversion shared one input type

__all__ = [
    "ALL_CONVERTED",
    "CREDIBLE_LEVEL",
    "NO_CONVERSIONS",
    "NO_DATA",
    "SINGLE_ARM",
    "SRM_THRESHOLD",
    "TOO_FEW_CONVERSIONS",
    "TOO_FEW_EXPOSURES",
    "ArmCounts",
    "ArmResult",
    "RevenueInput",
    "RevenueResult",
    "SrmResult",
    "analyze",
    "analyze_many",
    "analyze_revenue",
    "analyze_revenue_many",
    "credible_interval",
    "srm_check",
]
