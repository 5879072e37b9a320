"""Bandit allocation (``allocation: bandit``): Thompson-sampling weights for new visitors.

At each gate look the evaluator gives every arm the probability that it is the best arm
under the Beta posteriors of the pooled counts (``prob_best``), floored at the experiment's
``min_share`` and renormalised: the *pooled* weights. Each segment (device × daypart) with
data also gets its own weights from the probability each arm is best there, on the
partially pooled segment estimates (``segment_weights``): a small segment's stay near the
pooled ones, and while the segments do not differ detectably there are none. Both are
written into the rollout state as a new *weight period* that starts at the next local
midnight, so

- no request computes anything: workers read the weights with the state they already poll,
  and all of them pick the same arm for the same visitor, segment and day;
- a visitor keeps the arm of their first exposure (their mark); weights only move where
  new visitors go;
- every local day of the daily counts has exactly one set of weights per segment, which is
  what makes the per-period (and per-segment) analysis and the sample-ratio check exact
  (``weight_periods``).

The state stays small: a period lists only the segments whose weights differ from the
pooled ones by a percentage point or more, at most ``MAX_SEGMENTS`` of them, in whole
percents; and over all periods at most ``MAX_SEGMENT_ENTRIES`` segment entries are kept —
older periods' tables are dropped first (marked ``forgotten``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from daypart.experiments.segment_weights import segment_prob_best, segment_visitors
from daypart.experiments.segments import SegmentKey, segment_name
from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.experiments.stats import analyze
from daypart.experiments.store.base import ExperimentCounts
from daypart.rules.model import Experiment

MAX_PERIODS = 400
"""Weight periods kept in the state (about the daily counts' retention at one look a day);
the oldest go first. Every worker reads the state, so it must stay small."""

WEIGHT_DIGITS = 3  # weights are stored rounded: a change below 0.1% starts no new period

MAX_SEGMENTS = 64
"""Segments with their own weights in one period (the most visited); the rest get the
pooled weights. Twelve are typical (three devices × four dayparts)."""
SEGMENT_DIGITS = 2  # a segment's weights are stored in whole percents
MAX_SEGMENT_ENTRIES = 1500
"""Segment entries over all periods of a state (some 30 to 45 bytes each in the stored
JSON; the worst case is measured in docs/design.md); beyond it the oldest periods' tables
are dropped."""

SegmentTable = tuple[tuple[SegmentKey, tuple[float, ...]], ...]


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


def weights_on(
    experiment: Experiment,
    state: RolloutState,
    day: int | None,
    segment: SegmentKey | None = None,
) -> tuple[float, ...]:
    """The shares new visitors get on local day ``day`` (in ``segment``, when given: its
    own weights where the period has them)."""
    period = period_on(state, day) if experiment.allocation == "bandit" else None
    if period is not None:
        weights = period_weights(experiment, period)
        if weights is not None:
            if segment is not None and period.segments:
                own = period.segment_weights(segment)
                if own is not None:
                    return own
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
    counts: ExperimentCounts | None = None,
) -> WeightPeriod | None:
    """The weight period a gate look at ``now`` starts (from the next local day), from the
    pooled ``(conversions, visitors)`` per arm and, given ``counts`` (per cell), each
    segment's own; None when the weights stay as they are."""
    if experiment.allocation != "bandit" or len(arms) < 2:
        return None
    results = analyze(arms)
    prob_best = [result.prob_best for result in results]
    shares = thompson_weights(prob_best, experiment.min_share)
    names = [arm.name for arm in experiment.arms]
    weights = tuple((n, round(w, WEIGHT_DIGITS)) for n, w in zip(names, shares, strict=True))
    table = (
        ()
        if counts is None
        else segment_table(experiment, counts, [w for _, w in weights], state.segments)
    )
    current = period_on(state, None)
    known = current is not None and period_weights(experiment, current) is not None
    in_force = (
        dict(current.weights)
        if current is not None and known
        else dict(zip(names, configured_weights(experiment), strict=True))
    )
    same_table = (table == current.segments) if current is not None and known else not table
    if same_table and all(abs(in_force[n] - w) < 0.5 * 10**-WEIGHT_DIGITS for n, w in weights):
        return None
    day = local_day(now, zone) + 1
    return WeightPeriod(
        day=day,
        since=midnight_of(day, zone),
        weights=weights,
        prob_best=tuple((n, round(p, 4)) for n, p in zip(names, prob_best, strict=True)),
        decided=now,
        segments=table,
    )


def segment_table(
    experiment: Experiment,
    counts: ExperimentCounts,
    pooled: Sequence[float],
    decided: Collection[SegmentKey] = (),
) -> SegmentTable:
    """Each segment's own weights (``thompson_weights`` of its P(best) on the partially
    pooled estimates, each arm at least ``min_share``) in whole percents, where they differ
    from ``pooled`` by a percentage point or more: at most ``MAX_SEGMENTS``, the most
    visited. ``decided``: segments a per-segment experiment decided (no new visitors)."""
    found = segment_prob_best(experiment, counts, decided)
    if not found:
        return ()
    visitors = segment_visitors(counts)
    table = []
    for key in sorted(found, key=lambda k: (-visitors.get(k, 0), k))[:MAX_SEGMENTS]:
        shares = thompson_weights(found[key], experiment.min_share)
        rounded = tuple(round(share, SEGMENT_DIGITS) for share in shares)
        if max(abs(a - b) for a, b in zip(rounded, pooled, strict=True)) >= 0.01 - 1e-9:
            table.append((key, rounded))
    return tuple(sorted(table))


def with_period(state: RolloutState, period: WeightPeriod) -> tuple[WeightPeriod, ...]:
    """The state's periods with ``period`` added; one not begun yet on the same day is
    replaced (two looks before midnight: the later one wins). At most ``MAX_PERIODS``, and
    at most ``MAX_SEGMENT_ENTRIES`` segment entries: the oldest tables go first."""
    kept = [p for p in state.weights if p.day < period.day]
    periods = [*kept, period][-MAX_PERIODS:]
    entries = 0
    for index in range(len(periods) - 1, -1, -1):
        entries += len(periods[index].segments)
        if entries > MAX_SEGMENT_ENTRIES:
            periods[index] = replace(periods[index], segments=(), forgotten=True)
    return tuple(periods)


def describe(period: WeightPeriod) -> str:
    """For the audit log: "weights changed to control 20%, offer 80% from 2026-11-28"."""
    weights = ", ".join(f"{arm} {w:.1%}" for arm, w in period.weights)
    best = ", ".join(f"{arm} {p:.3f}" for arm, p in period.prob_best)
    start = datetime.fromordinal(period.day).date().isoformat()
    said = f"weights changed to {weights} for new visitors from {start}, from P(best) {best}"
    if period.segments:
        arms = [arm for arm, _ in period.weights]
        own = "; ".join(
            f"{segment_name(key)}: "
            + ", ".join(f"{arm} {w:.0%}" for arm, w in zip(arms, shares, strict=True))
            for key, shares in period.segments
        )
        said += f"; {len(period.segments)} segment(s) with their own weights: {own}"
    return said


@dataclass(frozen=True, slots=True)
class WeightSpan:
    """Days ``first``..``last`` (date ordinals, inclusive) under one set of ``weights``
    (pooled) and, where a segment had its own, ``segments``."""

    first: int
    last: int
    weights: tuple[float, ...]  # the experiment's arm order, summing to 1
    segments: SegmentTable = ()  # (segment, its own weights in the same order)
    forgotten: bool = False  # the weights differed by segment, the table was dropped

    @property
    def by_segment(self) -> bool:
        """Whether the weights differed by segment (then the analysis goes per segment)."""
        return bool(self.segments) or self.forgotten

    def weights_in(self, segment: SegmentKey) -> tuple[float, ...]:
        for key, shares in self.segments:
            if key == segment:
                return shares
        return self.weights


def spans(experiment: Experiment, state: RolloutState, first: int, last: int) -> list[WeightSpan]:
    """The days ``first``..``last`` cut where the weights in force changed."""
    result: list[WeightSpan] = []
    day = first
    bandit = experiment.allocation == "bandit"
    while day <= last:
        weights = weights_on(experiment, state, day)
        period = period_on(state, day) if bandit else None
        usable = period is not None and period_weights(experiment, period) is not None
        table: SegmentTable = period.segments if period is not None and usable else ()
        forgotten = period is not None and usable and period.forgotten
        later = [p.day for p in state.weights if p.day > day]
        end = min([last, *(d - 1 for d in later)])
        previous = result[-1] if result else None
        if (
            previous is not None
            and previous.weights == weights
            and previous.segments == table
            and previous.forgotten == forgotten
        ):
            result[-1] = replace(previous, last=end)
        else:
            result.append(WeightSpan(day, end, weights, table, forgotten))
        day = end + 1
    return result
