"""A bandit's weights per segment (device × daypart): each segment's share of new visitors
per arm from the probability that the arm is best *there*.

Pure: an experiment and its counts in, each segment's P(best) out; ``bandit.next_period``
turns them into weights and stores them in the weight period it writes at a gate look, so
no request computes anything.

A segment's probability that an arm is best comes from the partially pooled effects
(``stats.partial_pooling``, the same estimates the per-segment gates decide on): each
treatment's log-odds effect against control in the segment, pulled toward the common
effect by how noisy the segment is. So

- while the segments do not differ by more than their noise every segment takes the
  pooled weights: no table at all — a dozen small segments cannot each chase their own
  noise. "More than their noise" is Cochran's Q test of heterogeneity at p <
  ``HETEROGENEITY_P`` for some treatment, stricter than the spread τ being above 0 (which
  the DerSimonian–Laird estimate makes it in about a third of looks when the segments are
  alike, and a few small segments then got weights of their own by chance);
- when they do differ, a segment with much data follows its own evidence and a small one
  stays near the pooled weights, in proportion to how much its own numbers say;
- a segment with fewer than the gates' ``min_visitors_per_arm`` in some arm keeps the
  pooled weights: the gates would not judge it either, and with a few dozen visitors the
  spread between segments is itself mostly noise.

With one treatment the probability that it is best is P(effect > 0) = Φ(θ/sd), exactly
as the gates see it. With several, each treatment's effect is taken as an independent
normal against a fixed control (their shared control makes them positively correlated,
which this ignores); P(arm best) is then a one-dimensional integral, computed on a grid.
The weights steer where new visitors go, they decide nothing, and every arm keeps
``min_share`` in every segment, so the approximation costs at most a little allocation
efficiency, never an error rate.

How the table stays small (at most ``bandit.MAX_SEGMENTS`` segments, whole percents, only
where a segment differs from the pooled weights) is ``bandit``'s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from scipy.special import chdtrc, ndtr

from daypart.experiments.data_quality import split_consistent
from daypart.experiments.pooling import arm_totals
from daypart.experiments.segment_gates import segment_totals
from daypart.experiments.segments import SegmentKey, device_daypart_of, segment_name
from daypart.experiments.state import RolloutState
from daypart.experiments.stats.partial_pooling import SegmentEffect, partial_pool
from daypart.experiments.store.base import ExperimentCounts
from daypart.rules.model import Experiment

_GRID = 2001  # points of the integral for three or more arms
HETEROGENEITY_P = 0.05
"""Segments get their own weights only when they differ beyond this level of chance."""


def prob_best_normal(effects: Sequence[tuple[float, float]]) -> list[float]:
    """P(best) of control (effect 0) and each treatment whose effect against control is
    normal with (mean, sd) in ``effects``: control first, summing to 1."""
    if not effects:
        return [1.0]
    for mean, sd in effects:
        if not (math.isfinite(mean) and sd > 0 and math.isfinite(sd)):
            raise ValueError(f"an effect needs a finite mean and a positive sd, got {mean}, {sd}")
    if len(effects) == 1:
        mean, sd = effects[0]
        beat = float(ndtr(mean / sd))
        return [1.0 - beat, beat]
    means = np.array([m for m, _ in effects])
    sds = np.array([s for _, s in effects])
    control = float(np.prod(ndtr(-means / sds)))
    low = max(0.0, float(np.min(means - 8 * sds)))
    high = max(low, float(np.max(means + 8 * sds)))
    if high <= 0.0:  # every treatment is surely below control
        return [1.0] + [0.0] * len(effects)
    x = np.linspace(low, high, _GRID)
    below = ndtr((x[None, :] - means[:, None]) / sds[:, None])  # P(effect_j < x)
    density = np.exp(-0.5 * ((x[None, :] - means[:, None]) / sds[:, None]) ** 2) / (
        sds[:, None] * math.sqrt(2 * math.pi)
    )
    arms = []
    for i in range(len(effects)):
        others = np.prod(np.delete(below, i, axis=0), axis=0)
        arms.append(float(np.trapezoid(density[i] * others, x)))
    total = control + sum(arms)
    return [control / total, *(p / total for p in arms)]


def segment_prob_best(
    experiment: Experiment, counts: ExperimentCounts, decided: Collection[SegmentKey] = ()
) -> dict[SegmentKey, list[float]]:
    """Each undecided segment's P(best) per arm (the experiment's order) from the partially
    pooled effects; empty while partial pooling finds no difference between segments
    (then every segment takes the pooled weights). ``decided``: segments a per-segment
    experiment decided, which serve their decision and need no weights (their counts
    still inform the pooling)."""
    names = [arm.name for arm in experiment.arms]
    if len(names) < 2:
        return {}
    kept, _ = split_consistent(counts, names, experiment.goal)
    totals = segment_totals(kept, names, experiment.goal, device_daypart_of)
    segments = sorted(totals)
    if len(segments) < 2:
        return {}
    pools = [
        partial_pool([(segment_name(key), totals[key][0], totals[key][i]) for key in segments])
        for i in range(1, len(names))
    ]
    if all(heterogeneity_p(pool.segments) >= HETEROGENEITY_P for pool in pools):
        return {}
    found = {}
    least = experiment.gates.min_visitors_per_arm
    for row, key in enumerate(segments):
        if key in decided or min(arm.visitors for arm in totals[key]) < least:
            continue
        effects = [(pool.segments[row].effect, pool.segments[row].sd) for pool in pools]
        found[key] = prob_best_normal(effects)
    return found


def segment_visitors(counts: ExperimentCounts) -> dict[SegmentKey, int]:
    """Exposures per segment, over every arm."""
    visitors: dict[SegmentKey, int] = {}
    for key, cell in counts.cells.items():
        segment = device_daypart_of(key)
        visitors[segment] = visitors.get(segment, 0) + cell.exposures
    return visitors


def heterogeneity_p(effects: Sequence[SegmentEffect]) -> float:
    """Cochran's Q test that the segments' own effects differ only by their noise: the
    p-value (1.0 with fewer than two segments)."""
    if len(effects) < 2:
        return 1.0
    weights = [1.0 / (e.raw_sd * e.raw_sd) for e in effects]
    total = sum(weights)
    fixed = sum(w * e.raw for w, e in zip(weights, effects, strict=True)) / total
    q = sum(w * (e.raw - fixed) ** 2 for w, e in zip(weights, effects, strict=True))
    return float(chdtrc(len(effects) - 1, q))


def weights_differ_by_segment(experiment: Experiment, state: RolloutState) -> bool:
    """Whether some weight period of a bandit gave segments weights of their own."""
    return experiment.allocation == "bandit" and any(
        period.segments or period.forgotten for period in state.weights
    )


def gate_pairs(
    experiment: Experiment, state: RolloutState, counts: ExperimentCounts
) -> list[tuple[int, int]]:
    """``(conversions, visitors)`` per arm, pooled over ``counts``' segments, as the gates
    judge them. Once a bandit's weights have differed by segment, an arm has more visitors
    where it was favoured, and pooled totals would credit it with those segments' own
    conversion rates (an arm sent mostly to desktops, which convert twice as often as
    phones, would look twice as good). Then each arm's rate is *standardised*: its rate
    in each segment where every arm has visitors, weighted by that segment's share of all
    of them — every arm judged on the same mix of segments — and given back as that rate
    times the arm's visitors in those segments (rounded), for the same Beta posteriors."""
    names = [arm.name for arm in experiment.arms]
    totals = arm_totals(counts, names, experiment.goal)
    if not weights_differ_by_segment(experiment, state):
        return [t.pair for t in totals]
    by_segment = segment_totals(counts, names, experiment.goal)
    usable = [arms for arms in by_segment.values() if min(arm.visitors for arm in arms) > 0]
    everyone = sum(arm.visitors for arms in usable for arm in arms)
    if not everyone:
        return [t.pair for t in totals]
    pairs = []
    for i in range(len(names)):
        visitors = sum(arms[i].visitors for arms in usable)
        rate = sum(
            sum(arm.visitors for arm in arms) / everyone * arms[i].conversions / arms[i].visitors
            for arms in usable
        )
        pairs.append((min(visitors, round(rate * visitors)), visitors))
    return pairs
