"""Loss budgets through the evaluator and the report, against the memory store and the
suite's private Redis alike: past its budget an experiment pauses (or rolls back) with an
audit entry that cites the numbers, and stays so until a person resumes it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.report import build_report
from daypart.experiments.rollout import Rollouts
from daypart.experiments.store.base import Conversion, Exposure, Record, Segment, Store
from daypart.rules.model import (
    Arm,
    Budget,
    Experiment,
    Gates,
    Goal,
    RuleSet,
    Stage,
)
from tests.experiments.conftest import FakeClock, ruleset_of

DAY = 86400.0
SEGMENT = Segment("desktop", "evening")
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(Stage(traffic=0.05), Stage(traffic=0.25)),
    gates=Gates(min_visitors_per_arm=50, min_stage_seconds=DAY),
    budget=Budget("conversions", 10.0),
)


def ruleset(experiment: Experiment) -> RuleSet:
    return ruleset_of(experiment, Goal("booked", path="/booked", value_header="x-order-value"))


def records(converted: dict[str, int], visitors: int = 1000, value: float = 80.0) -> list[Record]:
    """``visitors`` per arm, of whom ``converted[arm]`` converted at ``value`` each."""
    made: list[Record] = []
    for arm, count in converted.items():
        for i in range(visitors):
            made.append(Exposure("evening-offer", arm, SEGMENT, f"{arm}-{i}"))
            if i < count:
                made.append(
                    Conversion("evening-offer", arm, SEGMENT, f"{arm}-{i}", "booked", value)
                )
    return made


def test_past_its_budget_an_experiment_pauses_with_the_numbers(
    store: Store, clock: FakeClock
) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rules = ruleset(EXPERIMENT)

    async def scenario() -> tuple[Any, Any, Any, list[tuple[str, dict[str, str]]]]:
        await store.record(records({"control": 100, "offer": 70}))
        # Within the stage's first day: no look at the evidence, but the budget is checked.
        evaluations = await evaluator.run_once(rules)
        state = await Rollouts(store).state("evening-offer")
        report = await build_report(store, EXPERIMENT, rules, now=clock.now)
        entries = await store.audit("evening-offer")
        await store.close()
        return evaluations, state, report, entries

    evaluations, state, report, entries = asyncio.run(scenario())
    decision = evaluations[0].decision
    assert (decision.verdict, evaluations[0].applied) == ("pause", True)
    assert state.status == "paused"
    pause = entries[-1][1]
    assert (pause["action"], pause["actor"]) == ("pause", "evaluator")
    spent = json.loads(pause["numbers"])["budget_spent"]
    assert spent > 10.0
    assert pause["reason"] == (
        f"spent {spent:,.1f} conversions of the budget of 10 conversions (expected "
        "conversions given up on arms that may be worse): pause"
    )
    # The report shows the same spend the evaluator judged, as the business case counts it.
    assert report.budget is not None
    assert report.budget.spent == pytest.approx(spent, abs=1e-4)
    assert report.budget.spent == pytest.approx(report.business.spent_conversions)
    assert report.to_dict()["budget"] == {
        "unit": "conversions",
        "amount": 10.0,
        "spent": report.budget.spent,
        "on_budget": "pause",
        "exceeded": True,
    }


def test_a_resumed_experiment_still_over_budget_is_paused_again(
    store: Store, clock: FakeClock
) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rollouts = Rollouts(store, clock)
    raised = replace(EXPERIMENT, budget=Budget("conversions", 1000.0))

    async def scenario() -> tuple[str, str, str]:
        await store.record(records({"control": 100, "offer": 70}))
        await evaluator.run_once(ruleset(EXPERIMENT))
        await rollouts.act(EXPERIMENT, "resume", actor="ana", reason="one more day")
        clock.now += 60
        await evaluator.run_once(ruleset(EXPERIMENT))
        again = (await rollouts.state("evening-offer")).status
        # With the budget raised in the rules, a resumed experiment keeps running.
        await rollouts.act(raised, "resume", actor="ana", reason="budget raised")
        clock.now += 60
        await evaluator.run_once(ruleset(raised))
        kept = (await rollouts.state("evening-offer")).status
        entries = await store.audit("evening-offer")
        await store.close()
        return again, kept, ",".join(e["action"] for _, e in entries)

    again, kept, actions = asyncio.run(scenario())
    assert again == "paused"
    assert kept == "running"
    assert actions == "start,pause,resume,pause,resume"


def test_a_revenue_budget_may_roll_back(store: Store, clock: FakeClock) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    experiment = replace(EXPERIMENT, budget=Budget("revenue", 500.0, "rollback"))

    async def scenario() -> tuple[Any, Any, list[tuple[str, dict[str, str]]]]:
        await store.record(records({"control": 100, "offer": 70}, value=80.0))
        evaluations = await evaluator.run_once(ruleset(experiment))
        state = await Rollouts(store).state("evening-offer")
        entries = await store.audit("evening-offer")
        await store.close()
        return evaluations, state, entries

    evaluations, state, entries = asyncio.run(scenario())
    assert state.status == "rolled_back"
    entry = entries[-1][1]
    numbers = json.loads(entry["numbers"])
    # Every conversion is worth 80: the spend in money is the spend in conversions × 80.
    assert numbers["budget_unit"] == "revenue"
    assert numbers["budget_spent"] > 500.0
    assert entry["reason"].startswith(
        f"spent {numbers['budget_spent']:,.2f} in revenue of the budget of 500 in revenue"
    )
    assert entry["reason"].endswith(": roll back")
    assert evaluations[0].decision.verdict == "rollback"


def test_within_budget_nothing_happens(store: Store, clock: FakeClock) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    roomy = replace(EXPERIMENT, budget=Budget("conversions", 500.0))

    async def scenario() -> str:
        await store.record(records({"control": 100, "offer": 70}))
        await evaluator.run_once(ruleset(roomy))
        status = (await Rollouts(store).state("evening-offer")).status
        await store.close()
        return status

    assert asyncio.run(scenario()) == "running"
