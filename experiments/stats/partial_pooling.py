"""Partial pooling of one treatment's effect across segments (device × daypart × channel).

Each segment's own evidence is the difference of the two arms' log-odds of converting,
under the same Beta(1, 1) posteriors as the rest of the statistics. Its mean and variance
are exact for a Beta posterior (E[logit p] = ψ(a) − ψ(b), Var[logit p] = ψ′(a) + ψ′(b)),
and with a few hundred visitors per arm the difference is close to normal.

The segments' true effects are taken to be draws around a common effect μ with spread τ
(a normal random-effects model, the standard one of meta-analysis). μ and τ² are
estimated from the segments themselves (DerSimonian–Laird), and each segment's effect is
then its own estimate pulled toward μ by how noisy it is against τ² (empirical Bayes):

    θ_s = (1 − B_s)·d_s + B_s·μ,   B_s = v_s / (v_s + τ²),
    Var θ_s = v_s·(1 − B_s) + B_s²·Var μ.

So when the segments do not differ by more than their noise (τ² = 0), every segment gets
the pooled effect and the pooled uncertainty: a per-segment decision can then only be the
pooled decision, and a dozen small segments cannot produce a dozen noise-driven ones.
When one segment really differs and has the data to show it, it keeps its own estimate.
The segment is the unit daypart's rules adapt on, and the pull is strongest exactly where a
segment is small, which is where its own numbers would mislead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, ndtr, polygamma

from daypart.experiments.stats.inputs import ArmCounts


@dataclass(frozen=True, slots=True)
class SegmentEffect:
    """One segment's effect of the treatment against control, on the log-odds scale."""

    segment: str
    control_visitors: int
    treatment_visitors: int
    raw: float  # the segment's own log-odds difference (posterior mean)
    raw_sd: float
    effect: float  # partially pooled
    sd: float
    prob_beat_control: float  # P(effect > 0), partially pooled
    control_rate: float  # control's posterior mean rate in this segment
    uplift: float  # relative uplift at the pooled effect, at control's rate
    uplift_interval: tuple[float, float]  # 95%

    @property
    def prob_worse_than_control(self) -> float:
        return 1.0 - self.prob_beat_control


@dataclass(frozen=True, slots=True)
class PooledEffects:
    mean: float  # μ: the common log-odds effect
    mean_sd: float
    spread: float  # τ: how far segments' true effects differ (0: not detectably)
    segments: tuple[SegmentEffect, ...]


def logit_moments(conversions: int, visitors: int) -> tuple[float, float]:
    """Mean and variance of logit(p) under the Beta(1 + c, 1 + n − c) posterior."""
    a = 1.0 + conversions
    b = 1.0 + visitors - conversions
    mean = float(digamma(a) - digamma(b))
    variance = float(polygamma(1, a) + polygamma(1, b))
    return mean, variance


def partial_pool(segments: Sequence[tuple[str, ArmCounts, ArmCounts]]) -> PooledEffects:
    """``segments``: (name, control, treatment) per segment. Raises ``ValueError`` when
    there is none, or when counts are impossible (``ArmCounts.check``)."""
    if not segments:
        raise ValueError("partial pooling needs at least one segment")
    raws: list[tuple[float, float]] = []
    for _, control, treatment in segments:
        control.check()
        treatment.check()
        c_mean, c_var = logit_moments(control.conversions, control.visitors)
        t_mean, t_var = logit_moments(treatment.conversions, treatment.visitors)
        raws.append((t_mean - c_mean, c_var + t_var))
    spread2 = _between_segment_variance(raws)
    weights = [1.0 / (v + spread2) for _, v in raws]
    total = sum(weights)
    mean = sum(w * d for w, (d, _) in zip(weights, raws, strict=True)) / total
    mean_var = 1.0 / total
    effects = []
    for (name, control, treatment), (d, v) in zip(segments, raws, strict=True):
        pull = v / (v + spread2) if spread2 > 0.0 else 1.0
        effect = (1.0 - pull) * d + pull * mean
        variance = v * (1.0 - pull) + pull * pull * mean_var
        sd = math.sqrt(variance)
        control_rate = (control.conversions + 1.0) / (control.visitors + 2.0)
        effects.append(
            SegmentEffect(
                segment=name,
                control_visitors=control.visitors,
                treatment_visitors=treatment.visitors,
                raw=d,
                raw_sd=math.sqrt(v),
                effect=effect,
                sd=sd,
                prob_beat_control=float(ndtr(effect / sd)),
                control_rate=control_rate,
                uplift=_uplift(control_rate, effect),
                uplift_interval=(
                    _uplift(control_rate, effect - 1.959963984540054 * sd),
                    _uplift(control_rate, effect + 1.959963984540054 * sd),
                ),
            )
        )
    return PooledEffects(mean, math.sqrt(mean_var), math.sqrt(spread2), tuple(effects))


def _between_segment_variance(raws: Sequence[tuple[float, float]]) -> float:
    """τ² by DerSimonian–Laird: the excess of Cochran's Q over its expectation, ≥ 0."""
    if len(raws) < 2:
        return 0.0
    weights = [1.0 / v for _, v in raws]
    total = sum(weights)
    fixed = sum(w * d for w, (d, _) in zip(weights, raws, strict=True)) / total
    q = sum(w * (d - fixed) ** 2 for w, (d, _) in zip(weights, raws, strict=True))
    scale = total - sum(w * w for w in weights) / total
    return max(0.0, (q - (len(raws) - 1)) / scale) if scale > 0.0 else 0.0


def _uplift(control_rate: float, log_odds_effect: float) -> float:
    """Treatment's rate relative to control's when the odds change by ``exp(effect)``."""
    odds = control_rate / (1.0 - control_rate) * math.exp(log_odds_effect)
    return odds / (1.0 + odds) / control_rate - 1.0


def ship_threshold(prob: float, segments: int) -> float:
    """The per-segment probability a decision needs so that the chance of any wrong one,
    over ``segments`` segments, stays within ``1 − prob`` (Bonferroni: it holds whatever
    the segments' dependence)."""
    if segments < 1:
        raise ValueError("need at least one segment")
    return 1.0 - (1.0 - prob) / segments


def expected_relative_loss(control_rate: float, effect: float, sd: float) -> float:
    """E[max(0, control's rate − treatment's rate)] / control's rate when the log-odds
    effect is normal(``effect``, ``sd``) and control's rate is ``control_rate``: what
    shipping the treatment is expected to give up, as a share of control's rate (the
    gates' ``expected_relative_loss_below``). On a grid of ±8 sd."""
    if not 0.0 < control_rate < 1.0:
        raise ValueError(f"control's rate must be in (0, 1), got {control_rate!r}")
    if not sd > 0.0:
        raise ValueError(f"sd must be positive, got {sd!r}")
    x = np.linspace(effect - 8.0 * sd, min(effect + 8.0 * sd, 0.0), 801)
    if x[-1] <= x[0]:  # the whole mass lies above 0: nothing to lose
        return 0.0
    odds = control_rate / (1.0 - control_rate) * np.exp(x)
    shortfall = 1.0 - odds / (1.0 + odds) / control_rate  # > 0 where the treatment is worse
    density = np.exp(-0.5 * ((x - effect) / sd) ** 2) / (sd * math.sqrt(2.0 * math.pi))
    return float(np.trapezoid(shortfall * density, x))
