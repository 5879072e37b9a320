"""The experiment report: what the dashboard, the JSON API, the CSV export and
``daypart report`` show for each experiment.

``report_from_counts`` is the pure core — rules, counts, rollout state and the time in, a
frozen ``Report`` out — so it can be tested and benchmarked without a store;
``build_report``/``build_reports`` read the store and call it.

A report holds the pooled analysis of every arm on the experiment's goal (conversion
statistics from ``daypart.experiments.stats``, plus revenue per visitor when the goal
carries values), the same per segment (device × daypart, pooled over channels), the
sample-ratio check of the pooled exposures against the arms' weights, and the verdict the
rollout gates would reach now (``evaluate_gates``, exactly as the evaluator calls it).
When the counts carry channels (the rules declare ``site.channel_from``), the same again
per channel (pooled over devices and dayparts) and per device × daypart × channel; without
channels both lists are empty and the report is what it always was.

The traffic light (``light``) summarises it for the board, read off the gate decision's
evidence (``gates.judge_evidence``), so the board and the evaluator cannot disagree:

- ``grey``: nothing to judge — the experiment is paused, rolled back or completed, or has
  no exposures yet;
- ``red``: do not trust or do not keep — the sample ratio is off (SRM flagged), the
  evidence meets the rollback gate, or the spend is past the budget;
- ``green``: the evidence meets the advance gate — even if the stage has not yet run its
  minimum time, which ``gate`` and ``reasons`` then say (the evaluator acts at the next
  whole period of the stage);
- ``amber``: running and not yet conclusive, or too few visitors for the gates.

``reasons`` lists, in words, why a number should not be trusted yet or why the rollout is
holding (SRM, too few visitors, the stage's minimum time, not yet conclusive, ...).

``best_arm`` is the arm most likely to be best (pooled), which may be the control — it is
what "complete" without a named winner ships; ``best_prob_beat_control`` is its
probability to beat control, None when the control itself leads or there is no data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from daypart.experiments.bandit import local_day
from daypart.experiments.business import BusinessCase, Spend, business_case
from daypart.experiments.data_quality import split_consistent
from daypart.experiments.gates import (
    BudgetUse,
    GateDecision,
    budget_use,
    evaluate_gates,
    next_look,
)
from daypart.experiments.holdout import HOLDOUT_PREFIX
from daypart.experiments.pooling import (
    arm_totals,
    channel_segments_of,
    channels_of,
    segments_of,
)
from daypart.experiments.segment_decisions import (
    PerSegment,
    per_segment,
    per_segment_view,
    undecided_counts,
)
from daypart.experiments.segment_weights import gate_pairs, weights_differ_by_segment
from daypart.experiments.segments import segment_of
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import (
    ArmCounts,
    ArmResult,
    RevenueResult,
    SrmResult,
    analyze_many,
    srm_check,
)
from daypart.experiments.stats.reasons import (
    NO_ARMS,
    TOO_FEW_CONVERSIONS,
    TOO_FEW_EXPOSURES,
    WEIGHTS_UNKNOWN,
)
from daypart.experiments.stats.revenue import MIN_CONVERSIONS, revenue_table
from daypart.experiments.store.base import (
    Cell,
    CellKey,
    DailyCells,
    DailyCounts,
    ExperimentCounts,
    Store,
)
from daypart.experiments.weight_periods import PER_PERIOD, AllocationReport, allocation_report
from daypart.rules.model import Arm, Audience, Experiment, RuleSet, Stage

__all__ = [
    "LIGHTS",
    "ArmReport",
    "ChannelReport",
    "Report",
    "ReportInput",
    "SegmentReport",
    "build_report",
    "build_reports",
    "experiment_from_counts",
    "report_from_counts",
    "reports_from_counts",
    "stage_label",
]

LIGHTS = ("green", "amber", "red", "grey")
ALL = "all"
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class ArmReport:
    """One arm in one segment (or pooled): its rule-side identity and its statistics."""

    name: str
    variant: str
    weight: float
    result: ArmResult
    revenue: RevenueResult | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "variant": self.variant, "weight": self.weight}
        data.update(self.result.to_dict())
        if self.revenue is not None:
            revenue = self.revenue.to_dict()
            data.update(
                {
                    "revenue": revenue["revenue"],
                    "value_per_conversion": revenue["value_per_conversion"],
                    "revenue_per_visitor": revenue["revenue_per_visitor"],
                    "revenue_per_visitor_interval": revenue["revenue_per_visitor_interval"],
                    "revenue_prob_beat_control": revenue["prob_beat_control"],
                    "incremental_revenue_per_1000": revenue["incremental_per_1000"],
                    "incremental_revenue_per_1000_interval": revenue[
                        "incremental_per_1000_interval"
                    ],
                    "revenue_reason": revenue["reason"],
                }
            )
        return data


@dataclass(frozen=True, slots=True)
class SegmentReport:
    device: str
    daypart: str
    visitors: int
    arms: tuple[ArmReport, ...]
    channel: str | None = None  # None: pooled over channels ("" is "counted before channels")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"device": self.device, "daypart": self.daypart}
        if self.channel is not None:
            data["channel"] = self.channel
        data["visitors"] = self.visitors
        data["arms"] = [arm.to_dict() for arm in self.arms]
        return data


@dataclass(frozen=True, slots=True)
class ChannelReport:
    """One channel, pooled over devices and dayparts. Channel "" holds what was counted
    before the rules declared channels."""

    channel: str
    visitors: int
    arms: tuple[ArmReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "visitors": self.visitors,
            "arms": [arm.to_dict() for arm in self.arms],
        }


@dataclass(frozen=True, slots=True)
class Report:
    experiment: str
    goal: str
    state: RolloutState
    stage_label: str
    visitors: int  # exposures, every arm and segment
    arms: tuple[ArmReport, ...]  # pooled over segments, control first
    segments: tuple[SegmentReport, ...]
    srm: SrmResult
    gate: GateDecision
    light: str
    reasons: tuple[str, ...]
    best_arm: str | None  # the arm most likely best (may be the control); None without data
    best_prob_beat_control: float | None  # None when the best arm is the control
    revenue: bool  # whether the arms carry revenue fields
    data_quality: tuple[str, ...] = ()  # inconsistent cells, left out of every analysis
    business: BusinessCase | None = None  # projection and spend, in conversions and money
    next_look: float | None = None  # when the gates next look at the evidence (epoch)
    # Only when the counts carry channels (else both empty): per channel, pooled over
    # devices and dayparts; and per device × daypart × channel.
    channels: tuple[ChannelReport, ...] = ()
    channel_segments: tuple[SegmentReport, ...] = ()
    budget: BudgetUse | None = None  # the budget and its spend, when the rules set one
    allocation: AllocationReport | None = None  # a bandit's weights, and per weight period
    per_segment: PerSegment | None = None  # decide: per_segment: what each segment decided

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "goal": self.goal,
            "state": self.state.to_dict(),
            "stage_label": self.stage_label,
            "visitors": self.visitors,
            "best_arm": self.best_arm,
            "best_prob_beat_control": self.best_prob_beat_control,
            "light": self.light,
            "reasons": list(self.reasons),
            "srm": self.srm.to_dict(),
            "gate": {
                "verdict": self.gate.verdict,
                "reason": self.gate.reason,
                "best_arm": self.gate.best_arm,
                "numbers": dict(self.gate.numbers),
                "evidence": None
                if self.gate.evidence is None
                else {
                    "verdict": self.gate.evidence.verdict,
                    "reason": self.gate.evidence.reason,
                },
            },
            "revenue": self.revenue,
            "data_quality": list(self.data_quality),
            "business": None if self.business is None else self.business.to_dict(),
            "next_look": self.next_look,
            "budget": None if self.budget is None else self.budget.to_dict(),
            "allocation": None if self.allocation is None else self.allocation.to_dict(),
            "per_segment": None if self.per_segment is None else self.per_segment.to_dict(),
            "arms": [arm.to_dict() for arm in self.arms],
            "segments": [segment.to_dict() for segment in self.segments],
            "channels": [channel.to_dict() for channel in self.channels],
            "channel_segments": [segment.to_dict() for segment in self.channel_segments],
        }


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def _audience_label(audience: Audience) -> str:
    parts = []
    for kind, matchers in (
        ("header", audience.header),
        ("query", audience.query),
        ("cookie", audience.cookie),
    ):
        for name, values in matchers.items():
            if values == frozenset({"*"}):
                parts.append(f"{kind} {name} present")
            else:
                parts.append(f"{kind} {name}={'|'.join(sorted(values))}")
    return "audience " + " and ".join(parts)


def _stage_description(stage: Stage) -> str:
    if stage.audience is None:
        return f"{_percent(stage.traffic)} of traffic"
    label = _audience_label(stage.audience)
    return label if stage.traffic >= 1.0 else f"{label}, {_percent(stage.traffic)} of it"


def stage_label(experiment: Experiment, state: RolloutState) -> str:
    """``"stage 2 of 4: 25% of traffic"``, ``"stage 1 of 4: audience header
    x-channel=callcenter"``, ``"completed: offer for everyone"``, ..."""
    if state.status == "completed" and state.segments:
        return f"completed per segment: {state.winner} where nothing shipped"
    if state.status == "completed":
        return f"completed: {state.winner} for everyone"
    stages = experiment.rollout
    index = min(max(state.stage, 0), len(stages) - 1)
    label = f"stage {index + 1} of {len(stages)}"
    if state.status == "rolled_back":
        return f"rolled back at {label}: everyone sees {experiment.control.name}"
    paused = " (paused)" if state.status == "paused" else ""
    return f"{label}{paused}: {_stage_description(stages[index])}"


def _group(counts: ExperimentCounts, by: Callable[[CellKey], K]) -> dict[K, ExperimentCounts]:
    """One ``ExperimentCounts`` per ``by(key)`` (a segment, a channel, ...): a single pass
    over the cells, so that ``arm_totals`` on each costs only that group's cells."""
    grouped: dict[K, dict[CellKey, Cell]] = {}
    for key, cell in counts.cells.items():
        grouped.setdefault(by(key), {})[key] = cell
    return {group: ExperimentCounts(counts.experiment, cells) for group, cells in grouped.items()}


def _per_group(
    groups: Mapping[K, ExperimentCounts], order: Sequence[K], names: Sequence[str], goal: str
) -> list[tuple[K, list[ArmCounts]]]:
    """Totals per arm for each group with any count, in ``order``."""
    found = []
    for group in order:
        totals = arm_totals(groups[group], names, goal)
        if any(t.visitors or t.conversions for t in totals):
            found.append((group, totals))
    return found


def _revenue(analyses: Sequence[Sequence[ArmCounts]]) -> list[list[RevenueResult] | None]:
    """Revenue per visitor for each analysis; None where the sums cannot come from real
    values (a store bug): the report leaves revenue out there rather than fail."""
    by_size: dict[int, list[int]] = {}
    for index, totals in enumerate(analyses):
        by_size.setdefault(len(totals), []).append(index)
    results: list[list[RevenueResult] | None] = [None] * len(analyses)
    for indices in by_size.values():
        table = np.array(
            [
                [(t.visitors, t.conversions, t.revenue, t.revenue_sq) for t in analyses[i]]
                for i in indices
            ],
            dtype=float,
        ).reshape(len(indices), -1, 4)
        for index, result in zip(indices, revenue_table(table), strict=True):
            results[index] = result
    return results


def _arm_reports(
    arms: Sequence[Arm],
    results: Sequence[ArmResult],
    revenue: Sequence[RevenueResult] | None,
) -> tuple[ArmReport, ...]:
    return tuple(
        ArmReport(
            arm.name,
            arm.variant,
            arm.weight,
            result,
            None if revenue is None else revenue[i],
        )
        for i, (arm, result) in enumerate(zip(arms, results, strict=True))
    )


def light_of(gate: GateDecision, srm: SrmResult, visitors: int) -> str:
    """The board's traffic light, read off the gate decision (never from thresholds of its
    own, so it cannot disagree with what the evaluator does)."""
    evidence = gate.evidence
    if evidence is None or visitors == 0:
        return "grey"  # not running, or nothing to judge
    if (
        srm.flagged
        or gate.verdict in ("pause", "rollback")  # a rollback: its evidence, or the budget
        or evidence.verdict in ("rollback", "inconsistent_data")
    ):
        return "red"
    if evidence.verdict == "advance":
        return "green"
    return "amber"


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What one report is computed from (see ``report_from_counts``)."""

    experiment: Experiment
    counts: ExperimentCounts
    state: RolloutState
    revenue: bool | None = None
    weights_known: bool = True
    # Whether to split by channel when the counts carry channels: False for readers that
    # show none of it (the board), as channels multiply the analyses by up to 35.
    channels: bool = True
    # A bandit's daily counts from its first day (``first_day``) to ``today`` (date
    # ordinals, the site's local days): its analysis and SRM go per weight period.
    daily: DailyCounts | None = None
    first_day: int | None = None
    today: int | None = None
    # ... and per cell, where its weights differed by segment (``weight_periods``).
    daily_cells: DailyCells | None = None


@dataclass(slots=True)
class _Prepared:
    """A report's counts, pooled and per segment, before any statistics."""

    source: ReportInput
    reasons: list[str]
    pooled: list[ArmCounts]
    per_segment: list[tuple[tuple[str, str], list[ArmCounts]]]
    revenue: bool
    data_warnings: tuple[str, ...] = ()
    per_channel: list[tuple[str, list[ArmCounts]]] = field(default_factory=list)
    per_channel_segment: list[tuple[tuple[str, str, str], list[ArmCounts]]] = field(
        default_factory=list
    )

    @property
    def totals(self) -> list[list[ArmCounts]]:
        """Every analysis, in this order: pooled, segments, channels, channel segments."""
        return [
            self.pooled,
            *(totals for _, totals in self.per_segment),
            *(totals for _, totals in self.per_channel),
            *(totals for _, totals in self.per_channel_segment),
        ]


def _prepare(source: ReportInput) -> _Prepared:
    experiment = source.experiment
    names = [arm.name for arm in experiment.arms]
    counts, data_warnings = split_consistent(source.counts, names, experiment.goal)
    reasons = list(data_warnings)
    dropped = sorted({key[0] for key in counts.cells} - set(names))
    if dropped:
        reasons.append(f"counts of arms no longer in the rules are left out: {', '.join(dropped)}")
    goal = experiment.goal
    pooled = arm_totals(counts, names, goal)
    segments = _group(counts, lambda key: (key[1], key[2]))
    per_segment = _per_group(segments, segments_of(counts), names, goal)
    per_channel: list[tuple[str, list[ArmCounts]]] = []
    per_channel_segment: list[tuple[tuple[str, str, str], list[ArmCounts]]] = []
    channels = channels_of(counts) if source.channels else []
    if channels:
        per_channel = _per_group(_group(counts, lambda key: key[3]), channels, names, goal)
        cells = _group(counts, lambda key: (key[1], key[2], key[3]))
        per_channel_segment = _per_group(cells, channel_segments_of(counts), names, goal)
    revenue = source.revenue
    if revenue is None:
        revenue = any(t.revenue_sq > 0 for t in pooled)
    return _Prepared(
        source,
        reasons,
        pooled,
        per_segment,
        bool(revenue and names),
        data_warnings,
        per_channel,
        per_channel_segment,
    )


def report_from_counts(
    experiment: Experiment,
    counts: ExperimentCounts,
    state: RolloutState,
    now: float,
    *,
    revenue: bool | None = None,
    weights_known: bool = True,
) -> Report:
    """The report of ``experiment`` from its ``counts`` and rollout ``state`` at ``now``.

    ``revenue``: whether to report revenue per visitor; None decides from the data (any
    value recorded on the goal). ``weights_known``: False when the arms' weights are
    guesses (no rules), which skips the sample-ratio check."""
    source = ReportInput(experiment, counts, state, revenue, weights_known)
    return reports_from_counts([source], now)[0]


def reports_from_counts(sources: Sequence[ReportInput], now: float) -> list[Report]:
    """``report_from_counts`` for many experiments, with all their analyses (pooled and
    per segment, conversion and revenue) computed in one vectorised call each."""
    prepared = [_prepare(source) for source in sources]
    problems = []
    for item in prepared:
        if item.source.experiment.arms:
            problems += [[(t.conversions, t.visitors) for t in totals] for totals in item.totals]
    analyses = iter(analyze_many(problems, control=0))
    with_revenue = [totals for item in prepared if item.revenue for totals in item.totals]
    revenues = iter(_revenue(with_revenue))
    reports = []
    for item in prepared:
        count = len(item.totals) if item.source.experiment.arms else 0
        results = [next(analyses) for _ in range(count)]
        revenue = [next(revenues) for _ in range(count)] if item.revenue else [None] * count
        reports.append(_assemble(item, results, revenue, now))
    return reports


def _assemble(
    item: _Prepared,
    analyses: Sequence[Sequence[ArmResult]],
    revenues: Sequence[Sequence[RevenueResult] | None],
    now: float,
) -> Report:
    experiment, state = item.source.experiment, item.source.state
    arms = experiment.arms
    names = [arm.name for arm in arms]
    reasons = list(item.reasons)
    visitors = [t.visitors for t in item.pooled]
    total_visitors = sum(visitors)
    if not arms:
        return Report(
            experiment=experiment.name,
            goal=experiment.goal,
            state=state,
            stage_label=stage_label(experiment, state),
            visitors=0,
            arms=(),
            segments=(),
            srm=_srm_neutral(visitors, NO_ARMS),
            gate=GateDecision("hold", "the experiment has no arms"),
            light="grey",
            reasons=("the experiment has no arms", *reasons),
            best_arm=None,
            best_prob_beat_control=None,
            revenue=False,
        )

    pooled_revenue = revenues[0]
    if item.revenue and pooled_revenue is None:
        reasons.append("revenue sums are inconsistent; revenue per visitor is left out")
    arm_reports = _arm_reports(arms, analyses[0], pooled_revenue)
    # analyses and revenues: pooled, then segments, channels, channel segments (``totals``)
    first_channel = 1 + len(item.per_segment)
    first_cell = first_channel + len(item.per_channel)

    def reported(index: int) -> tuple[ArmReport, ...]:
        return _arm_reports(arms, analyses[index], revenues[index] if pooled_revenue else None)

    segment_reports = tuple(
        SegmentReport(device, daypart, sum(t.visitors for t in totals), reported(index))
        for index, ((device, daypart), totals) in enumerate(item.per_segment, 1)
    )
    channel_reports = tuple(
        ChannelReport(channel, sum(t.visitors for t in totals), reported(index))
        for index, (channel, totals) in enumerate(item.per_channel, first_channel)
    )
    cell_reports = tuple(
        SegmentReport(
            device, daypart, sum(t.visitors for t in totals), reported(index), channel=channel
        )
        for index, ((device, daypart, channel), totals) in enumerate(
            item.per_channel_segment, first_cell
        )
    )

    source = item.source
    allocation = None
    if experiment.allocation == "bandit":
        allocation = allocation_report(
            experiment, state, source.today, source.daily, source.first_day, source.daily_cells
        )
    if not source.weights_known:
        srm = _srm_neutral(visitors, WEIGHTS_UNKNOWN)
    elif state.weights and experiment.allocation == "bandit":
        # Changing weights: exposures match the weights of the period they came in.
        periods = None if allocation is None else allocation.periods
        srm = _srm_neutral(visitors, PER_PERIOD) if periods is None else periods.srm
    else:
        srm = srm_check(visitors, [arm.weight for arm in arms])
    results = analyses[0]
    business = business_case(
        results,
        pooled_revenue,
        names,
        experiment.rollout[min(state.stage, len(experiment.rollout) - 1)]
        if experiment.rollout
        else None,
        state.started,
        now,
    )
    spend = Spend(business.spent_conversions, business.spent_revenue)
    # Exactly the evaluator's call (its analysis is the pooled one just computed, so it
    # comes from the cache).
    judged = [t.pair for t in item.pooled]
    segmented = bool(state.segments) and per_segment(experiment)
    if segmented or weights_differ_by_segment(experiment, state):
        # As the evaluator: the undecided segments, standardised over segments once a
        # bandit's weights differed by segment.
        counts, _ = split_consistent(item.source.counts, names, experiment.goal)
        judged = gate_pairs(
            experiment, state, undecided_counts(counts, state) if segmented else counts
        )
    gate = evaluate_gates(experiment, state, judged, now, item.data_warnings, spend=spend)

    if state.status != "running":
        reasons.append(f"experiment is {state.status.replace('_', ' ')}")
    if total_visitors == 0:
        reasons.append("no exposures yet")
    if srm.flagged:
        split = "/".join(f"{arm.weight:g}" for arm in arms)
        if allocation is not None and state.weights:
            by_segment = any(p.segments or p.forgotten for p in state.weights)
            split = "bandit's per-period" + (" and per-segment" if by_segment else "")
        reasons.append(
            f"sample ratio mismatch: exposures {'/'.join(map(str, visitors))} against a "
            f"{split} split (p = {srm.p_value:.2g}); find what loses or duplicates "
            "visitors before trusting these numbers"
        )
    elif srm.reason == TOO_FEW_EXPOSURES and total_visitors > 0:
        reasons.append("too few exposures yet to check the sample ratio")
    if state.status == "running" and len(arms) >= 2:
        if gate.verdict == "hold":
            reasons.append(gate.reason)
        else:
            reasons.append(f"the gates would {gate.verdict}: {gate.reason}")
    if pooled_revenue and any(r.reason == TOO_FEW_CONVERSIONS for r in pooled_revenue):
        reasons.append(
            f"revenue per visitor needs at least {MIN_CONVERSIONS} conversions in every arm"
        )

    best_arm: str | None = None
    best_beat: float | None = None
    if total_visitors > 0:
        best = max(range(len(results)), key=lambda i: results[i].prob_best)
        best_arm = names[best]
        best_beat = None if best == 0 else results[best].prob_beat_control
    return Report(
        experiment=experiment.name,
        goal=experiment.goal,
        state=state,
        stage_label=stage_label(experiment, state),
        visitors=total_visitors,
        arms=arm_reports,
        segments=segment_reports,
        srm=srm,
        gate=gate,
        light=light_of(gate, srm, total_visitors),
        reasons=tuple(reasons),
        best_arm=best_arm,
        best_prob_beat_control=best_beat,
        revenue=bool(pooled_revenue),
        data_quality=item.data_warnings,
        business=business,
        next_look=next_look(experiment, state),
        channels=channel_reports,
        channel_segments=cell_reports,
        budget=budget_use(experiment, spend),
        allocation=allocation,
        per_segment=per_segment_view(
            experiment,
            state,
            [segment_of(key) for key, cell in item.source.counts.cells.items() if cell.exposures],
        ),
    )


def _srm_neutral(visitors: Sequence[int], reason: str) -> SrmResult:
    return SrmResult(1.0, 0.0, False, tuple(visitors), (), reason=reason)


def _state(raw: Mapping[str, Any] | None, now: float) -> RolloutState:
    if raw is None:
        # No state yet: the evaluator's first run writes stage 0, starting now.
        return RolloutState(since=now, started=now)
    return RolloutState.from_dict(raw)


async def _input(
    store: Store, experiment: Experiment, ruleset: RuleSet | None, now: float
) -> ReportInput:
    state = _state(await store.get_state(experiment.name), now)
    counts = await store.counts(experiment.name)
    revenue: bool | None = None
    daily = first_day = today = None
    cells = None
    if ruleset is not None:
        goal = ruleset.goals.get(experiment.goal)
        if goal is not None and goal.value_header is not None:
            revenue = True
        if experiment.allocation == "bandit":
            zone = ruleset.site.timezone
            today = local_day(now, zone)
            first_day = min(local_day(state.started, zone), today)
            if state.weights:  # before any weight change the pooled analysis is the same
                daily = await store.daily(experiment.name, first_day, today)
            if any(period.segments or period.forgotten for period in state.weights):
                cells = await store.daily_cells(experiment.name, first_day, today)
    return ReportInput(
        experiment,
        counts,
        state,
        revenue,
        daily=daily,
        first_day=first_day,
        today=today,
        daily_cells=cells,
    )


async def build_report(
    store: Store,
    experiment: Experiment,
    ruleset: RuleSet | None = None,
    now: float | None = None,
) -> Report:
    """Read ``experiment``'s counts and state from ``store`` and report on them."""
    now = time.time() if now is None else now
    return reports_from_counts([await _input(store, experiment, ruleset, now)], now)[0]


def experiment_from_counts(counts: ExperimentCounts) -> Experiment:
    """A stand-in for an experiment the rules no longer (or never) describe: its arms
    are the ones with counts (``control`` first if there is one, else the first by name),
    its goal the one with the most conversions, its weights unknown (equal)."""
    names = sorted({key[0] for key in counts.cells})
    if "control" in names:
        names.remove("control")
        names.insert(0, "control")
    conversions: dict[str, int] = {}
    for cell in counts.cells.values():
        for goal, count in cell.conversions.items():
            conversions[goal] = conversions.get(goal, 0) + count
    goal = min(conversions, key=lambda g: (-conversions[g], g)) if conversions else ""
    return Experiment(
        name=counts.experiment,
        arms=tuple(Arm(name, variant=name) for name in names),
        goal=goal,
    )


async def build_reports(
    store: Store, ruleset: RuleSet | None, now: float | None = None, *, channels: bool = True
) -> list[Report]:
    """Reports on every experiment in the rules (in their order); without rules, on every
    experiment the store knows, with arms and goal taken from the counts. ``channels``:
    False leaves the per-channel analyses out (``channels`` and ``channel_segments``
    empty) for a reader that shows none of them."""
    now = time.time() if now is None else now
    sources = []
    if ruleset is not None:
        for experiment in ruleset.experiments.values():
            source = await _input(store, experiment, ruleset, now)
            sources.append(replace(source, channels=channels))
    else:
        for name in await store.experiments():
            if name.startswith(HOLDOUT_PREFIX):  # a rule's holdout: holdout_report's
                continue
            counts = await store.counts(name)
            state = _state(await store.get_state(name), now)
            experiment = experiment_from_counts(counts)
            sources.append(
                ReportInput(experiment, counts, state, weights_known=False, channels=channels)
            )
    return reports_from_counts(sources, now)
