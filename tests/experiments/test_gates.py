"""The rollout gates as a pure function: counts, state, time in; a verdict and its reason out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from daypart.experiments.business import Spend
from daypart.experiments.gates import evaluate_gates, judge_evidence
from daypart.experiments.state import RolloutState
from daypart.rules.model import Arm, Budget, Experiment, Gates, Stage, Thresholds

DAY = 86400.0
# The older ``advance_when``: the same gate for growing and shipping.
LEGACY = Thresholds(prob_beat_control=0.90, expected_loss_below=0.002)
GATES = Gates(
    min_visitors_per_arm=300,
    grow=LEGACY,
    ship=LEGACY,
    rollback_prob_worse_than_control=0.95,
    min_stage_seconds=DAY,
)
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(Stage(traffic=0.05), Stage(traffic=0.25)),
    gates=GATES,
)
RUNNING = RolloutState(stage=0, status="running", since=0.0, version=1)


def test_holds_until_the_stage_has_run_its_minimum_time() -> None:
    decision = evaluate_gates(EXPERIMENT, RUNNING, [(100, 1000), (300, 1000)], now=DAY - 1)
    assert decision.verdict == "hold"
    assert "minimum" in decision.reason


def test_looks_once_per_whole_period_of_the_stage() -> None:
    looked = RolloutState(stage=0, status="running", since=0.0, version=2, checked=1)
    again = evaluate_gates(EXPERIMENT, looked, [(100, 1000), (104, 1000)], now=1.5 * DAY)
    assert (again.verdict, again.look) == ("hold", None)
    assert "already decided" in again.reason
    assert "next look in 12.0 h" in again.reason
    later = evaluate_gates(EXPERIMENT, looked, [(100, 1000), (104, 1000)], now=2 * DAY + 60)
    assert (later.verdict, later.look) == ("hold", 2)
    assert "not yet conclusive" in later.reason


def test_holds_until_every_arm_has_enough_visitors() -> None:
    decision = evaluate_gates(EXPERIMENT, RUNNING, [(10, 299), (100, 5000)], now=2 * DAY)
    assert decision.verdict == "hold"
    assert "299 visitors" in decision.reason


def test_advances_a_clear_winner_and_names_it_with_the_numbers() -> None:
    decision = evaluate_gates(EXPERIMENT, RUNNING, [(100, 1000), (160, 1000)], now=2 * DAY)
    assert decision.verdict == "advance"
    assert decision.best_arm == "offer"
    assert float(decision.numbers["prob_beat_control"]) > 0.99
    assert float(decision.numbers["expected_loss"]) < 0.002


def test_rolls_back_a_clear_loser() -> None:
    decision = evaluate_gates(EXPERIMENT, RUNNING, [(160, 1000), (100, 1000)], now=2 * DAY)
    assert decision.verdict == "rollback"
    assert float(decision.numbers["prob_worse_than_control"]) > 0.95


def test_holds_while_inconclusive() -> None:
    decision = evaluate_gates(EXPERIMENT, RUNNING, [(100, 1000), (104, 1000)], now=2 * DAY)
    assert decision.verdict == "hold"
    assert "not yet conclusive" in decision.reason


@pytest.mark.parametrize("status", ["paused", "rolled_back", "completed"])
def test_only_running_experiments_move(status: str) -> None:
    state = RolloutState(status=status, version=2)  # type: ignore[arg-type]
    decision = evaluate_gates(EXPERIMENT, state, [(100, 1000), (200, 1000)], now=9 * DAY)
    assert decision.verdict == "hold"
    assert status in decision.reason


def test_with_several_treatments_the_best_one_is_judged() -> None:
    three = Experiment(
        name="x",
        arms=(Arm("control", "a"), Arm("b", "b"), Arm("c", "c")),
        goal="booked",
        gates=GATES,
    )
    decision = evaluate_gates(three, RUNNING, [(100, 1000), (90, 1000), (170, 1000)], 2 * DAY)
    assert (decision.verdict, decision.best_arm) == ("advance", "c")


# --- growing on risk, shipping on evidence, at any base rate ----------------------------------

STAGED = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(Stage(traffic=0.05), Stage(traffic=0.25), Stage(traffic=0.5)),
    gates=Gates(
        min_visitors_per_arm=300,
        grow=Thresholds(prob_worse_than_control_below=0.3, expected_relative_loss_below=0.1),
        ship=Thresholds(prob_beat_control=0.99, expected_relative_loss_below=0.01),
        min_stage_seconds=DAY,
    ),
)


def at_stage(stage: int) -> RolloutState:
    return RolloutState(stage=stage, status="running", since=0.0, version=1)


def test_a_stage_grows_when_the_treatment_is_unlikely_worse_without_proof_it_is_better() -> None:
    arms = [(300, 10_000), (330, 10_000)]  # P(beat) about 0.89: not proof, but unlikely worse
    grow = evaluate_gates(STAGED, at_stage(0), arms, now=DAY)
    assert grow.verdict == "advance"
    assert grow.numbers["step"] == "grow"
    assert "grow to stage 2" in grow.reason
    assert 0.8 < float(grow.numbers["prob_beat_control"]) < 0.99
    ship = evaluate_gates(STAGED, at_stage(2), arms, now=DAY)  # the last stage: to everyone
    assert ship.verdict == "hold"
    assert ship.numbers["step"] == "ship"
    assert ship.reason == (
        "not yet conclusive to ship: offer beats control with probability 0.888 (gate 0.99), "
        "expected loss 0.45% of control's rate (gate below 1%)"
    )


def test_shipping_needs_the_evidence_that_it_is_better() -> None:
    decision = evaluate_gates(STAGED, at_stage(2), [(300, 10_000), (390, 10_000)], now=DAY)
    assert decision.verdict == "advance"
    assert decision.numbers["step"] == "ship"
    assert decision.reason.endswith("ship offer to everyone")


def test_a_treatment_that_may_well_be_worse_does_not_grow() -> None:
    decision = evaluate_gates(STAGED, at_stage(0), [(300, 10_000), (295, 10_000)], now=DAY)
    assert decision.verdict == "hold"
    assert float(decision.numbers["prob_worse_than_control"]) > 0.3


@pytest.mark.parametrize("base_rate", [0.03, 0.10])
def test_relative_gates_mean_the_same_at_any_base_rate(base_rate: float) -> None:
    # The same evidence in relative terms — +5% on 600 conversions in control — at a 3% and
    # a 10% base rate: about the same relative loss (0.6% of control's rate), the same
    # verdict.
    visitors = round(600 / base_rate)
    arms = [(600, visitors), (630, visitors)]
    evidence = judge_evidence(STAGED, arms, stage=0)
    assert evidence.verdict == "advance"
    assert float(evidence.numbers["expected_relative_loss"]) == pytest.approx(0.0058, rel=0.07)
    # The absolute gate of the older form judges the two differently: the loss in
    # conversion rate is three times as large at 10% (0.00055 against 0.00018).
    absolute = Thresholds(prob_worse_than_control_below=0.3, expected_loss_below=0.0003)
    older = replace(STAGED, gates=replace(STAGED.gates, grow=absolute))
    verdict = judge_evidence(older, arms, stage=0).verdict
    assert verdict == ("advance" if base_rate == 0.03 else "inconclusive")


def test_the_relative_loss_is_a_share_of_controls_rate() -> None:
    evidence = judge_evidence(STAGED, [(30, 1000), (25, 1000)], stage=0)
    numbers = evidence.numbers
    share = float(numbers["expected_loss"]) / float(numbers["control_rate"])
    assert float(numbers["expected_relative_loss"]) == pytest.approx(share, rel=1e-4)


def test_the_older_advance_when_asks_the_same_at_every_stage() -> None:
    arms = [(100, 1000), (130, 1000)]  # P(beat) about 0.98: past 0.90, loss below 0.002
    for stage in (0, 1):
        assert evaluate_gates(EXPERIMENT, at_stage(stage), arms, now=DAY).verdict == "advance"
    unsure = [(100, 1000), (108, 1000)]  # P(beat) about 0.73: never enough
    for stage in (0, 1):
        assert evaluate_gates(EXPERIMENT, at_stage(stage), unsure, now=DAY).verdict == "hold"


# --- the budget ----------------------------------------------------------------------------

BUDGETED = replace(STAGED, budget=Budget("conversions", 40.0))


def test_over_budget_pauses_at_any_evaluation_citing_the_numbers() -> None:
    looked = RolloutState(stage=0, status="running", since=0.0, version=2, checked=1)
    decision = evaluate_gates(
        BUDGETED, looked, [(300, 10_000), (290, 10_000)], 1.5 * DAY, spend=Spend(41.25, None)
    )
    assert decision.verdict == "pause"
    assert decision.look is None  # not a look: the budget is checked at every evaluation
    assert decision.reason == (
        "spent 41.2 conversions of the budget of 40 conversions (expected conversions "
        "given up on arms that may be worse): pause"
    )
    assert decision.numbers["budget_spent"] == 41.25
    assert (decision.numbers["budget"], decision.numbers["budget_unit"]) == (40.0, "conversions")


def test_within_budget_the_gates_decide_as_ever() -> None:
    arms = [(300, 10_000), (290, 10_000)]
    within = evaluate_gates(BUDGETED, at_stage(0), arms, DAY, spend=Spend(39.9, None))
    assert within.verdict == evaluate_gates(STAGED, at_stage(0), arms, DAY).verdict == "hold"


def test_a_revenue_budget_rolls_back_when_asked_to() -> None:
    budgeted = replace(STAGED, budget=Budget("revenue", 5000.0, "rollback"))
    arms = [(300, 10_000), (290, 10_000)]
    decision = evaluate_gates(budgeted, at_stage(1), arms, DAY / 2, spend=Spend(60.0, 6012.5))
    assert decision.verdict == "rollback"
    assert decision.reason.startswith("spent 6,012.50 in revenue of the budget of 5,000 in revenue")
    assert decision.reason.endswith(": roll back")
    unknown = evaluate_gates(budgeted, at_stage(1), arms, DAY / 2, spend=Spend(60.0, None))
    assert unknown.verdict == "hold"  # no value recorded yet: the spend in money is unknown


def test_over_budget_stops_even_on_inconsistent_data() -> None:
    decision = evaluate_gates(
        BUDGETED,
        at_stage(0),
        [(300, 10_000), (290, 10_000)],
        DAY,
        ["offer/desktop/evening: 12 conversions of 10 visitors"],
        spend=Spend(50.0, None),
    )
    assert decision.verdict == "pause"


@pytest.mark.parametrize("status", ["paused", "rolled_back", "completed"])
def test_a_budget_only_stops_a_running_experiment(status: str) -> None:
    state = RolloutState(status=status, version=2)  # type: ignore[arg-type]
    decision = evaluate_gates(
        BUDGETED, state, [(300, 10_000), (290, 10_000)], DAY, spend=Spend(99.0, None)
    )
    assert decision.verdict == "hold"


def test_a_budget_without_its_spend_is_a_misuse() -> None:
    with pytest.raises(ValueError, match="has a budget"):
        evaluate_gates(BUDGETED, at_stage(0), [(300, 10_000), (290, 10_000)], DAY)
