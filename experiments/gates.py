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

Verdict = Literal["advance", "rollback", "hold"]


@dataclass(frozen=True, slots=True)
class GateDecision:
    verdict: Verdict
    reason: str
    best_arm: str | None = None
    numbers: dict[str, float | int | str] = field(default_factory=dict)
    # The whole period of the stage this decision looked at (see ``evaluate_gates``); None
    # when it did not look at the evidence (too early, or that period was already decided).
    look: int | None = None


def evaluate_gates(
    experiment: Experiment,
    state: RolloutState,
    arms: Sequence[tuple[int, int]],
    now: float,
) -> GateDecision:
    """``arms``: (conversions, visitors) per arm of ``experiment`` in its order (control
    first), pooled over segments, on the experiment's goal."""
    gates = experiment.gates
    if state.status != "running":
        return GateDecision("hold", f"experiment is {state.status}")
    visitors = [v for _, v in arms]
    numbers: dict[str, float | int | str] = {
        "stage": state.stage,
        "visitors_min_arm": min(visitors),
        "stage_age_seconds": round(now - state.since, 1),
    }
    age = now - state.since
    if age < gates.min_stage_seconds:
        return GateDecision(
            "hold",
            f"stage {state.stage + 1} has run {age / 3600:.1f} h of the "
            f"{gates.min_stage_seconds / 3600:.1f} h minimum",
            numbers=numbers,
        )
    # Decisions rest on whole periods of the stage (whole days with a 24 h minimum), taken
    # once per period: every daypart is represented as often as the others, and checking
    # once a day instead of every minute keeps continuous monitoring from shipping losers.
    look = int(age // gates.min_stage_seconds) if gates.min_stage_seconds > 0 else None
    if look is not None and look <= state.checked:
        next_look = state.since + (state.checked + 1) * gates.min_stage_seconds
        return GateDecision(
            "hold",
            f"period {state.checked} of stage {state.stage + 1} already decided; next look in "
            f"{(next_look - now) / 3600:.1f} h",
            numbers=numbers,
        )
    numbers["look"] = look if look is not None else 0
    if min(visitors) < gates.min_visitors_per_arm:
        return GateDecision(
            "hold",
            f"{min(visitors)} visitors in the smallest arm; the gates need "
            f"{gates.min_visitors_per_arm}",
            numbers=numbers,
            look=look,
        )
    results = analyze(arms, control=0)
    treatments = range(1, len(arms))
    best = max(treatments, key=lambda i: results[i].prob_beat_control)
    beat = results[best].prob_beat_control
    loss = results[best].expected_loss
    name = experiment.arms[best].name
    numbers.update(
        {
            "best_arm": name,
            "prob_beat_control": round(beat, 6),
            "prob_worse_than_control": round(1 - beat, 6),
            "expected_loss": round(loss, 8),
            "control_rate": round(results[0].rate, 6),
            "best_rate": round(results[best].rate, 6),
        }
    )
    if 1 - beat >= gates.rollback_prob_worse_than_control:
        return GateDecision(
            "rollback",
            f"{name} is worse than control with probability {1 - beat:.3f} "
            f"(gate {gates.rollback_prob_worse_than_control})",
            name,
            numbers,
            look,
        )
    if beat >= gates.advance_prob_beat_control and loss < gates.advance_expected_loss_below:
        return GateDecision(
            "advance",
            f"{name} beats control with probability {beat:.3f} (gate "
            f"{gates.advance_prob_beat_control}) at expected loss {loss:.5f} (gate "
            f"{gates.advance_expected_loss_below})",
            name,
            numbers,
            look,
        )
    return GateDecision(
        "hold",
        f"not yet conclusive: {name} beats control with probability {beat:.3f}, expected "
        f"loss {loss:.5f}",
        name,
        numbers,
        look,
    )
