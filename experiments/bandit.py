"""Bandit allocation (``allocation: bandit``): Thompson-sampling weights for new visitors.

At each gate look the evaluator gives every arm the probability that it is the best arm
under the Beta posteriors of the pooled counts (``prob_best``), floored at the experiment's
``min_share`` and renormalised. Those weights are written into the rollout state as a new
*weight period* that starts at the next local midnight, so

- no request computes anything: workers read the weights with the state they already poll,
  and all of them pick the same arm for the same visitor on the same day;
- a visitor keeps the arm of their first exposure (their mark); weights only move where
  new visitors go;
- every local day of the daily counts has exactly one set of weights, which is what makes
  the per-period analysis and the sample-ratio check below exact.

Weights are pooled over segments, not per device × daypart: see docs/design.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.experiments.stats import analyze
from daypart.rules.model import Experiment

MAX_PERIODS = 400
"""Weight periods kept in the state (about the daily counts' retention at one look a day);
the oldest go first. Every worker reads the state, so it must stay small."""

WEIGHT_DIGITS = 3  # weights are stored rounded: a change below 0.1% starts no new period


def thompson_weights(prob_best: Sequence[float], min_share: float) -> list[float]:
    """Each arm's share of new visitors: its probability of being best, raised to at least
    ``min_share`` with the rest shared in proportion to the probabilities (so the shares
    sum to 1). ``min_share`` must be in (0, 1/arms]."""
    arms = len(prob_best)
    if arms == 0:
        raise ValueError("no arms")
    if not 0.0 < min_share <= 1.0 / arms + 1e-12:
        raise ValueError(f"min_share must be in (0, 1/{arms}], got {min_share!r}")
    floored: set[int] = set()
    while True:
        free = [i for i in range(arms) if i not in floored]
        left = 1.0 - min_share * len(floored)
        mass = sum(max(prob_best[i], 0.0) for i in free)
        shares = [
            min_share
            if i in floored
            else (left * max(prob_best[i], 0.0) / mass if mass > 0 else left / len(free))
            for i in range(arms)
        ]
        below = {i for i in free if shares[i] < min_share}
        if not below:
            return shares
        floored |= below


def configured_weights(experiment: Experiment) -> tuple[float, ...]:
    """The rules' fixed split, as shares summing to 1."""
    total = sum(arm.weight for arm in experiment.arms)
    return tuple(arm.weight / total for arm in experiment.arms)


def period_weights(experiment: Experiment, period: WeightPeriod) -> tuple[float, ...] | None:
    """``period``'s weights in the experiment's arm order; None when the arms changed since
    (then the rules' split applies)."""
    stored = dict(period.weights)
    if set(stored) != {arm.name for arm in experiment.arms}:
        return None
    return tuple(stored[arm.name] for arm in experiment.arms)


def period_on(state: RolloutState, day: int | None) -> WeightPeriod | None:
    """The weight period in force on local day ``day`` (None: the newest that has begun by
    now is unknown, so the newest of all); None before the first one."""
    periods = state.weights
    if not periods:
        return None
    if day is None:
        return periods[-1]
    for period in reversed(periods):  # usually the last or the one before
        if period.day <= day:
            return period
    return None


def weights_on(experiment: Experiment, state: RolloutState, day: int | None) -> tuple[float, ...]:
    """The shares new visitors get on local day ``day``."""
    period = period_on(state, day) if experiment.allocation == "bandit" else None
    if period is not None:
        weights = period_weights(experiment, period)
        if weights is not None:
            return weights
    return configured_weights(experiment)


def local_day(epoch: float, zone: str) -> int:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).date().toordinal()


def midnight_of(day: int, zone: str) -> float:
    """The epoch seconds of local day ``day``'s midnight (its first instant)."""
    return datetime.fromordinal(day).replace(tzinfo=ZoneInfo(zone)).timestamp()


def next_period(
    experiment: Experiment,
    state: RolloutState,
    arms: Sequence[tuple[int, int]],
    now: float,
    zone: str,
) -> WeightPeriod | None:
    """The weight period a gate look at ``now`` starts (from the next local day), from the
    pooled ``(conversions, visitors)`` per arm; None when the weights stay as they are."""
    if experiment.allocation != "bandit" or len(arms) < 2:
        return None
    results = analyze(arms)
    prob_best = [result.prob_best for result in results]
    shares = thompson_weights(prob_best, experiment.min_share)
    names = [arm.name for arm in experiment.arms]
    weights = tuple((n, round(w, WEIGHT_DIGITS)) for n, w in zip(names, shares, strict=True))
    current = period_on(state, None)
    in_force = (
        dict(current.weights)
        if current is not None and period_weights(experiment, current) is not None
        else dict(zip(names, configured_weights(experiment), strict=True))
    )
    if all(abs(in_force[n] - w) < 0.5 * 10**-WEIGHT_DIGITS for n, w in weights):
        return None
    day = local_day(now, zone) + 1
    return WeightPeriod(
        day=day,
        since=midnight_of(day, zone),
        weights=weights,
        prob_best=tuple((n, round(p, 4)) for n, p in zip(names, prob_best, strict=True)),
        decided=now,
    )


def with_period(state: RolloutState, period: WeightPeriod) -> tuple[WeightPeriod, ...]:
    """The state's periods with ``period`` added; one not begun yet on the same day is
    replaced (two looks before midnight: the later one wins)."""
    kept = [p for p in state.weights if p.day < period.day]
    return (*kept, period)[-MAX_PERIODS:]


def describe(period: WeightPeriod) -> str:
    """For the audit log: "weights changed to control 20%, offer 80% from 2026-11-28"."""
    weights = ", ".join(f"{arm} {w:.1%}" for arm, w in period.weights)
    best = ", ".join(f"{arm} {p:.3f}" for arm, p in period.prob_best)
    start = datetime.fromordinal(period.day).date().isoformat()
    return f"weights changed to {weights} for new visitors from {start}, from P(best) {best}"


@dataclass(frozen=True, slots=True)
class WeightSpan:
    """Days ``first``..``last`` (date ordinals, inclusive) under one set of ``weights``."""

    first: int
    last: int
    weights: tuple[float, ...]  # the experiment's arm order, summing to 1


def spans(experiment: Experiment, state: RolloutState, first: int, last: int) -> list[WeightSpan]:
    """The days ``first``..``last`` cut where the weights in force changed."""
    result: list[WeightSpan] = []
    day = first
    while day <= last:
        weights = weights_on(experiment, state, day)
        later = [p.day for p in state.weights if p.day > day]
        end = min([last, *(d - 1 for d in later)])
        if result and result[-1].weights == weights:
            result[-1] = WeightSpan(result[-1].first, end, weights)
        else:
            result.append(WeightSpan(day, end, weights))
        day = end + 1
    return result
