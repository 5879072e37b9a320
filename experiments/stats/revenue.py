"""Revenue per visitor, for goals whose conversions carry a value (an order's amount).

Model. A visitor's revenue is ``R = C · V``: ``C`` whether they converted, ``V`` the value
of their conversion. So revenue per visitor is ``μ = p · m``, with

- ``p``, the conversion rate: ``Beta(1 + conversions, 1 + visitors − conversions)``, the
  same posterior as in ``analyze``;
- ``m``, the mean value per conversion: with the values Normal(m, σ²) and the reference
  prior ``1/σ``, the posterior of ``m`` is Student-t with ``conversions − 1`` degrees of
  freedom, centred on the sample mean ``S / c`` with scale ``s / √c`` (``s²`` the sample
  variance from the sums ``S`` and ``Q`` of values and of squared values). Every
  conversion counts, one without a value as 0.

``p`` and ``m`` are independent a posteriori (the likelihood factorises), so ``μ``'s
posterior mean and variance are exact: ``E μ = E p · E m`` and
``Var μ = E p² · E m² − (E p · E m)²`` with ``Var m = s²/c · ν/(ν − 2)``, ``ν = c − 1``.

Combination (delta method). The difference ``μ_i − μ_control`` is taken as Normal with
those exact means and variances: ``P(μ_i > μ_c) = Φ(Δ / √(v_i + v_c))``; the expected
incremental revenue per 1,000 visitors is ``1000 Δ`` with the interval
``1000 (Δ ± z √(v_i + v_c))``. By the central limit theorem this is accurate once each arm
has a few dozen conversions — tested against a Monte Carlo of the exact model to 0.005 in
probability at 200 conversions per arm (``tests/experiments/test_revenue.py``), with
the interval's coverage checked in a seeded simulation. An arm with fewer than
``MIN_CONVERSIONS`` conversions has no finite variance for ``m`` (ν ≤ 2): it, and every
comparison involving it, is neutral with the reason ``"too_few_conversions"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from daypart.experiments.stats._grid import BoolArray, FloatArray
from daypart.experiments.stats.beta import CREDIBLE_LEVEL
from daypart.experiments.stats.inputs import ArmCounts
from daypart.experiments.stats.reasons import NO_DATA, SINGLE_ARM, TOO_FEW_CONVERSIONS

MIN_CONVERSIONS = 4
"""The Student-t posterior of the mean value has a variance from 4 conversions (ν = 3)."""
PER_VISITORS = 1000


@dataclass(frozen=True, slots=True)
class RevenueResult:
    """One arm's revenue per visitor and its comparison with the control.

    ``revenue_per_visitor`` is the posterior mean of ``μ``; ``incremental_per_1000`` the
    expected extra revenue per 1,000 visitors had they all seen this arm rather than the
    control. Intervals are at ``CREDIBLE_LEVEL``; None where the data cannot support one.
    The control's comparison fields are 0.5 and 0 by convention (as in ``ArmResult``)."""

    visitors: int
    conversions: int
    revenue: float
    value_per_conversion: float | None
    revenue_per_visitor: float
    revenue_per_visitor_interval: tuple[float, float] | None
    prob_beat_control: float
    incremental_per_1000: float
    incremental_per_1000_interval: tuple[float, float] | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def pair(value: tuple[float, float] | None) -> list[float] | None:
            return None if value is None else list(value)

        return {
            "visitors": self.visitors,
            "conversions": self.conversions,
            "revenue": self.revenue,
            "value_per_conversion": self.value_per_conversion,
            "revenue_per_visitor": self.revenue_per_visitor,
            "revenue_per_visitor_interval": pair(self.revenue_per_visitor_interval),
            "prob_beat_control": self.prob_beat_control,
            "incremental_per_1000": self.incremental_per_1000,
            "incremental_per_1000_interval": pair(self.incremental_per_1000_interval),
            "reason": self.reason,
        }


def analyze_revenue(arms: Sequence[ArmCounts], control: int = 0) -> list[RevenueResult]:
    """Revenue per visitor of each arm and its comparison with ``arms[control]``."""
    return analyze_revenue_many([arms], control)[0]


def analyze_revenue_many(
    experiments: Sequence[Sequence[ArmCounts]], control: int = 0
) -> list[list[RevenueResult]]:
    """``analyze_revenue`` for many experiments (or segments), vectorised across them."""
    if isinstance(control, bool) or not isinstance(control, int | np.integer):
        raise ValueError(f"control must be an arm index, got {control!r}")
    results: list[list[RevenueResult]] = [[] for _ in experiments]
    by_size: dict[int, list[int]] = {}
    for index, arms in enumerate(experiments):
        if not isinstance(arms, Sequence) or len(arms) == 0:
            raise ValueError("arms must be a non-empty sequence of ArmCounts")
        for i, arm in enumerate(arms):
            if not isinstance(arm, ArmCounts):
                raise ValueError(f"arm {i}: expected an ArmCounts, got {arm!r}")
            arm.check()
        if not 0 <= control < len(arms):
            raise ValueError(f"control index {control} out of range for {len(arms)} arm(s)")
        by_size.setdefault(len(arms), []).append(index)
    for indices in by_size.values():
        table = np.array(
            [
                [(a.visitors, a.conversions, a.revenue, a.revenue_sq) for a in experiments[i]]
                for i in indices
            ],
            dtype=float,
        )
        for index, arm_results in zip(indices, _revenue_block(table, control), strict=True):
            results[index] = arm_results
    return results


def consistent(table: FloatArray) -> BoolArray:
    """Which rows of a (B, k, 4) table of (visitors, conversions, revenue, revenue_sq)
    could come from real values — the checks of ``ArmCounts.check``, vectorised."""
    visitors, conversions, revenue, revenue_sq = np.moveaxis(table, -1, 0)
    ok = np.isfinite(table).all(axis=-1)
    ok &= (visitors >= 0) & (conversions >= 0) & (conversions <= visitors)
    ok &= (visitors == np.floor(visitors)) & (conversions == np.floor(conversions))
    ok &= revenue_sq >= 0
    ok &= (conversions > 0) | ((revenue == 0) & (revenue_sq == 0))
    ok &= revenue * revenue <= conversions * revenue_sq * (1 + 1e-9) + 1e-9
    result: BoolArray = ok.all(axis=-1)
    return result


def revenue_table(table: FloatArray, control: int = 0) -> list[list[RevenueResult] | None]:
    """``analyze_revenue_many`` straight from a (B, k, 4) array of (visitors, conversions,
    revenue, revenue_sq): a report's totals, without an ``ArmCounts`` per arm. Rows
    that fail ``consistent`` give None instead of raising, so one corrupt segment does
    not take a whole report down."""
    ok = consistent(table)
    computed = iter(_revenue_block(table[ok], control) if ok.any() else [])
    return [next(computed) if good else None for good in ok.tolist()]


def _revenue_block(table: FloatArray, control: int) -> list[list[RevenueResult]]:
    """The model on a (B, k, 4) table of consistent sums."""
    visitors, conversions, revenue, revenue_sq = np.moveaxis(table, -1, 0)
    arms = table.shape[1]
    a = 1.0 + conversions
    b = 1.0 + visitors - conversions
    p_mean = a / (a + b)
    p_second = p_mean * (a + 1.0) / (a + b + 1.0)
    converted = conversions > 0
    enough = conversions >= MIN_CONVERSIONS
    with np.errstate(divide="ignore", invalid="ignore"):
        value_mean = np.where(converted, revenue / conversions, 0.0)
        # Σ(v − v̄)² from the sums; clipped at 0 against rounding when all are equal.
        squares = np.maximum(revenue_sq - revenue * value_mean, 0.0)
        dof = conversions - 1.0
        m_variance = np.where(enough, squares / dof / conversions * dof / (dof - 2.0), 0.0)
    mean = p_mean * value_mean
    variance = np.maximum(p_second * (value_mean**2 + m_variance) - mean**2, 0.0)
    z = float(special.ndtri(0.5 + CREDIBLE_LEVEL / 2.0))
    half = z * np.sqrt(variance)
    delta = mean - mean[:, control, None]
    spread = np.sqrt(variance + variance[:, control, None])
    comparable = enough & enough[:, control, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        # No spread at all (every value 0 in both arms): a sure win, loss or tie.
        prob = np.where(spread > 0.0, special.ndtr(delta / spread), 0.5 + 0.5 * np.sign(delta))
    prob = np.where(comparable, prob, 0.5)
    prob[:, control] = 0.5
    increment = np.where(comparable, PER_VISITORS * delta, 0.0)
    increment_half = PER_VISITORS * z * spread

    rows = zip(
        table.tolist(),
        value_mean.tolist(),
        mean.tolist(),
        half.tolist(),
        prob.tolist(),
        increment.tolist(),
        increment_half.tolist(),
        converted.tolist(),
        enough.tolist(),
        comparable.tolist(),
        strict=True,
    )
    results = []
    for columns in rows:
        out = []
        for i, (arm, vm, mu, h, pr, inc, inc_half, conv, ok, comp) in enumerate(
            zip(*columns, strict=True)
        ):
            n = int(arm[0])
            if arms == 1:
                reason: str | None = SINGLE_ARM
            elif n == 0:
                reason = NO_DATA
            elif not comp:
                reason = TOO_FEW_CONVERSIONS
            else:
                reason = None
            if i == control:
                increment_interval: tuple[float, float] | None = (0.0, 0.0)
            elif comp:
                increment_interval = (inc - inc_half, inc + inc_half)
            else:
                increment_interval = None
            out.append(
                RevenueResult(
                    n,
                    int(arm[1]),
                    arm[2],
                    vm if conv else None,
                    mu,
                    (mu - h, mu + h) if ok else None,
                    pr,
                    inc,
                    increment_interval,
                    reason,
                )
            )
        results.append(out)
    return results
