"""The rollout gates: advance, hold or roll back, on evidence.

Pure: counts, state, gates and the time in; a decision with its reason and the numbers
it rests on out. ``Evaluator`` applies decisions through ``Rollouts`` (store, audit log).

With several treatment arms, the gates look at the best treatment (highest probability
to beat control): advance when it is convincingly better and cheap to be wrong about,
roll back when even it is convincingly worse — then every treatment is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.rules.model import Experiment

GateVerdict = Literal["advance", "rollback", "hold"]
EvidenceVerdict = Literal[
    "advance", "rollback", "inconclusive", "too_few_visitors", "inconsistent_data"
]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the counts alone say against the gates' thresholds, whatever the clock says:
    ``advance`` and ``rollback`` mean the thresholds are met; the rollout acts on it only
    at a whole period of the stage (``GateDecision``)."""

    verdict: EvidenceVerdict
    reason: str
    best_arm: str | None = None
    numbers: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateDecision:
    verdict: GateVerdict
    reason: str
    best_arm: str | None = None
    numbers: dict[str, float | int | str] = field(default_factory=dict)
    # The whole period of the stage this decision looked at (see ``evaluate_gates``); None
    # when it did not look at the evidence (too early, or that period was already decided).
    look: int | None = None
    # The evidence now, also when the timing holds the decision back; None when the
    # experiment is not running or cannot be compared (a single arm).
    evidence: Evidence | None = None


def judge_evidence(experiment: Experiment, arms: Sequence[tuple[int, int]]) -> Evidence:
    """The gates' thresholds applied to ``arms`` ((conversions, visitors) per arm, control
    first, pooled on the experiment's goal). With several treatments it judges the best
    one (highest probability to beat control)."""
    gates = experiment.gates
    smallest = min(v for _, v in arms)
    if smallest < gates.min_visitors_per_arm:
        return Evidence(
            "too_few_visitors",
            f"{smallest} visitors in the smallest arm; the gates need {gates.min_visitors_per_arm}",
        )
    results = analyze(arms, control=0)
    best = max(range(1, len(arms)), key=lambda i: results[i].prob_beat_control)
    beat = results[best].prob_beat_control
    loss = results[best].expected_loss
    name = experiment.arms[best].name
    numbers: dict[str, float | int | str] = {
        "best_arm": name,
        "prob_beat_control": round(beat, 6),
        "prob_worse_than_control": round(1 - beat, 6),
        "expected_loss": round(loss, 8),
        "control_rate": round(results[0].rate, 6),
        "best_rate": round(results[best].rate, 6),
    }
    if 1 - beat >= gates.rollback_prob_worse_than_control:
        return Evidence(
            "rollback",
            f"{name} is worse than control with probability {1 - beat:.3f} "
            f"(gate {gates.rollback_prob_worse_than_control})",
            name,
            numbers,
        )
    if beat >= gates.advance_prob_beat_control and loss < gates.advance_expected_loss_below:
        return Evidence(
            "advance",
            f"{name} beats control with probability {beat:.3f} (gate "
            f"{gates.advance_prob_beat_control}) at expected loss {loss:.5f} (gate "
            f"{gates.advance_expected_loss_below})",
            name,
            numbers,
        )
    return Evidence(
        "inconclusive",
        f"not yet conclusive: {name} beats control with probability {beat:.3f}, expected "
        f"loss {loss:.5f}",
        name,
        numbers,
    )


def evaluate_gates(
    experiment: Experiment,
    state: RolloutState,
    arms: Sequence[tuple[int, int]],
    now: float,
    data_warnings: Sequence[str] = (),
) -> GateDecision:
    """``arms``: (conversions, visitors) per arm of ``experiment`` in its order (control
    first), pooled over the segments whose counts are consistent, on the experiment's goal.
    ``data_warnings``: the inconsistent cells left out (``data_quality``); while there are
    any, the gates hold."""
    gates = experiment.gates
    if state.status != "running":
        return GateDecision("hold", f"experiment is {state.status}")
    if len(arms) < 2:
        return GateDecision("hold", "a single arm has nothing to be compared with")
    if data_warnings:
        reason = f"holding on inconsistent data: {data_warnings[0]}"
        if len(data_warnings) > 1:
            reason += f" (and {len(data_warnings) - 1} more such cells)"
        return GateDecision("hold", reason, evidence=Evidence("inconsistent_data", reason))
    evidence = judge_evidence(experiment, arms)
    age = now - state.since
    numbers: dict[str, float | int | str] = {
        "stage": state.stage,
        "visitors_min_arm": min(v for _, v in arms),
        "stage_age_seconds": round(age, 1),
    }
    if age < gates.min_stage_seconds:
        return GateDecision(
            "hold",
            f"stage {state.stage + 1} has run {age / 3600:.1f} h of the "
            f"{gates.min_stage_seconds / 3600:.1f} h minimum",
            numbers=numbers,
            evidence=evidence,
        )
    # Decisions rest on whole periods of the stage (whole days with a 24 h minimum), taken
    # once per period: every daypart is represented as often as the others, and checking
    # once a day instead of every minute keeps continuous monitoring from shipping losers.
    look = int(age // gates.min_stage_seconds) if gates.min_stage_seconds > 0 else None
    if look is not None and look <= state.checked:
        upcoming = next_look(experiment, state)
        assert upcoming is not None  # running, with a positive period
        return GateDecision(
            "hold",
            f"period {state.checked} of stage {state.stage + 1} already decided; next look in "
            f"{(upcoming - now) / 3600:.1f} h",
            numbers=numbers,
            evidence=evidence,
        )
    numbers["look"] = look if look is not None else 0
    numbers.update(evidence.numbers)
    verdict: GateVerdict = "hold"
    if evidence.verdict == "advance" or evidence.verdict == "rollback":
        verdict = evidence.verdict
    return GateDecision(verdict, evidence.reason, evidence.best_arm, numbers, look, evidence)


def next_look(experiment: Experiment, state: RolloutState) -> float | None:
    """When the gates next look at the evidence (epoch seconds); None when they won't."""
    if state.status != "running":
        return None
    period = experiment.gates.min_stage_seconds
    if period <= 0:
        return state.since
    return state.since + (state.checked + 1) * period
