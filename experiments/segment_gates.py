"""The gates per segment: in which segments a treatment wins, loses, or cannot tell yet.

Pure: an experiment and its counts in, a ``SegmentJudgement`` out. For each segment
(device × daypart, and channel where the rules declare channels: ``segments.segment_of``)
and each treatment arm: the visitors per arm, the segment's own (raw) uplift and
probability to beat control (``stats.analyze``, exactly as the report's segment rows), the
partially pooled ones
(``stats.partial_pooling``: each segment's effect pulled toward the others' by how noisy
it is), and a verdict:

- ``ship``: the arm wins here: pooled P(beat control) reaches the gate's probability
  made strict enough for the number of comparisons (``ship_threshold``, Bonferroni), its
  expected loss (partially pooled) is within the ship gate's ``expected_relative_loss_below``
  and ``expected_loss_below`` where given, and both arms have the gate's minimum visitors
  here;
- ``rollback``: the arm loses here: pooled P(worse than control) reaches the rollback
  gate's probability, made as strict;
- ``too_few_visitors``: either arm has fewer than the gates' minimum here;
- ``inconclusive``: neither yet.

The comparisons are segments × treatment arms: with twelve segments and one treatment an
A/A test gets twelve chances to ship by luck, so each must clear 1 − (1 − p)/12 for the
chance of any wrong ship to stay within 1 − p. Partial pooling keeps small segments from
deciding on their own noise; the correction keeps many segments from adding up to one
wrong decision. Cells whose counts disagree with themselves (``data_quality``) are left
out, and each is named in ``warnings``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from daypart.experiments.data_quality import split_consistent
from daypart.experiments.segments import (
    SEGMENT_FIELDS,
    SegmentKey,
    segment_fields,
    segment_name,
    segment_of,
    segment_words,
)
from daypart.experiments.stats import ArmCounts, analyze_many
from daypart.experiments.stats.partial_pooling import (
    expected_relative_loss,
    partial_pool,
    ship_threshold,
)
from daypart.experiments.store.base import CellKey, ExperimentCounts
from daypart.rules.model import SHIP, Experiment, Gates

SegmentVerdict = Literal["ship", "rollback", "too_few_visitors", "inconclusive"]


def _ship_probability(gates: Gates) -> float:
    """The probability to beat control at which the gates let a treatment win: shipping's
    (``ship_when``, or the older ``advance_when``)."""
    threshold = gates.ship.prob_beat_control
    if threshold is None:  # a ship gate on losses alone (built in Python): the default
        threshold = SHIP.prob_beat_control
    assert threshold is not None
    return threshold


def _rollback_probability(gates: Gates) -> float:
    """The probability to be worse than control at which the gates roll a treatment back."""
    return gates.rollback_prob_worse_than_control


def _min_visitors(gates: Gates) -> int:
    return gates.min_visitors_per_arm


@dataclass(frozen=True, slots=True)
class ArmInSegment:
    """One treatment against control in one segment."""

    arm: str
    visitors: int
    conversions: int
    # The segment's own numbers (as the report's segment rows show them).
    raw_uplift: float
    raw_uplift_interval: tuple[float, float]
    raw_prob_beat_control: float
    # Partially pooled across segments: what the verdict rests on.
    uplift: float
    uplift_interval: tuple[float, float]
    prob_beat_control: float
    verdict: SegmentVerdict
    reason: str
    # What shipping it here is expected to give up, as a share of control's rate here
    # (partially pooled): the ship gate's ``expected_relative_loss_below`` compares this.
    expected_relative_loss: float = 0.0
    control_rate: float = 0.0  # control's posterior mean rate here

    @property
    def prob_worse_than_control(self) -> float:
        return 1.0 - self.prob_beat_control

    @property
    def expected_loss(self) -> float:
        """The expected loss in conversion rate (``expected_loss_below``)."""
        return self.expected_relative_loss * self.control_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "visitors": self.visitors,
            "conversions": self.conversions,
            "raw_uplift": self.raw_uplift,
            "raw_uplift_interval": list(self.raw_uplift_interval),
            "raw_prob_beat_control": self.raw_prob_beat_control,
            "uplift": self.uplift,
            "uplift_interval": list(self.uplift_interval),
            "prob_beat_control": self.prob_beat_control,
            "prob_worse_than_control": self.prob_worse_than_control,
            "expected_relative_loss": self.expected_relative_loss,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class SegmentVerdicts:
    """Every treatment's verdict in one segment."""

    segment: SegmentKey
    control_visitors: int
    control_conversions: int
    arms: tuple[ArmInSegment, ...]  # the treatments, in the experiment's order

    @property
    def name(self) -> str:
        return segment_name(self.segment)

    @property
    def words(self) -> str:
        return segment_words(self.segment)

    @property
    def visitors(self) -> int:
        return self.control_visitors + sum(arm.visitors for arm in self.arms)

    def arm(self, name: str) -> ArmInSegment:
        return next(arm for arm in self.arms if arm.arm == name)

    @property
    def winner(self) -> ArmInSegment | None:
        """The treatment that ships here (the likeliest to beat control if several do)."""
        shipping = [arm for arm in self.arms if arm.verdict == "ship"]
        return max(shipping, key=lambda arm: arm.prob_beat_control, default=None)

    @property
    def control_wins(self) -> bool:
        """Every treatment loses here."""
        return bool(self.arms) and all(arm.verdict == "rollback" for arm in self.arms)

    def to_dict(self) -> dict[str, Any]:
        return {
            **segment_fields(self.segment),
            "segment": self.name,
            "visitors": self.visitors,
            "control_visitors": self.control_visitors,
            "control_conversions": self.control_conversions,
            "arms": [arm.to_dict() for arm in self.arms],
        }


@dataclass(frozen=True, slots=True)
class SegmentJudgement:
    experiment: str
    goal: str
    control: str
    comparisons: int  # segments × treatment arms: what the thresholds are corrected for
    ship_probability: float  # the gate's, before the correction
    rollback_probability: float
    ship_threshold: float  # what P(beat control) must reach in one segment
    rollback_threshold: float  # what P(worse than control) must reach in one segment
    min_visitors_per_arm: int
    segments: tuple[SegmentVerdicts, ...]
    spread: dict[str, float]  # per treatment: how much segments' true effects differ (log-odds)
    warnings: tuple[str, ...] = ()  # inconsistent cells left out
    # The ship gate's loss thresholds (None: not asked for), as in ``gates.ship``.
    ship_relative_loss_below: float | None = None
    ship_loss_below: float | None = None

    def segment(self, key: SegmentKey) -> SegmentVerdicts | None:
        return next((s for s in self.segments if s.segment == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "goal": self.goal,
            "control": self.control,
            # The fields its segments have: channel only where they were counted with one.
            "segment_fields": list(
                SEGMENT_FIELDS[: max((len(s.segment) for s in self.segments), default=2)]
            ),
            "comparisons": self.comparisons,
            "ship_probability": self.ship_probability,
            "rollback_probability": self.rollback_probability,
            "ship_threshold": self.ship_threshold,
            "rollback_threshold": self.rollback_threshold,
            "min_visitors_per_arm": self.min_visitors_per_arm,
            "ship_relative_loss_below": self.ship_relative_loss_below,
            "ship_loss_below": self.ship_loss_below,
            "spread": dict(self.spread),
            "warnings": list(self.warnings),
            "segments": [segment.to_dict() for segment in self.segments],
        }


def judge_segments(
    experiment: Experiment,
    counts: ExperimentCounts,
    goal: str | None = None,
    by: Callable[[CellKey], SegmentKey] = segment_of,
) -> SegmentJudgement:
    """Each segment's verdict for each treatment of ``experiment``, from the store's
    ``counts``, on ``goal`` (the experiment's own by default); segments as ``by`` groups
    the cells (``segments.device_daypart_of``: pooled over channels)."""
    goal = experiment.goal if goal is None else goal
    gates = experiment.gates
    names = [arm.name for arm in experiment.arms]
    kept, warnings = split_consistent(counts, names, goal)
    per_segment = segment_totals(kept, names, goal, by)
    segments = sorted(per_segment)
    treatments = names[1:]
    comparisons = max(1, len(segments) * len(treatments))
    ship_at = ship_threshold(_ship_probability(gates), comparisons)
    rollback_at = ship_threshold(_rollback_probability(gates), comparisons)
    judgement = SegmentJudgement(
        experiment=experiment.name,
        goal=goal,
        control=names[0] if names else "",
        comparisons=comparisons,
        ship_probability=_ship_probability(gates),
        rollback_probability=_rollback_probability(gates),
        ship_threshold=ship_at,
        rollback_threshold=rollback_at,
        min_visitors_per_arm=_min_visitors(gates),
        segments=(),
        spread={},
        warnings=warnings,
        ship_relative_loss_below=gates.ship.expected_relative_loss_below,
        ship_loss_below=gates.ship.expected_loss_below,
    )
    if not treatments or not segments:
        return judgement
    raw = analyze_many([[t.pair for t in per_segment[key]] for key in segments], control=0)
    pooled = {}
    for index, arm in enumerate(treatments, start=1):
        pooled[arm] = partial_pool(
            [(segment_name(key), per_segment[key][0], per_segment[key][index]) for key in segments]
        )
    verdicts = []
    for row, key in enumerate(segments):
        control = per_segment[key][0]
        arms = []
        for index, arm in enumerate(treatments, start=1):
            counted = per_segment[key][index]
            own = raw[row][index]
            effect = pooled[arm].segments[row]
            raw_uplift = own.rate / raw[row][0].rate - 1.0
            loss = expected_relative_loss(effect.control_rate, effect.effect, effect.sd)
            verdict, reason = _verdict(
                judgement,
                arm,
                key,
                min(control.visitors, counted.visitors),
                effect.prob_beat_control,
                effect.uplift,
                effect.uplift_interval,
                loss,
                effect.control_rate,
            )
            arms.append(
                ArmInSegment(
                    arm=arm,
                    visitors=counted.visitors,
                    conversions=counted.conversions,
                    raw_uplift=raw_uplift,
                    raw_uplift_interval=own.uplift_interval,
                    raw_prob_beat_control=own.prob_beat_control,
                    uplift=effect.uplift,
                    uplift_interval=effect.uplift_interval,
                    prob_beat_control=effect.prob_beat_control,
                    verdict=verdict,
                    reason=reason,
                    expected_relative_loss=loss,
                    control_rate=effect.control_rate,
                )
            )
        verdicts.append(SegmentVerdicts(key, control.visitors, control.conversions, tuple(arms)))
    spread = {arm: pooled[arm].spread for arm in treatments}
    return replace(judgement, segments=tuple(verdicts), spread=spread)


def segment_totals(
    counts: ExperimentCounts,
    arms: Sequence[str],
    goal: str,
    by: Callable[[CellKey], SegmentKey] = segment_of,
) -> dict[SegmentKey, list[ArmCounts]]:
    """Visitors and conversions per segment (as ``by`` groups the cells) and arm (in
    ``arms`` order); segments where none of ``arms`` has a count are left out."""
    index = {name: i for i, name in enumerate(arms)}
    sums: dict[SegmentKey, list[list[int]]] = {}
    for key, cell in counts.cells.items():
        i = index.get(key[0])
        if i is None:
            continue
        conversions = cell.conversions.get(goal, 0)
        if not cell.exposures and not conversions:
            continue
        row = sums.setdefault(by(key), [[0, 0] for _ in arms])
        row[i][0] += cell.exposures
        row[i][1] += conversions
    return {key: [ArmCounts(v, c) for v, c in row] for key, row in sums.items()}


def percent(share: float) -> str:
    """``+19%``, ``-4.2%``: an uplift as the reasons and proposals write it."""
    if abs(share) < 0.1:
        return f"{share * 100:+.1f}%"
    return f"{share * 100:+.0f}%"


def probability(label: str, p: float) -> str:
    """``P(beat)=0.998``: three decimals, or as many as it takes not to round to 1 or 0
    (up to six; ``P(beat)>0.999999`` beyond)."""
    for digits in range(3, 7):
        text = f"{p:.{digits}f}"
        if 0.0 < float(text) < 1.0:
            return f"{label}={text}"
    return f"{label}>0.999999" if p > 0.5 else f"{label}<0.000001"


def _loss_too_high(
    judgement: SegmentJudgement, relative_loss: float, control_rate: float
) -> str | None:
    """Which of the ship gate's loss thresholds the segment's expected loss misses, in
    words; None when it meets them all."""
    relative_gate = judgement.ship_relative_loss_below
    if relative_gate is not None and not relative_loss < relative_gate:
        return (
            f"its expected loss is {relative_loss * 100:.2g}% of {judgement.control}'s rate "
            f"(ship gate below {relative_gate * 100:g}%)"
        )
    absolute_gate = judgement.ship_loss_below
    if absolute_gate is not None and not relative_loss * control_rate < absolute_gate:
        return (
            f"its expected loss is {relative_loss * control_rate:.5f} "
            f"(ship gate below {absolute_gate:g})"
        )
    return None


def _verdict(
    judgement: SegmentJudgement,
    arm: str,
    key: SegmentKey,
    smallest: int,
    beat: float,
    uplift: float,
    interval: tuple[float, float],
    relative_loss: float,
    control_rate: float,
) -> tuple[SegmentVerdict, str]:
    where = segment_words(key)
    control = judgement.control
    numbers = f"uplift {percent(uplift)} (95%: {percent(interval[0])} to {percent(interval[1])})"
    gate = f"over {judgement.comparisons} comparison(s)"
    if smallest < judgement.min_visitors_per_arm:
        return (
            "too_few_visitors",
            f"{smallest:,} visitors in the smaller of {arm} and {control} {where}; the gates "
            f"need {judgement.min_visitors_per_arm:,} per arm",
        )
    worse = 1.0 - beat
    if worse >= judgement.rollback_threshold:
        return (
            "rollback",
            f"{arm} is worse than {control} {where}: {probability('P(worse)', worse)} ≥ "
            f"{judgement.rollback_threshold:.6g} (gate {judgement.rollback_probability:g} "
            f"{gate}), {numbers}",
        )
    too_costly = _loss_too_high(judgement, relative_loss, control_rate)
    if beat >= judgement.ship_threshold and too_costly is None:
        loss = f", expected loss {relative_loss * 100:.2g}% of {control}'s rate"
        return (
            "ship",
            f"{arm} beats {control} {where}: {probability('P(beat)', beat)} ≥ "
            f"{judgement.ship_threshold:.6g} (gate {judgement.ship_probability:g} {gate})"
            f"{loss if judgement.ship_relative_loss_below is not None else ''}, {numbers}",
        )
    if beat >= judgement.ship_threshold:
        return (
            "inconclusive",
            f"not yet conclusive {where}: {arm} beats {control} with "
            f"{probability('P(beat)', beat)}, but {too_costly}; {numbers}",
        )
    return (
        "inconclusive",
        f"not yet conclusive {where}: {arm} beats {control} with {probability('P(beat)', beat)}; "
        f"shipping needs {judgement.ship_threshold:.6g}, rolling back P(worse) ≥ "
        f"{judgement.rollback_threshold:.6g}; {numbers}",
    )
