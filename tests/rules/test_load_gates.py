"""The gates and the budget in the rule language: grow_when, ship_when, the older
advance_when, relative losses, budget and on_budget (bad values: ``broken/7*``, ``8*``)."""

from __future__ import annotations

import textwrap

import pytest

from daypart.rules.errors import RulesError
from daypart.rules.loader import parse_rules
from daypart.rules.model import ADVANCE, GROW, SHIP, Budget, Experiment, Location, Thresholds

HEAD = """\
version: 1
variants:
  booking: {}
  offer: {}
goals:
  booked: {method: POST, path: /booking/confirm, value_header: X-Order-Value}
  signed: {path: /signup}
  shared: {beacon: true}
rules:
  - {name: everyone, serve: booking, experiment: e}
experiments:
  e:
    arms: {control: booking, offer: offer}
"""


def experiment(body: str) -> Experiment:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    return parse_rules(text, source="rules.yaml").experiments["e"]


def problems(body: str) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "    ")
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="rules.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_without_gates_stages_grow_on_risk_and_ship_on_evidence() -> None:
    gates = experiment("goal: booked\n").gates
    assert (gates.grow, gates.ship) == (GROW, SHIP)
    assert GROW.prob_worse_than_control_below is not None
    assert GROW.expected_relative_loss_below is not None
    assert SHIP.prob_beat_control is not None
    assert GROW.prob_beat_control is None  # growing never waits for proof of superiority


def test_grow_and_ship_thresholds_land_in_the_model() -> None:
    gates = experiment(
        """\
        goal: booked
        gates:
          grow_when: {prob_worse_than_control_below: 0.25, expected_relative_loss_below: 0.05}
          ship_when: {prob_beat_control: 0.98, expected_relative_loss_below: 0.002}
        """
    ).gates
    assert gates.grow == Thresholds(
        prob_worse_than_control_below=0.25, expected_relative_loss_below=0.05
    )
    assert gates.ship == Thresholds(prob_beat_control=0.98, expected_relative_loss_below=0.002)


def test_a_key_left_out_keeps_its_default() -> None:
    gates = experiment(
        """\
        goal: booked
        gates:
          ship_when: {prob_beat_control: 0.98, expected_loss_below: 0.0005}
        """
    ).gates
    assert gates.grow == GROW
    assert gates.ship == Thresholds(
        prob_beat_control=0.98,
        expected_loss_below=0.0005,
        expected_relative_loss_below=SHIP.expected_relative_loss_below,
    )


def test_advance_when_keeps_one_absolute_gate_for_every_step() -> None:
    gates = experiment(
        """\
        goal: booked
        gates:
          advance_when: {prob_beat_control: 0.99}
        """
    ).gates
    legacy = Thresholds(prob_beat_control=0.99, expected_loss_below=ADVANCE.expected_loss_below)
    assert gates.grow == gates.ship == legacy
    assert legacy.expected_loss_below == 0.001  # the default it always had


def test_advance_when_may_ask_for_a_relative_loss() -> None:
    gates = experiment(
        """\
        goal: booked
        gates:
          advance_when: {prob_beat_control: 0.95, expected_relative_loss_below: 0.01}
        """
    ).gates
    assert gates.ship.expected_relative_loss_below == 0.01
    assert gates.ship.expected_loss_below == 0.001


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        (
            "{ship_when: {prob_beat_control: 1.0}}",
            "invalid probability 1.0; expected a number between 0 and 1 (exclusive), such as 0.95",
        ),
        (
            "{grow_when: {prob_worse_than_control_below: 0}}",
            "invalid probability 0; expected a number between 0 and 1 (exclusive), such as 0.3",
        ),
        (
            "{grow_when: {expected_relative_loss_below: -0.1}}",
            "invalid relative expected loss -0.1; expected a number between 0 and 1 "
            "(exclusive), such as 0.01",
        ),
        (
            "{ship_when: {expected_relative_loss_below: 1%}}",
            "expected a number between 0 and 1 (exclusive), such as 0.01, found the string '1%'",
        ),
        (
            "{ship_when: {prob_worse_than_control_below: 0.1}}",
            "unknown key 'prob_worse_than_control_below' in ship_when; expected one of "
            "prob_beat_control, expected_relative_loss_below, expected_loss_below",
        ),
        (
            "{grow_when: 0.3}",
            "expected a mapping, found the number 0.3",
        ),
        (
            "{advance_when: {prob_beat_control: 0.95}, ship_when: {prob_beat_control: 0.99}}",
            "found advance_when with ship_when; expected either advance_when (one gate for "
            "every step) or grow_when and ship_when",
        ),
    ],
)
def test_bad_step_gates(gates: str, message: str) -> None:
    found = problems(f"goal: booked\ngates: {gates}\n")
    assert len(found) == 1
    assert found[0].endswith(message), found


def test_budgets_in_conversions_and_revenue() -> None:
    conversions = experiment("goal: signed\nbudget: {conversions: 150}\n").budget
    assert conversions == Budget("conversions", 150.0, "pause", Location("rules.yaml", 15, 14))
    revenue = experiment("goal: booked\nbudget: {revenue: 2500.5}\non_budget: rollback\n").budget
    assert revenue is not None
    assert (revenue.unit, revenue.amount, revenue.on_budget) == ("revenue", 2500.5, "rollback")
    beacon = experiment("goal: shared\nbudget: {revenue: 100}\n").budget
    assert beacon is not None  # the beacon carries the value
    assert beacon.unit == "revenue"
    assert experiment("goal: booked\n").budget is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "goal: signed\nbudget: {revenue: 100}\n",
            "rules.yaml:15:14: a revenue budget needs goal 'signed' to carry values; expected "
            "value_header on the goal (or a beacon goal, whose beacon sends the value), or "
            "budget: {conversions: N}",
        ),
        (
            "goal: booked\nbudget: {conversions: 0}\n",
            "rules.yaml:15:27: invalid budget 0; expected a finite number above 0 (conversions "
            "the experiment may give up)",
        ),
        (
            "goal: booked\nbudget: {revenue: lots}\n",
            "rules.yaml:15:23: expected a finite number above 0 (revenue the experiment may "
            "give up), found the string 'lots'",
        ),
        (
            "goal: booked\nbudget: {}\n",
            "rules.yaml:15:13: found an empty budget; expected exactly one of {conversions: N} "
            "or {revenue: X}",
        ),
        (
            "goal: booked\nbudget: {conversions: 10}\non_budget: [pause]\n",
            "rules.yaml:16:16: expected one of pause, rollback, found a list",
        ),
    ],
)
def test_bad_budgets(body: str, message: str) -> None:
    assert problems(body) == [message]
