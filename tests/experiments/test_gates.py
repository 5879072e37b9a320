"""The rollout gates as a pure function: counts, state, time in; a verdict and its reason out."""

from __future__ import annotations

import pytest

from daypart.experiments.gates import evaluate_gates
from daypart.experiments.state import RolloutState
from daypart.rules.model import Arm, Experiment, Gates, Stage

DAY = 86400.0
GATES = Gates(
    min_visitors_per_arm=300,
    advance_prob_beat_control=0.90,
    advance_expected_loss_below=0.002,
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
