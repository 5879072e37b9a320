"""The experiment policy without any ASGI: which arm a visitor gets in each rollout state,
with or without a prior exposure, and which experiments a conversion counts in."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from daypart.experiments.errors import ExperimentError, ExperimentMisuse
from daypart.experiments.policy import ExperimentPolicies, ExperimentPolicy, Mark, experiment_code
from daypart.experiments.state import RolloutState
from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from daypart.rules.model import (
    Arm,
    Audience,
    Experiment,
    Goal,
    Rule,
    RuleSet,
    Site,
    Stage,
    Variant,
)

OFFER = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(
        Stage(audience=Audience(header={"x-channel": frozenset({"callcenter"})})),
        Stage(traffic=0.5),
        Stage(),
    ),
)
NEWSLETTER = Experiment(
    name="newsletter",
    arms=(Arm("control", "booking"), Arm("popup", "booking-popup")),
    goal="signed_up",
    salt="v2",
)
RULESET = RuleSet(
    version=1,
    site=Site(),
    dayparts={},
    variants={name: Variant(name) for name in ("booking", "booking-offer", "booking-popup")},
    goals={"booked": Goal("booked"), "signed_up": Goal("signed_up", beacon=True)},
    rules=(Rule("all", "booking", experiment="evening-offer"),),
    experiments={"evening-offer": OFFER, "newsletter": NEWSLETTER},
)
RUNNING_FULL = RolloutState(stage=2)


def context(**headers: str) -> Context:
    return Context(
        "desktop", LocalMinute(ZoneInfo("UTC"), 1, 1260), frozenset(), "/", headers=headers
    )


def visitors(count: int) -> list[str]:
    return [f"visitor-{i:06d}" for i in range(count)]


def test_a_new_visitor_at_full_traffic_enters_with_a_mark_for_the_exposure() -> None:
    policy = ExperimentPolicy(OFFER)
    assignment = policy.assign(RUNNING_FULL, "visitor-000001", (), context(), "evening")
    assert assignment.arm in {"control", "offer"}
    assert assignment.variant == {"control": "booking", "offer": "booking-offer"}[assignment.arm]
    assert assignment.new_mark == Mark(policy.code, assignment.arm, "desktop", "evening")


def test_the_exposure_mark_carries_the_channel_and_a_returning_visitor_keeps_theirs() -> None:
    policy = ExperimentPolicy(OFFER)
    entered = policy.assign(RUNNING_FULL, "visitor-000001", (), context(), "evening", "email")
    mark = entered.new_mark
    assert mark == Mark(policy.code, str(entered.arm), "desktop", "evening", "email")
    # Back through another channel: the same arm, and no new exposure (counted where first).
    again = policy.assign(RUNNING_FULL, "visitor-000001", (mark,), context(), "evening", "ads")
    assert (again.arm, again.new_mark) == (entered.arm, None)


def test_arms_split_evenly_and_the_same_visitor_always_gets_the_same_arm() -> None:
    policy = ExperimentPolicy(OFFER)
    arms = Counter(policy.assign(RUNNING_FULL, v, (), context(), "x").arm for v in visitors(4000))
    assert set(arms) == {"control", "offer"}
    assert abs(arms["offer"] - 2000) < 200
    again = [policy.assign(RUNNING_FULL, v, (), context(), "x").arm for v in visitors(200)]
    assert again == [policy.assign(RUNNING_FULL, v, (), context(), "x").arm for v in visitors(200)]


def test_a_returning_visitor_keeps_the_arm_of_their_mark_and_is_not_counted_again() -> None:
    policy = ExperimentPolicy(OFFER)
    mark = Mark(policy.code, "offer", "mobile", "train_home")
    for visitor in visitors(50):
        assignment = policy.assign(RUNNING_FULL, visitor, (mark,), context(), "evening")
        assert (assignment.arm, assignment.variant, assignment.new_mark) == (
            "offer",
            "booking-offer",
            None,
        )


def test_a_mark_of_an_arm_no_longer_in_the_rules_enrols_afresh() -> None:
    policy = ExperimentPolicy(OFFER)
    stale = Mark(policy.code, "gone", "desktop", "evening")
    assignment = policy.assign(RUNNING_FULL, "visitor-000001", (stale,), context(), "evening")
    assert assignment.arm in {"control", "offer"}
    assert assignment.new_mark is not None


def test_marks_of_other_experiments_or_salts_are_ignored() -> None:
    policy = ExperimentPolicy(OFFER)
    other = Mark(experiment_code("evening-offer", "another-salt"), "offer", "desktop", "x")
    assignment = policy.assign(RUNNING_FULL, "visitor-000001", (other,), context(), "x")
    assert assignment.new_mark is not None


def test_stage_one_is_the_audience_only() -> None:
    policy = ExperimentPolicy(OFFER)
    first = RolloutState(stage=0)
    outside = [policy.assign(first, v, (), context(), "x") for v in visitors(100)]
    assert {a.arm for a in outside} == {None}
    assert {a.variant for a in outside} == {"booking"}  # control's variant
    assert all(a.new_mark is None for a in outside)
    inside = [
        policy.assign(first, v, (), context(**{"x-channel": "callcenter"}), "x")
        for v in visitors(100)
    ]
    assert all(a.arm is not None and a.new_mark is not None for a in inside)


def test_half_the_traffic_at_the_second_stage() -> None:
    policy = ExperimentPolicy(OFFER)
    entered = sum(
        policy.assign(RolloutState(stage=1), v, (), context(), "x").arm is not None
        for v in visitors(4000)
    )
    assert abs(entered - 2000) < 200


@pytest.mark.parametrize(
    ("state", "arm", "variant"),
    [
        (RolloutState(stage=2, status="completed", winner="offer"), "offer", "booking-offer"),
        (RolloutState(stage=2, status="rolled_back"), None, "booking"),
        (RolloutState(stage=2, status="completed", winner="gone"), None, "booking"),
    ],
)
def test_final_states_serve_everyone_alike_and_count_no_one(
    state: RolloutState, arm: str | None, variant: str
) -> None:
    policy = ExperimentPolicy(OFFER)
    mark = Mark(policy.code, "control", "desktop", "x")
    for visitor, marks in (("visitor-000001", ()), ("visitor-000002", (mark,)), (None, ())):
        assignment = policy.assign(state, visitor, marks, context(), "x")
        assert (assignment.arm, assignment.variant, assignment.new_mark) == (arm, variant, None)


def test_paused_keeps_those_in_and_lets_no_one_new_in() -> None:
    policy = ExperimentPolicy(OFFER)
    paused = RolloutState(stage=2, status="paused")
    mark = Mark(policy.code, "offer", "desktop", "x")
    assert policy.assign(paused, "visitor-000001", (mark,), context(), "x").arm == "offer"
    assert {policy.assign(paused, v, (), context(), "x").arm for v in visitors(100)} == {None}


def test_visitors_who_are_never_counted_see_control_outside_the_experiment() -> None:
    policy = ExperimentPolicy(OFFER)
    assignment = policy.assign(RUNNING_FULL, None, (), context(), "x")
    assert (assignment.arm, assignment.variant, assignment.new_mark) == (None, "booking", None)


def test_codes_and_salts_are_owned_by_the_policy() -> None:
    assert ExperimentPolicy(OFFER).salt == "evening-offer"  # no salt: the name
    assert ExperimentPolicy(NEWSLETTER).salt == "v2"
    assert ExperimentPolicy(NEWSLETTER).code == experiment_code("newsletter", "v2")


# -- conversion targeting -----------------------------------------------------------------


def test_a_conversion_counts_in_each_exposed_experiment_whose_goal_it_is() -> None:
    policies = ExperimentPolicies(RULESET)
    offer = Mark(policies["evening-offer"].code, "offer", "desktop", "evening")
    popup = Mark(policies["newsletter"].code, "popup", "mobile", "morning")
    marks = (offer, popup)
    assert policies.conversion_targets("booked", marks, {}) == [("evening-offer", offer)]
    assert policies.conversion_targets("signed_up", marks, {}) == [("newsletter", popup)]
    assert policies.conversion_targets("booked", (popup,), {}) == []


@pytest.mark.parametrize(
    ("state", "counted"),
    [
        (RolloutState(), True),
        (RolloutState(status="paused"), True),
        (RolloutState(status="rolled_back"), False),
        (RolloutState(status="completed", winner="offer"), False),
    ],
)
def test_conversions_count_while_the_experiment_counts(state: RolloutState, counted: bool) -> None:
    policies = ExperimentPolicies(RULESET)
    mark = Mark(policies["evening-offer"].code, "offer", "desktop", "evening")
    targets = policies.conversion_targets("booked", (mark,), {"evening-offer": state})
    assert targets == ([("evening-offer", mark)] if counted else [])


def test_conversions_of_arms_or_experiments_no_longer_in_the_rules_are_not_counted() -> None:
    policies = ExperimentPolicies(RULESET)
    gone_arm = Mark(policies["evening-offer"].code, "gone", "desktop", "evening")
    gone_experiment = Mark(experiment_code("old", "old"), "offer", "desktop", "evening")
    assert policies.conversion_targets("booked", (gone_arm, gone_experiment), {}) == []


def test_an_unknown_goal_is_misuse_with_its_context() -> None:
    policies = ExperimentPolicies(RULESET)
    message = "unknown goal 'bookd'; defined goals: booked, signed_up"
    with pytest.raises(ExperimentMisuse, match=message) as raised:
        policies.conversion_targets("bookd", (), {})
    assert isinstance(raised.value, ExperimentError)
    assert raised.value.operation == "convert"
