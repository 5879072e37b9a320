"""A bandit's report, valid while its weights change: the daily counts grouped by the weight
period in force on each day (``bandit.spans``), compared within each period and combined.

Why per period: a bandit moves visitors towards the arm that looks best, so the arms'
shares change over time. Pooled totals then compare an arm seen mostly late with one seen
mostly early, and any trend over time (a sale week, the season) leaks into the
comparison. Within a period both arms drew new visitors from the same days by fixed
weights, so each period is a fair comparison; the combined estimate weighs each period's
per-arm rates by the period's share of all visitors (a stratified, or standardised,
estimate): every arm is judged on the same mix of days.

The sample-ratio check compares each period's exposures with that period's weights and
adds the chi-square statistics (independent periods: degrees of freedom add up), so a
mismatch in any period is seen, and changing weights are no mismatch.

Where a period's weights differ by segment (``WeightPeriod.segments``), a period is no
longer a fair comparison by itself: the arm a segment favours gets more of that segment's
visitors, so an arm favoured where conversion is high looks better than it is (Simpson's
paradox). Such a period is cut further by segment (device × daypart, from the store's
per-day cell counts, ``Store.daily_cells``): each (period, segment) is a stratum, compared
within and combined by its share of all visitors like the periods, and its exposures are
checked against the weights that segment had — its own where it had them, the pooled ones
elsewhere. A period whose table was dropped to keep the state small (``forgotten``) is
still stratified by segment, but its sample ratio can no longer be checked: it takes no
part in the check (``SEGMENT_WEIGHTS_FORGOTTEN``).

Conversions are counted on the day they happen (the daily counts' convention), exposures
on the day of the exposure: a conversion on the day after a weight change is counted in
the new period. Most conversions happen on their exposure's day; the rest shift a little
of each arm's conversions into the next period, in proportion to the arm's share in the
period before. That is a small lag, not a bias that grows with the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from scipy import special

from daypart.experiments.bandit import WeightSpan, period_on, period_weights, spans, weights_on
from daypart.experiments.segments import (
    SegmentKey,
    device_daypart_of,
    segment_fields,
    segment_name,
)
from daypart.experiments.state import RolloutState
from daypart.experiments.stats.srm import SRM_THRESHOLD, SrmResult, srm_check
from daypart.experiments.store.base import DailyCells, DailyCounts
from daypart.rules.model import Experiment

Z_95 = 1.959963984540054
PER_PERIOD = "per_weight_period"  # SRM: the weights changed, and no daily counts were given
SEGMENT_WEIGHTS_FORGOTTEN = "segment_weights_forgotten"  # the period's table was dropped
SEGMENTS_UNKNOWN = "segment_counts_unknown"  # weights differed by segment; no cell counts


@dataclass(frozen=True, slots=True)
class SegmentCounts:
    """One segment's counts in a period whose weights differed by segment."""

    segment: SegmentKey
    weights: tuple[float, ...]  # in force there (its own, or the period's pooled ones)
    visitors: tuple[int, ...]
    conversions: tuple[int, ...]
    srm: SrmResult

    def to_dict(self) -> dict[str, Any]:
        return {
            **segment_fields(self.segment),
            "segment": segment_name(self.segment),
            "weights": list(self.weights),
            "visitors": list(self.visitors),
            "conversions": list(self.conversions),
            "srm": self.srm.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    span: WeightSpan
    visitors: tuple[int, ...]  # per arm, the experiment's order
    conversions: tuple[int, ...]
    srm: SrmResult  # the segments' combined, where the weights differed by segment
    # Where the weights differed by segment: per segment (the strata); else empty.
    segments: tuple[SegmentCounts, ...] = ()

    @property
    def strata(self) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """(visitors, conversions) per arm of each stratum: the segments, or the period."""
        if self.segments:
            return tuple((s.visitors, s.conversions) for s in self.segments)
        return ((self.visitors, self.conversions),)

    @property
    def srms(self) -> tuple[SrmResult, ...]:
        """The sample-ratio checks of the strata."""
        if self.segments:
            return tuple(s.srm for s in self.segments)
        return (self.srm,)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "first_day": date.fromordinal(self.span.first).isoformat(),
            "last_day": date.fromordinal(self.span.last).isoformat(),
            "weights": list(self.span.weights),
            "visitors": list(self.visitors),
            "conversions": list(self.conversions),
            "srm": self.srm.to_dict(),
        }
        if self.span.by_segment:
            data["segments"] = [segment.to_dict() for segment in self.segments]
        return data


@dataclass(frozen=True, slots=True)
class PeriodAnalysis:
    """Per weight period and combined. ``rates``: each arm's stratified conversion rate
    (None before any period in which every arm has visitors); ``uplift`` and
    ``uplift_interval``: against control, 95%, by the delta method on the log of the
    rates' ratio (None while a rate is 0)."""

    arms: tuple[str, ...]
    periods: tuple[PeriodCounts, ...]
    srm: SrmResult
    rates: tuple[float | None, ...]
    uplift: tuple[float | None, ...]
    uplift_interval: tuple[tuple[float, float] | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": list(self.arms),
            "periods": [period.to_dict() for period in self.periods],
            "srm": self.srm.to_dict(),
            "stratified": [
                {
                    "name": name,
                    "rate": rate,
                    "uplift": uplift,
                    "uplift_interval": None if interval is None else list(interval),
                }
                for name, rate, uplift, interval in zip(
                    self.arms, self.rates, self.uplift, self.uplift_interval, strict=True
                )
            ],
        }


def combined_srm(periods: Sequence[SrmResult], threshold: float = SRM_THRESHOLD) -> SrmResult:
    """One sample-ratio check over independent periods: the sum of the periods' chi-square
    statistics against the sum of their degrees of freedom. Periods too small to test
    (neutral with a reason) take no part; a period with exposures in an arm of weight 0 is
    a mismatch outright."""
    observed = tuple(sum(p.observed[i] for p in periods) for i in range(_width(periods)))
    expected = tuple(
        sum(p.expected[i] for p in periods if p.expected) for i in range(_width(periods))
    )
    for period in periods:
        if period.flagged and not math.isfinite(period.statistic):
            return SrmResult(0.0, math.inf, True, observed, expected, threshold, period.reason)
    tested = [p for p in periods if p.reason is None]
    if not tested:
        reason = periods[-1].reason if periods else None
        return SrmResult(1.0, 0.0, False, observed, expected, threshold, reason)
    statistic = sum(p.statistic for p in tested)
    freedom = sum(sum(1 for e in p.expected if e > 0) - 1 for p in tested)
    p_value = float(special.chdtrc(freedom, statistic))
    return SrmResult(p_value, statistic, p_value < threshold, observed, expected, threshold)


def _width(periods: Sequence[SrmResult]) -> int:
    return len(periods[0].observed) if periods else 0


def analyze_periods(
    experiment: Experiment,
    state: RolloutState,
    daily: DailyCounts,
    first: int,
    last: int,
    cells: DailyCells | None = None,
) -> PeriodAnalysis:
    """The days ``first``..``last`` of ``daily`` grouped by the weights in force; periods
    whose weights differed by segment also by segment, from ``cells`` (the same days per
    cell; without them such a period is compared whole and its sample ratio unchecked)."""
    names = tuple(arm.name for arm in experiment.arms)
    goal = experiment.goal
    periods = []
    for span in spans(experiment, state, first, last):
        visitors = [0] * len(names)
        conversions = [0] * len(names)
        for day in range(span.first, span.last + 1):
            by_arm = daily.get(day, {})
            for i, name in enumerate(names):
                cell = by_arm.get(name)
                if cell is not None:
                    visitors[i] += cell.exposures
                    conversions[i] += cell.conversions.get(goal, 0)
        if sum(visitors) == 0:
            continue
        if not span.by_segment:
            srm = srm_check(visitors, span.weights)
            periods.append(PeriodCounts(span, tuple(visitors), tuple(conversions), srm))
            continue
        if cells is None:
            srm = _neutral(visitors, span.weights, SEGMENTS_UNKNOWN)
            periods.append(PeriodCounts(span, tuple(visitors), tuple(conversions), srm))
            continue
        segments = _segments(span, cells, names, goal)
        periods.append(
            PeriodCounts(
                span,
                tuple(visitors),
                tuple(conversions),
                combined_srm([s.srm for s in segments]),
                segments,
            )
        )
    rates, variances = _stratified(
        [stratum for period in periods for stratum in period.strata], len(names)
    )
    uplift: list[float | None] = []
    intervals: list[tuple[float, float] | None] = []
    control, control_var = rates[0], variances[0]
    for i, (rate, variance) in enumerate(zip(rates, variances, strict=True)):
        if i == 0:
            uplift.append(0.0 if rate is not None else None)
            intervals.append((0.0, 0.0) if rate is not None else None)
            continue
        if rate is None or control is None or rate <= 0 or control <= 0:
            uplift.append(None)
            intervals.append(None)
            continue
        assert variance is not None
        assert control_var is not None
        ratio = rate / control
        spread = Z_95 * math.sqrt(variance / rate**2 + control_var / control**2)
        uplift.append(ratio - 1.0)
        intervals.append((ratio * math.exp(-spread) - 1.0, ratio * math.exp(spread) - 1.0))
    return PeriodAnalysis(
        names,
        tuple(periods),
        combined_srm([srm for period in periods for srm in period.srms]),
        tuple(rates),
        tuple(uplift),
        tuple(intervals),
    )


def _neutral(visitors: Sequence[int], weights: Sequence[float], reason: str) -> SrmResult:
    total = sum(visitors)
    expected = tuple(total * w / sum(weights) for w in weights)
    return SrmResult(1.0, 0.0, False, tuple(visitors), expected, SRM_THRESHOLD, reason)


def _segments(
    span: WeightSpan, cells: DailyCells, names: Sequence[str], goal: str
) -> tuple[SegmentCounts, ...]:
    """``span``'s counts per segment (over channels), each checked against the weights
    that segment had."""
    index = {name: i for i, name in enumerate(names)}
    sums: dict[SegmentKey, tuple[list[int], list[int]]] = {}
    for day in range(span.first, span.last + 1):
        for key, cell in cells.get(day, {}).items():
            i = index.get(key[0])
            if i is None:
                continue
            visitors, conversions = sums.setdefault(
                device_daypart_of(key), ([0] * len(names), [0] * len(names))
            )
            visitors[i] += cell.exposures
            conversions[i] += cell.conversions.get(goal, 0)
    found = []
    for segment, (visitors, conversions) in sorted(sums.items()):
        if sum(visitors) == 0:
            continue
        weights = span.weights_in(segment)
        srm = (
            _neutral(visitors, weights, SEGMENT_WEIGHTS_FORGOTTEN)
            if span.forgotten
            else srm_check(visitors, weights)
        )
        found.append(SegmentCounts(segment, weights, tuple(visitors), tuple(conversions), srm))
    return tuple(found)


def _stratified(
    strata: Sequence[tuple[Sequence[int], Sequence[int]]], arms: int
) -> tuple[list[float | None], list[float | None]]:
    """Each arm's rate as Σ (stratum's share of visitors) × (arm's rate in the stratum), and
    its variance; a stratum is a period, or a segment of a period whose weights differed
    by segment. Only strata in which every arm has visitors count: one an arm missed says
    nothing about it against the others."""
    usable = [(v, c) for v, c in strata if min(v) > 0]
    total = sum(sum(v) for v, _ in usable)
    if total == 0:
        return [None] * arms, [None] * arms
    rates: list[float | None] = []
    variances: list[float | None] = []
    for i in range(arms):
        rate = 0.0
        variance = 0.0
        for visitors, conversions in usable:
            share = sum(visitors) / total
            n = visitors[i]
            p = conversions[i] / n
            rate += share * p
            # The Beta(1, 1) posterior's variance: finite also at 0 or all converted.
            mean = (conversions[i] + 1) / (n + 2)
            variance += share**2 * mean * (1 - mean) / (n + 3)
        rates.append(rate)
        variances.append(variance)
    return rates, variances


@dataclass(frozen=True, slots=True)
class AllocationReport:
    """A bandit's weights as the report shows them: those new visitors get now, since
    when, what they came from, and the analysis per weight period."""

    min_share: float
    weights: tuple[tuple[str, float], ...]  # in force now (the rules' split before any look)
    since: float | None  # when they began (local midnight, epoch); None: from the start
    prob_best: tuple[tuple[str, float], ...]  # what they were derived from
    next_weights: tuple[tuple[str, float], ...] | None  # set for the next local day
    periods: PeriodAnalysis | None  # None without daily counts (no rules, no zone)
    # The segments with weights of their own now (the rest get ``weights``).
    segments: tuple[tuple[SegmentKey, tuple[tuple[str, float], ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "allocation": "bandit",
            "min_share": self.min_share,
            "weights": dict(self.weights),
            "since": self.since,
            "prob_best": dict(self.prob_best),
            "segment_weights": [
                {**segment_fields(key), "segment": segment_name(key), "weights": dict(weights)}
                for key, weights in self.segments
            ],
            "next_weights": None if self.next_weights is None else dict(self.next_weights),
            "periods": None if self.periods is None else self.periods.to_dict(),
        }


def allocation_report(
    experiment: Experiment,
    state: RolloutState,
    today: int | None,
    daily: DailyCounts | None,
    first: int | None,
    cells: DailyCells | None = None,
) -> AllocationReport:
    """The report's view of a bandit on local day ``today``; ``daily`` (and ``cells``, per
    segment, where the weights differed by segment) from day ``first`` (the experiment's
    start) on, for the analysis per period."""
    names = [arm.name for arm in experiment.arms]
    current = period_on(state, today)
    usable = current if current is not None and period_weights(experiment, current) else None
    weights = weights_on(experiment, state, today)
    upcoming = state.weights[-1] if state.weights else None
    pending = (
        upcoming.weights
        if upcoming is not None and today is not None and upcoming.day > today
        else None
    )
    periods = None
    if daily is not None and first is not None and today is not None:
        periods = analyze_periods(experiment, state, daily, first, today, cells)
    own = () if usable is None else usable.segments
    return AllocationReport(
        experiment.min_share,
        tuple(zip(names, weights, strict=True)),
        None if usable is None else usable.since,
        () if usable is None else usable.prob_best,
        pending,
        periods,
        tuple((key, tuple(zip(names, shares, strict=True))) for key, shares in own),
    )
