"""The rollout gates: advance, hold, roll back or pause, on evidence and spend.

Pure: counts, state, gates, spend and the time in; a decision with its reason and the
numbers it rests on out. ``Evaluator`` applies decisions through ``Rollouts`` (store,
audit log).

Stages are about risk, shipping is about evidence: before the last stage the rollout
*grows* once the treatment is unlikely to be worse at a small expected loss
(``gates.grow``); past the last stage it *ships* — completes, the winner for everyone —
only on the evidence that it is better (``gates.ship``). Losses may be relative to
control's rate, so a gate means the same at any base rate. With several treatment arms
the gates look at the best treatment (highest probability to beat control), and roll back
when even it is convincingly worse — then every treatment is. An experiment whose spend
(``business.spend``) passes its budget is paused or rolled back at any evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from daypart.experiments.business import Spend
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.rules.model import Experiment, Thresholds

GateVerdict = Literal["advance", "rollback", "hold", "pause"]
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


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """An experiment's spend against its budget, in the budget's unit."""

    unit: str  # conversions | revenue
    amount: float
    spent: float | None  # None: not known yet (revenue before any value is recorded)
    on_budget: str  # pause | rollback

    @property
    def exceeded(self) -> bool:
        return self.spent is not None and self.spent > self.amount

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "amount": self.amount,
            "spent": self.spent,
            "on_budget": self.on_budget,
            "exceeded": self.exceeded,
        }


def budget_use(experiment: Experiment, spend: Spend | None) -> BudgetUse | None:
    """The experiment's budget and what it has spent of it; None without a budget."""
    budget = experiment.budget
    if budget is None:
        return None
    spent = None if spend is None else spend.of(budget.unit)
    return BudgetUse(budget.unit, budget.amount, spent, budget.on_budget)


def amount_text(value: float, unit: str) -> str:
    """``412.3 conversions``, ``400 conversions``, ``1,234.50 in revenue``."""
    decimals = 0 if value == int(value) else 1 if unit == "conversions" else 2
    number = f"{value:,.{decimals}f}"
    return f"{number} conversions" if unit == "conversions" else f"{number} in revenue"


def judge_evidence(
    experiment: Experiment, arms: Sequence[tuple[int, int]], stage: int | None = None
) -> Evidence:
    """The gates' thresholds applied to ``arms`` ((conversions, visitors) per arm, control
    first, pooled on the experiment's goal) at rollout ``stage``: before the last stage the
    step is *grow* (``gates.grow``), at the last one *ship* (``gates.ship``); None judges as
    at the last stage. With several treatments it judges the best one (highest probability
    to beat control)."""
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
    control_rate = results[0].rate  # a posterior mean: never 0
    relative = loss / control_rate
    name = experiment.arms[best].name
    last = len(experiment.rollout) - 1
    step = "ship" if stage is None or stage >= last else "grow"
    numbers: dict[str, float | int | str] = {
        "best_arm": name,
        "prob_beat_control": round(beat, 6),
        "prob_worse_than_control": round(1 - beat, 6),
        "expected_loss": round(loss, 8),
        "expected_relative_loss": round(relative, 6),
        "control_rate": round(results[0].rate, 6),
        "best_rate": round(results[best].rate, 6),
        "step": step,
    }
    if 1 - beat >= gates.rollback_prob_worse_than_control:
        return Evidence(
            "rollback",
            f"{name} is worse than control with probability {1 - beat:.3f} "
            f"(gate {gates.rollback_prob_worse_than_control})",
            name,
            numbers,
        )
    thresholds = gates.ship if step == "ship" else gates.grow
    met, said = _meets(thresholds, beat, loss, relative)
    if met:
        target = (
            f"ship {name} to everyone" if step == "ship" else f"grow to stage {(stage or 0) + 2}"
        )
        return Evidence("advance", f"{name} {said}: {target}", name, numbers)
    return Evidence("inconclusive", f"not yet conclusive to {step}: {name} {said}", name, numbers)


def _meets(thresholds: Thresholds, beat: float, loss: float, relative: float) -> tuple[bool, str]:
    """Whether every threshold given holds, and the numbers against them in words."""
    checks: list[tuple[bool, str]] = []
    if thresholds.prob_beat_control is not None:
        gate = thresholds.prob_beat_control
        checks.append((beat >= gate, f"beats control with probability {beat:.3f} (gate {gate:g})"))
    if thresholds.prob_worse_than_control_below is not None:
        gate = thresholds.prob_worse_than_control_below
        checks.append(
            (
                1 - beat < gate,
                f"is worse than control with probability {1 - beat:.3f} (gate below {gate:g})",
            )
        )
    if thresholds.expected_loss_below is not None:
        gate = thresholds.expected_loss_below
        checks.append((loss < gate, f"expected loss {loss:.5f} (gate below {gate:g})"))
    if thresholds.expected_relative_loss_below is not None:
        gate = thresholds.expected_relative_loss_below
        checks.append(
            (
                relative < gate,
                f"expected loss {relative:.2%} of control's rate (gate below {gate * 100:g}%)",
            )
        )
    return all(ok for ok, _ in checks), ", ".join(text for _, text in checks)


def evaluate_gates(
    experiment: Experiment,
    state: RolloutState,
    arms: Sequence[tuple[int, int]],
    now: float,
    data_warnings: Sequence[str] = (),
    *,
    spend: Spend | None = None,
) -> GateDecision:
    """``arms``: (conversions, visitors) per arm of ``experiment`` in its order (control
    first), pooled over the segments whose counts are consistent, on the experiment's goal.
    ``data_warnings``: the inconsistent cells left out (``data_quality``); while there are
    any, the gates hold. ``spend``: what the experiment has spent so far
    (``business.spend``); needed when it has a budget, which is checked at every call."""
    gates = experiment.gates
    if experiment.budget is not None and spend is None:
        raise ValueError(f"{experiment.name} has a budget: the gates need its spend")
    if state.status != "running":
        return GateDecision("hold", f"experiment is {state.status}")
    if len(arms) < 2:
        return GateDecision("hold", "a single arm has nothing to be compared with")
    held = None
    if data_warnings:
        held = f"holding on inconsistent data: {data_warnings[0]}"
        if len(data_warnings) > 1:
            held += f" (and {len(data_warnings) - 1} more such cells)"
        evidence = Evidence("inconsistent_data", held)
    else:
        evidence = judge_evidence(experiment, arms, state.stage)
    # The budget is a cap, not a look: checked at every evaluation, before anything else
    # may grow the experiment (and also on inconsistent data: stopping is the safe side).
    use = budget_use(experiment, spend)
    if use is not None and use.exceeded:
        assert use.spent is not None  # exceeded implies known
        verdict: GateVerdict = "rollback" if use.on_budget == "rollback" else "pause"
        action = "roll back" if verdict == "rollback" else "pause"
        return GateDecision(
            verdict,
            f"spent {amount_text(use.spent, use.unit)} of the budget of "
            f"{amount_text(use.amount, use.unit)} (expected {use.unit} given up on arms that "
            f"may be worse): {action}",
            evidence.best_arm,
            {
                "budget_spent": round(use.spent, 4),
                "budget": use.amount,
                "budget_unit": use.unit,
                "on_budget": use.on_budget,
                "stage": state.stage,
                "visitors_min_arm": min(v for _, v in arms),
            },
            evidence=evidence,
        )
    if held is not None:
        return GateDecision("hold", held, evidence=evidence)
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
    acted: GateVerdict = "hold"
    if evidence.verdict == "advance" or evidence.verdict == "rollback":
        acted = evidence.verdict
    return GateDecision(acted, evidence.reason, evidence.best_arm, numbers, look, evidence)


def next_look(experiment: Experiment, state: RolloutState) -> float | None:
    """When the gates next look at the evidence (epoch seconds); None when they won't."""
    if state.status != "running":
        return None
    period = experiment.gates.min_stage_seconds
    if period <= 0:
        return state.since
    return state.since + (state.checked + 1) * period
