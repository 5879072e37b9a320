"""Bandit allocation: Thompson weights from the posteriors, floored at the minimum share;
set by the evaluator at gate looks into the rollout state with an audit entry (memory
store and the suite's Redis); the analysis and the sample-ratio check per weight period."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from daypart.experiments.bandit import (
    next_period,
    spans,
    thompson_weights,
    weights_on,
    with_period,
)
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.report import build_report
from daypart.experiments.rollout import Rollouts
from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.experiments.stats import analyze
from daypart.experiments.store.base import Record, Segment, Store
from daypart.experiments.weight_periods import analyze_periods
from daypart.rules.model import (
    Arm,
    Experiment,
    Gates,
    RuleSet,
    Stage,
)
from tests.experiments.conftest import FakeClock, ruleset_of, segment_records

DAY = 86400.0
SEGMENT = Segment("desktop", "evening")
# Thursday 2026-01-01 00:00 UTC, the site's zone: day ordinals are easy to follow.
START = datetime(2026, 1, 1).timestamp() - datetime(1970, 1, 1).timestamp()
FIRST_DAY = date(2026, 1, 1).toordinal()
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(Stage(traffic=1.0),),
    gates=Gates(min_visitors_per_arm=50, min_stage_seconds=DAY),
    allocation="bandit",
    min_share=0.1,
)


def ruleset(experiment: Experiment = EXPERIMENT) -> RuleSet:
    return ruleset_of(experiment)


def records(
    converted: dict[str, int], visitors: dict[str, int], day: int | None = None, tag: str = ""
) -> list[Record]:
    return segment_records(SEGMENT, converted, visitors, day, tag)


def period(day: int, control: float, offer: float) -> WeightPeriod:
    return WeightPeriod(
        day, START + (day - FIRST_DAY) * DAY, (("control", control), ("offer", offer))
    )


# --- weights ----------------------------------------------------------------------------


def test_weights_are_the_probabilities_of_being_best_above_the_floor() -> None:
    assert thompson_weights([0.3, 0.7], 0.1) == pytest.approx([0.3, 0.7])


def test_the_floor_raises_unlikely_arms_and_the_rest_share_what_is_left() -> None:
    assert thompson_weights([0.01, 0.99], 0.1) == pytest.approx([0.1, 0.9])
    # Two arms below the floor; the third gets the rest. Raising one arm can push another
    # below the floor only through the renormalisation, which the loop catches.
    assert thompson_weights([0.0, 0.05, 0.95], 0.1) == pytest.approx([0.1, 0.1, 0.8])
    assert thompson_weights([0.08, 0.12, 0.8], 0.1) == pytest.approx(
        [0.1, 0.9 * 0.12 / 0.92, 0.9 * 0.8 / 0.92]
    )
    # At min_share = 1/arms every arm gets exactly its share: a fixed, even split.
    assert thompson_weights([0.0, 1.0], 0.5) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("min_share", [0.0, -0.1, 0.51])
def test_a_minimum_share_out_of_range_is_refused(min_share: float) -> None:
    with pytest.raises(ValueError, match="min_share"):
        thompson_weights([0.5, 0.5], min_share)


def test_a_look_derives_the_weights_from_the_posteriors_for_the_next_local_day() -> None:
    arms = [(30, 1000), (36, 1000)]
    now = START + 2.5 * DAY
    made = next_period(EXPERIMENT, RolloutState(), arms, now, "UTC")
    assert made is not None
    prob_best = [result.prob_best for result in analyze(arms)]
    assert 0.7 < prob_best[1] < 0.8  # a leaning, not a certainty
    assert dict(made.weights) == pytest.approx(
        {"control": round(prob_best[0], 3), "offer": round(prob_best[1], 3)}
    )
    assert dict(made.prob_best) == pytest.approx(
        {"control": prob_best[0], "offer": prob_best[1]}, abs=1e-4
    )
    assert made.day == FIRST_DAY + 3
    assert made.since == START + 3 * DAY
    # The same evidence again: nothing changes, no new period.
    state = RolloutState(weights=(made,))
    assert next_period(EXPERIMENT, state, arms, now + DAY, "UTC") is None
    # A fixed experiment never gets weights.
    assert next_period(replace(EXPERIMENT, allocation="fixed"), state, arms, now, "UTC") is None


def test_clear_evidence_leaves_the_loser_its_minimum_share() -> None:
    made = next_period(EXPERIMENT, RolloutState(), [(30, 3000), (90, 3000)], START, "UTC")
    assert made is not None
    assert dict(made.weights) == {"control": 0.1, "offer": 0.9}


def test_the_weights_in_force_on_each_day() -> None:
    state = RolloutState(weights=(period(FIRST_DAY + 2, 0.3, 0.7), period(FIRST_DAY + 5, 0.1, 0.9)))
    assert weights_on(EXPERIMENT, state, FIRST_DAY + 1) == (0.5, 0.5)  # the rules' split
    assert weights_on(EXPERIMENT, state, FIRST_DAY + 2) == (0.3, 0.7)
    assert weights_on(EXPERIMENT, state, FIRST_DAY + 4) == (0.3, 0.7)
    assert weights_on(EXPERIMENT, state, FIRST_DAY + 9) == (0.1, 0.9)
    assert [
        (s.first - FIRST_DAY, s.last - FIRST_DAY)
        for s in spans(EXPERIMENT, state, FIRST_DAY, FIRST_DAY + 6)
    ] == [(0, 1), (2, 4), (5, 6)]
    # Rules edited since (another arm): the stored weights no longer fit, the rules' apply.
    three = replace(EXPERIMENT, arms=(*EXPERIMENT.arms, Arm("third", "booking")))
    assert weights_on(three, state, FIRST_DAY + 9) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_two_looks_before_midnight_keep_the_later_weights() -> None:
    state = RolloutState(weights=(period(FIRST_DAY + 2, 0.3, 0.7),))
    again = period(FIRST_DAY + 2, 0.2, 0.8)
    assert with_period(state, again) == (again,)


def test_the_state_round_trips_its_weights_and_reads_old_states() -> None:
    state = RolloutState(version=3, weights=(period(FIRST_DAY, 0.25, 0.75),))
    data = json.loads(json.dumps(state.to_dict()))
    assert data["weights"][0]["weights"] == {"control": 0.25, "offer": 0.75}
    assert RolloutState.from_dict(data) == state
    # States written before bandits: no weights key, no weights.
    assert "weights" not in RolloutState().to_dict()
    assert RolloutState.from_dict({"stage": 1, "version": 4}).weights == ()


# --- the evaluator ----------------------------------------------------------------------


def test_a_gate_look_stores_new_weights_with_an_audit_entry(store: Store, clock: FakeClock) -> None:
    clock.now = START + 3600
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rules = ruleset()

    async def scenario() -> tuple[RolloutState, RolloutState, RolloutState, list[Any]]:
        await evaluator.run_once(rules)  # starts the experiment
        await store.record(records({"control": 30, "offer": 45}, {"control": 1000, "offer": 1000}))
        await evaluator.run_once(rules)  # within the first period: no look, no weights
        before = await Rollouts(store).state("evening-offer")
        clock.now = START + DAY + 7200  # the first whole period: a look
        await evaluator.run_once(rules)
        after = await Rollouts(store).state("evening-offer")
        await evaluator.run_once(rules)  # that period is decided: no second change
        again = await Rollouts(store).state("evening-offer")
        entries = await store.audit("evening-offer")
        await store.close()
        return before, after, again, entries

    before, after, again, entries = asyncio.run(scenario())
    assert before.weights == ()
    assert len(after.weights) == 1
    weights = dict(after.weights[0].weights)
    assert weights["offer"] >= 0.9
    assert weights["control"] >= 0.1
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert after.weights[0].day == FIRST_DAY + 2  # from the next local midnight
    assert again.weights == after.weights
    changed = [entry for _, entry in entries if entry["action"] == "weights"]
    assert len(changed) == 1
    entry = changed[0]
    assert entry["actor"] == "evaluator"
    assert entry["reason"].startswith(
        f"weights changed to control {weights['control']:.1%}, offer {weights['offer']:.1%} "
        "for new visitors from 2026-01-03, from P(best) control 0.0"
    )
    numbers = json.loads(entry["numbers"])
    assert numbers["weights"] == weights
    assert numbers["visitors"] == [1000, 1000]
    assert numbers["conversions"] == [30, 45]
    assert json.loads(entry["to"])["weights"][0]["weights"] == weights


def test_a_fixed_experiment_never_gets_weights(store: Store, clock: FakeClock) -> None:
    fixed = replace(EXPERIMENT, allocation="fixed")
    clock.now = START + 3600
    evaluator = Evaluator(store, clock=clock, owner="worker-1")

    async def scenario() -> RolloutState:
        await evaluator.run_once(ruleset(fixed))
        await store.record(records({"control": 30, "offer": 45}, {"control": 1000, "offer": 1000}))
        clock.now = START + DAY + 7200
        await evaluator.run_once(ruleset(fixed))
        state = await Rollouts(store).state("evening-offer")
        await store.close()
        return state

    assert asyncio.run(scenario()).weights == ()


# --- the analysis per weight period -------------------------------------------------------


async def fill_with_trend(store: Store, second: tuple[int, int]) -> None:
    """Days 0-1 at 50/50 and a 10% rate; days 2-3 at 20/80 and a 2% rate: the same rate in
    both arms within each period. ``second``: the exposures of days 2-3 per arm."""

    await store.record(
        records({"control": 100, "offer": 100}, {"control": 1000, "offer": 1000}, FIRST_DAY)
    )
    control, offer = second
    await store.record(
        records(
            {"control": control // 50, "offer": offer // 50},
            {"control": control, "offer": offer},
            FIRST_DAY + 2,
            tag="late-",
        )
    )


STATE = RolloutState(
    since=START, started=START, version=5, weights=(period(FIRST_DAY + 2, 0.2, 0.8),)
)


def test_the_report_compares_within_weight_periods_and_checks_the_split_per_period(
    store: Store,
) -> None:
    async def scenario() -> Any:
        await fill_with_trend(store, (400, 1600))
        await store.set_state("evening-offer", STATE.to_dict(), expected_version=None)
        report = await build_report(store, EXPERIMENT, ruleset(), now=START + 3.5 * DAY)
        await store.close()
        return report

    report = asyncio.run(scenario())
    # Pooled, the offer looks worse (it was shown mostly in the low-rate days) ...
    pooled = {arm.name: arm.result.rate for arm in report.arms}
    assert pooled["offer"] < 0.8 * pooled["control"]
    # ... per period and combined the arms are equal, as they truly are.
    allocation = report.allocation
    assert allocation is not None
    assert allocation.periods is not None
    periods = allocation.periods
    assert [(p.visitors, p.conversions) for p in periods.periods] == [
        ((1000, 1000), (100, 100)),
        ((400, 1600), (8, 32)),
    ]
    assert periods.uplift[1] == pytest.approx(0.0, abs=1e-9)
    low, high = periods.uplift_interval[1] or (0.0, 0.0)
    assert low < 0 < high
    # The sample-ratio check against each period's weights: no mismatch; against the
    # rules' 50/50 pooled (1400 / 2600) it would be one.
    assert not report.srm.flagged
    assert periods.srm.p_value > 0.5
    assert report.srm is periods.srm
    assert dict(allocation.weights) == {"control": 0.2, "offer": 0.8}
    assert allocation.since == START + 2 * DAY
    data = report.to_dict()["allocation"]
    assert data["weights"] == {"control": 0.2, "offer": 0.8}
    assert data["periods"]["periods"][1]["first_day"] == "2026-01-03"
    assert data["periods"]["periods"][1]["weights"] == [0.2, 0.8]


def test_a_mismatch_within_a_period_is_flagged(store: Store) -> None:
    # Days 2-3 split 50/50 while the weights said 20/80: visitors lost somewhere.
    async def scenario() -> Any:
        await fill_with_trend(store, (1000, 1000))
        await store.set_state("evening-offer", STATE.to_dict(), expected_version=None)
        report = await build_report(store, EXPERIMENT, ruleset(), now=START + 3.5 * DAY)
        await store.close()
        return report

    report = asyncio.run(scenario())
    assert report.srm.flagged
    assert any("sample ratio mismatch" in reason for reason in report.reasons)


def test_periods_without_visitors_are_left_out() -> None:
    analysis = analyze_periods(EXPERIMENT, STATE, {}, FIRST_DAY, FIRST_DAY + 3)
    assert analysis.periods == ()
    assert analysis.rates == (None, None)
    assert not analysis.srm.flagged
