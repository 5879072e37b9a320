"""Per-segment decisions (``gates.decide: per_segment``): each device × daypart (× channel
where the rules declare channels: ``segments.segment_of``) ships its winner or rolls back on
its own evidence, at the gates' looks.

Pure functions here; ``Evaluator`` calls ``look_per_segment`` at a whole period of the
stage (the same timing, data-quality holds and budget checks as pooled experiments) and
writes the result through ``Rollouts.transition`` (compare-and-set + audit entries).

The evidence is ``segment_gates.judge_segments``: each segment's effect partially pooled
toward the others' (a small segment cannot decide on its own noise) and the ship and
rollback probabilities made stricter by the number of comparisons (segments × treatments,
Bonferroni). The ship probability is the gate's per-look level, which ``make simulate``
tunes so that daily looks over a whole run keep the pooled error rate within 5%; each
segment gets its share of that per-look level, and the run-wide rate of a wrong ship in
*any* segment is measured by ``make simulate`` (docs/design.md, Per-segment decisions).

- A segment whose best treatment clears the ship threshold — P(beat control), corrected,
  and the ship gate's expected loss (``expected_relative_loss_below``, ``expected_loss_below``)
  on the partially pooled estimate — is ``shipped``: its visitors see that treatment from
  then on.
- A segment where every treatment clears the rollback threshold is ``rolled_back``: its
  visitors see control.
- Either only when the segment's own numbers agree at the gate's uncorrected probability
  (P(beat) ≥ ``ship_when``, P(worse) ≥ ``rollback_when``): partial pooling estimates the
  segments' spread from the data, and early on, when that estimate is still 0, it gives
  every segment the pooled effect — a winner among many losers would be rolled back with
  them (13 of 100 runs at a 3% base rate in ``make simulate``'s planted scenario without it).
- The stages keep growing on the pooled evidence of the segments still undecided (the
  decided ones have nothing left to learn), and the whole-experiment rollback on pooled
  evidence does not apply: one losing majority must not take a winning segment down with
  it. Every segment then rolls back on its own.
- A device × daypart decided without a channel (its visitors counted before the rules
  declared channels, or a state written then) holds for every channel of it
  (``segments.decision_in``): those channels are decided too.
- When every segment with visitors is decided the experiment ends: ``completed`` (control
  as the fallback for segments never seen) if any shipped, else ``rolled_back``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daypart.experiments.gates import GateDecision
from daypart.experiments.segment_gates import SegmentJudgement, SegmentVerdicts, probability
from daypart.experiments.segments import (
    SegmentKey,
    decision_in,
    segment_fields,
    segment_name,
    segment_of,
)
from daypart.experiments.state import RolloutState, SegmentDecision
from daypart.experiments.store.base import ExperimentCounts
from daypart.rules.model import Experiment


def per_segment(experiment: Experiment) -> bool:
    return experiment.gates.decide == "per_segment"


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """A segment decided at this look, with the numbers it rests on (for the audit log)."""

    segment: SegmentKey
    decision: SegmentDecision
    numbers: dict[str, Any]


def undecided_counts(
    counts: ExperimentCounts, state: RolloutState, deciding: Sequence[SegmentChange] = ()
) -> ExperimentCounts:
    """``counts`` without the cells of segments decided already or ``deciding`` now: what
    the stages grow on."""
    if not state.segments and not deciding:
        return counts
    decided = {
        **state.segments,
        **{change.segment: change.decision for change in deciding},
    }
    return ExperimentCounts(
        counts.experiment,
        {
            key: cell
            for key, cell in counts.cells.items()
            if decision_in(decided, segment_of(key)) is None
        },
    )


def new_decisions(
    experiment: Experiment, state: RolloutState, judgement: SegmentJudgement, now: float
) -> list[SegmentChange]:
    """The segments ``judgement`` decides that ``state`` has not decided yet."""
    control = experiment.control.name
    changes = []
    for verdicts in judgement.segments:
        if decision_in(state.segments, verdicts.segment) is not None:
            continue
        winner = verdicts.winner
        if winner is not None and winner.raw_prob_beat_control >= judgement.ship_probability:
            reason = f"{winner.reason}; on its own numbers {_own(winner.raw_prob_beat_control)}"
            decision = SegmentDecision("shipped", winner.arm, now, reason)
        elif verdicts.control_wins and all(
            1.0 - arm.raw_prob_beat_control >= judgement.rollback_probability
            for arm in verdicts.arms
        ):
            reason = "; ".join(
                f"{arm.reason}; on its own numbers {_own(arm.raw_prob_beat_control, worse=True)}"
                for arm in verdicts.arms
            )
            decision = SegmentDecision("rolled_back", control, now, reason)
        else:
            continue
        changes.append(SegmentChange(verdicts.segment, decision, _numbers(judgement, verdicts)))
    return changes


def _own(beat: float, worse: bool = False) -> str:
    return probability("P(worse)", 1.0 - beat) if worse else probability("P(beat)", beat)


def _numbers(judgement: SegmentJudgement, verdicts: SegmentVerdicts) -> dict[str, Any]:
    numbers: dict[str, Any] = {
        "segment": verdicts.name,
        "comparisons": judgement.comparisons,
        "ship_threshold": round(judgement.ship_threshold, 8),
        "rollback_threshold": round(judgement.rollback_threshold, 8),
        "control_visitors": verdicts.control_visitors,
        "control_conversions": verdicts.control_conversions,
    }
    for arm in verdicts.arms:
        numbers[f"{arm.arm}_visitors"] = arm.visitors
        numbers[f"{arm.arm}_conversions"] = arm.conversions
        numbers[f"{arm.arm}_prob_beat_control"] = round(arm.prob_beat_control, 8)
        numbers[f"{arm.arm}_own_prob_beat_control"] = round(arm.raw_prob_beat_control, 8)
        numbers[f"{arm.arm}_uplift"] = round(arm.uplift, 6)
        numbers[f"{arm.arm}_expected_relative_loss"] = round(arm.expected_relative_loss, 8)
    return numbers


@dataclass(frozen=True, slots=True)
class SegmentLook:
    """What one look of a per-segment experiment writes: the state after it, the segments
    it decided and the experiment-wide action (``advance``, ``complete``, ``rollback`` or
    ``hold``) with its reason."""

    state: RolloutState
    changes: Sequence[SegmentChange]
    action: str
    reason: str


def look_per_segment(
    experiment: Experiment,
    state: RolloutState,
    decision: GateDecision,
    judgement: SegmentJudgement,
    changes: Sequence[SegmentChange],
    now: float,
) -> SegmentLook:
    """The state after the look ``decision`` took (``decision.look`` is not None) on the
    pooled evidence of the segments still undecided after ``changes`` (``new_decisions``
    of ``judgement``, every segment's verdicts)."""
    assert decision.look is not None
    segments: Mapping[SegmentKey, SegmentDecision] = {
        **state.segments,
        **{change.segment: change.decision for change in changes},
    }
    seen = [verdicts.segment for verdicts in judgement.segments]
    if seen and all(decision_in(segments, key) is not None for key in seen):
        shipped = [d for d in segments.values() if d.decision == "shipped"]
        if shipped:
            arms = sorted({d.arm for d in shipped})
            return SegmentLook(
                state.next(
                    segments=segments,
                    status="completed",
                    winner=experiment.control.name,
                    since=now,
                ),
                changes,
                "complete",
                f"every segment with visitors is decided: {len(shipped)} shipped "
                f"({', '.join(arms)}), {len(segments) - len(shipped)} rolled back",
            )
        return SegmentLook(
            state.next(segments=segments, status="rolled_back", winner=None, since=now),
            changes,
            "rollback",
            f"every segment with visitors rolled back ({len(segments)})",
        )
    last = len(experiment.rollout) - 1
    if decision.verdict == "advance" and state.stage < last:
        return SegmentLook(
            state.next(segments=segments, stage=state.stage + 1, since=now),
            changes,
            "advance",
            f"on the undecided segments: {decision.reason}",
        )
    return SegmentLook(
        state.next(segments=segments, checked=decision.look),
        changes,
        "hold",
        f"on the undecided segments: {decision.reason}",
    )


@dataclass(frozen=True, slots=True)
class PerSegment:
    """A per-segment experiment's decisions as the report, board and page show them:
    ``learning`` counts the segments with visitors not decided yet."""

    shipped: int
    rolled_back: int
    learning: int
    decisions: tuple[dict[str, Any], ...]  # decided_rows

    @property
    def summary(self) -> str:
        return (
            f"per segment: {self.shipped} shipped, {self.rolled_back} rolled back, "
            f"{self.learning} learning"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "shipped": self.shipped,
            "rolled_back": self.rolled_back,
            "learning": self.learning,
            "decisions": list(self.decisions),
        }


def per_segment_view(
    experiment: Experiment, state: RolloutState, seen: Sequence[SegmentKey]
) -> PerSegment | None:
    """The decisions of ``experiment`` with the segments ``seen`` (with visitors); None
    for a pooled experiment."""
    if not per_segment(experiment):
        return None
    shipped = sum(1 for d in state.segments.values() if d.decision == "shipped")
    learning = sum(1 for key in set(seen) if decision_in(state.segments, key) is None)
    rows = tuple(decided_rows(state))
    return PerSegment(shipped, len(state.segments) - shipped, learning, rows)


def decided_rows(state: RolloutState) -> list[dict[str, Any]]:
    """The decided segments as the report's JSON lists them."""
    return [
        {
            **segment_fields(key),
            "segment": segment_name(key),
            "decision": decided.decision,
            "arm": decided.arm,
            "at": decided.at,
            "reason": decided.reason,
        }
        for key, decided in sorted(state.segments.items())
    ]
