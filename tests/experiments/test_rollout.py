"""Staged rollouts: transitions, compare-and-set, the audit log, and the evaluator's lock.

Runs against the memory store and the suite's private Redis alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from daypart.experiments.errors import ExperimentError
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.rollout import Rollouts, apply_action
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Exposure, Segment, Store
from daypart.rules.model import Arm, Experiment, Gates, Stage
from tests.experiments.conftest import FakeClock, ruleset_of

DAY = 86400.0
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    rollout=(Stage(traffic=0.05), Stage(traffic=0.25), Stage(traffic=0.5)),
    gates=Gates(min_visitors_per_arm=50, min_stage_seconds=DAY),
)
RULESET = ruleset_of(EXPERIMENT, goal=None)


def test_transitions_follow_the_lifecycle() -> None:
    state = RolloutState(version=1)
    state = apply_action(EXPERIMENT, state, "advance", 10.0)
    assert (state.stage, state.status, state.since) == (1, "running", 10.0)
    paused = apply_action(EXPERIMENT, state, "pause", 11.0)
    assert paused.status == "paused"
    with pytest.raises(ExperimentError, match="resume it first"):
        apply_action(EXPERIMENT, paused, "advance", 12.0)
    resumed = apply_action(EXPERIMENT, paused, "resume", 13.0)
    last = apply_action(EXPERIMENT, resumed, "advance", 14.0)
    assert last.stage == 2
    done = apply_action(EXPERIMENT, last, "advance", 15.0, winner="offer")
    assert (done.status, done.winner) == ("completed", "offer")
    with pytest.raises(ExperimentError, match="only resume"):
        apply_action(EXPERIMENT, done, "rollback", 16.0)
    assert apply_action(EXPERIMENT, resumed, "rollback", 17.0).status == "rolled_back"
    assert done.version == 6


def test_completing_needs_a_known_winner() -> None:
    last = RolloutState(stage=2, version=1)
    with pytest.raises(ExperimentError, match="needs a winner"):
        apply_action(EXPERIMENT, last, "advance", 1.0, winner="nope")


def test_manual_actions_write_the_audit_log(store: Store, clock: FakeClock) -> None:
    rollouts = Rollouts(store, clock)

    async def scenario() -> list[tuple[str, dict[str, str]]]:
        await rollouts.ensure_started(EXPERIMENT)
        clock.now += 60
        await rollouts.act(EXPERIMENT, "advance", actor="ana", reason="looks fine")
        await rollouts.act(EXPERIMENT, "pause", actor="ana", reason="campaign week")
        state = await rollouts.state("evening-offer")
        assert (state.stage, state.status) == (1, "paused")
        entries = await store.audit("evening-offer")
        await store.close()
        return entries

    entries = asyncio.run(scenario())
    assert [e["action"] for _, e in entries] == ["start", "advance", "pause"]
    assert [e["actor"] for _, e in entries] == ["daypart", "ana", "ana"]
    advance = entries[1][1]
    assert float(advance["time"]) == pytest.approx(1_000_060.0)
    assert json.loads(advance["from"])["stage"] == 0
    assert json.loads(advance["to"])["stage"] == 1
    assert advance["reason"] == "looks fine"


def test_a_stale_evaluation_is_not_applied(store: Store, clock: FakeClock) -> None:
    rollouts = Rollouts(store, clock)

    async def scenario() -> None:
        seen = await rollouts.ensure_started(EXPERIMENT)
        await rollouts.act(EXPERIMENT, "pause", actor="ana", reason="hold on")
        try:
            with pytest.raises(ExperimentError, match="changed while"):
                await rollouts.act(
                    EXPERIMENT, "advance", actor="evaluator", reason="gates", expected=seen
                )
        finally:
            await store.close()

    asyncio.run(scenario())


def exposures(arm: str, count: int, start: int = 0) -> list[Exposure]:
    return [
        Exposure("evening-offer", arm, Segment("desktop", "evening"), f"{arm}-{i}")
        for i in range(start, start + count)
    ]


def test_evaluator_advances_on_evidence_after_the_minimum_time(
    store: Store, clock: FakeClock
) -> None:
    from daypart.experiments.store.base import Conversion

    evaluator = Evaluator(store, clock=clock, owner="worker-1")

    async def scenario() -> tuple[Any, Any, Any]:
        await store.record(exposures("control", 1000) + exposures("offer", 1000))
        conversions = [
            Conversion("evening-offer", arm, Segment("desktop", "evening"), f"{arm}-{i}", "booked")
            for arm, n in (("control", 100), ("offer", 170))
            for i in range(n)
        ]
        await store.record(conversions)
        first = await evaluator.run_once(RULESET)  # starts the clock of stage 0: hold
        clock.now += DAY + 1
        second = await evaluator.run_once(RULESET)
        state = await Rollouts(store).state("evening-offer")
        await store.close()
        return first, second, state

    first, second, state = asyncio.run(scenario())
    assert first[0].decision.verdict == "hold"
    assert first[0].decision.look is None  # too early to look at the evidence
    assert second[0].decision.verdict == "advance"
    assert second[0].applied
    assert state.stage == 1


def test_a_hold_look_is_recorded_and_not_repeated_within_the_period(
    store: Store, clock: FakeClock
) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")

    async def scenario() -> tuple[Any, Any, RolloutState, list[tuple[str, dict[str, str]]]]:
        await store.record(exposures("control", 100) + exposures("offer", 100))
        await evaluator.run_once(RULESET)
        clock.now += DAY + 1
        look = await evaluator.run_once(RULESET)  # no conversions: inconclusive
        clock.now += 3600
        again = await evaluator.run_once(RULESET)
        state = await Rollouts(store).state("evening-offer")
        entries = await store.audit("evening-offer")
        await store.close()
        return look, again, state, entries

    look, again, state, entries = asyncio.run(scenario())
    assert (look[0].decision.verdict, look[0].decision.look) == ("hold", 1)
    assert again[0].decision.look is None
    assert "already decided" in again[0].decision.reason
    assert (state.stage, state.checked) == (0, 1)
    assert [e["action"] for _, e in entries] == ["start", "hold"]
    assert json.loads(entries[1][1]["numbers"])["look"] == 1


def test_only_one_evaluator_acts_at_a_time(store: Store, clock: FakeClock) -> None:
    one = Evaluator(store, clock=clock, owner="worker-1", lock_seconds=30)
    two = Evaluator(store, clock=clock, owner="worker-2", lock_seconds=30)

    async def scenario() -> tuple[Any, Any, Any]:
        first = await one.run_once(RULESET)
        second = await two.run_once(RULESET)
        again = await one.run_once(RULESET)  # the holder renews its own lock
        await store.close()
        return first, second, again

    first, second, again = asyncio.run(scenario())
    assert first is not None
    assert second is None
    assert again is not None
