"""Per-segment decisions (``gates.decide: per_segment``): the state keeps each decided
segment (and old states read as none decided), the evaluator decides segments at its looks
with audit entries citing the numbers, against the memory store and the suite's Redis."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from daypart.experiments.evaluator import Evaluator
from daypart.experiments.report import Report, build_report
from daypart.experiments.rollout import Rollouts
from daypart.experiments.segment_decisions import new_decisions, per_segment_view, undecided_counts
from daypart.experiments.segment_gates import judge_segments
from daypart.experiments.state import RolloutState, SegmentDecision
from daypart.experiments.store import MemoryStore
from daypart.experiments.store.base import (
    Cell,
    Conversion,
    ExperimentCounts,
    Exposure,
    Record,
    Segment,
    Store,
)
from daypart.rules.model import Arm, Experiment, Gates, Thresholds
from tests.experiments.conftest import FakeClock, ruleset_of

DAY = 86400.0
EXPERIMENT = Experiment(
    name="evening-offer",
    arms=(Arm("control", "booking"), Arm("offer", "booking-offer")),
    goal="booked",
    gates=Gates(min_visitors_per_arm=300, min_stage_seconds=DAY, decide="per_segment"),
)
RULES = ruleset_of(EXPERIMENT)
DESKTOP = Segment("desktop", "evening")
TABLET = Segment("tablet", "evening")
MOBILE = Segment("mobile", "evening")


def records(
    segment: Segment, converted: dict[str, int], visitors: int = 3000, batch: str = ""
) -> list[Record]:
    made: list[Record] = []
    for arm, count in converted.items():
        for i in range(visitors):
            visitor = f"{batch}{segment.device}-{arm}-{i}"
            made.append(Exposure("evening-offer", arm, segment, visitor))
            if i < count:
                made.append(Conversion("evening-offer", arm, segment, visitor, "booked"))
    return made


def test_the_state_keeps_decided_segments_and_old_states_have_none() -> None:
    decided = SegmentDecision("shipped", "offer", 5.0, "offer beats control on desktop")
    state = RolloutState(version=3, segments={("desktop", "evening"): decided})
    stored = json.loads(json.dumps(state.to_dict()))
    assert stored["segments"] == [
        {
            "device": "desktop",
            "daypart": "evening",
            "decision": "shipped",
            "arm": "offer",
            "at": 5.0,
            "reason": "offer beats control on desktop",
        }
    ]
    assert RolloutState.from_dict(stored) == state
    # A state written before segments could be decided, and a pooled experiment's state.
    old = {"stage": 1, "status": "running", "winner": None, "since": 9.0, "version": 4}
    assert RolloutState.from_dict(old).segments == {}
    assert "segments" not in RolloutState(version=1).to_dict()
    with pytest.raises(ValueError, match="unknown segment decision"):
        RolloutState.from_dict({**stored, "segments": [{**stored["segments"][0], "decision": "x"}]})


def test_segments_ship_and_roll_back_on_their_own_then_the_experiment_completes(
    store: Store, clock: FakeClock
) -> None:
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rollouts = Rollouts(store, clock)

    async def scenario() -> tuple[RolloutState, RolloutState, list[dict[str, str]]]:
        await store.record(records(DESKTOP, {"control": 90, "offer": 180}))  # offer wins
        await store.record(records(TABLET, {"control": 180, "offer": 90}))  # offer loses
        await store.record(records(MOBILE, {"control": 120, "offer": 123}))  # no difference
        await evaluator.run_once(RULES)  # starts it: no look before a whole day
        assert (await rollouts.state("evening-offer")).segments == {}
        clock.now += DAY + 60
        await evaluator.run_once(RULES)
        first = await rollouts.state("evening-offer")
        # Mobile loses too, later: every segment with visitors is then decided.
        await store.record(records(MOBILE, {"control": 150, "offer": 0}, batch="later-"))
        clock.now += DAY
        await evaluator.run_once(RULES)
        second = await rollouts.state("evening-offer")
        entries = [entry for _, entry in await store.audit("evening-offer")]
        await store.close()
        return first, second, entries

    first, second, entries = asyncio.run(scenario())
    assert first.status == "running"
    assert {key: (d.decision, d.arm) for key, d in first.segments.items()} == {
        ("desktop", "evening"): ("shipped", "offer"),
        ("tablet", "evening"): ("rolled_back", "control"),
    }
    view = per_segment_view(EXPERIMENT, first, [("desktop", "evening"), ("mobile", "evening")])
    assert view is not None
    assert view.summary == "per segment: 1 shipped, 1 rolled back, 1 learning"
    shipped = first.segments[("desktop", "evening")]
    assert shipped.at == 1_000_000.0 + DAY + 60
    assert "offer beats control on desktop in the evening: P(beat)" in shipped.reason
    ship_entry = next(e for e in entries if e["action"] == "ship_segment")
    assert ship_entry["actor"] == "evaluator"
    assert ship_entry["reason"] == shipped.reason
    numbers = json.loads(ship_entry["numbers"])
    assert numbers["segment"] == "desktop × evening"
    assert numbers["comparisons"] == 3
    assert numbers["offer_conversions"] == 180
    assert numbers["offer_prob_beat_control"] >= numbers["ship_threshold"]
    rollback_entry = next(e for e in entries if e["action"] == "rollback_segment")
    assert "offer is worse than control on tablet in the evening" in rollback_entry["reason"]
    # Decided segments stay decided; the last one decides the experiment.
    assert second.segments[("desktop", "evening")] == shipped
    assert second.segments[("mobile", "evening")].decision == "rolled_back"
    assert (second.status, second.winner) == ("completed", "control")
    assert entries[-1]["action"] == "complete"
    assert entries[-1]["reason"] == (
        "every segment with visitors is decided: 1 shipped (offer), 2 rolled back"
    )


def test_stages_grow_on_the_undecided_segments_only(store: Store, clock: FakeClock) -> None:
    """Desktop's big win is decided and left out: the stage does not grow on it while the
    tablet's numbers (too few visitors) cannot say anything yet."""
    evaluator = Evaluator(store, clock=clock, owner="worker-1")
    rollouts = Rollouts(store, clock)
    staged = Experiment(
        name="evening-offer",
        arms=EXPERIMENT.arms,
        goal="booked",
        rollout=EXPERIMENT.rollout * 2,
        gates=EXPERIMENT.gates,
    )
    rules = replace(RULES, experiments={"evening-offer": staged})

    async def scenario() -> tuple[RolloutState, list[dict[str, str]], Report]:
        await store.record(records(DESKTOP, {"control": 90, "offer": 180}))
        await store.record(records(TABLET, {"control": 5, "offer": 6}, visitors=100))
        await evaluator.run_once(rules)
        clock.now += DAY + 60
        await evaluator.run_once(rules)
        state = await rollouts.state("evening-offer")
        entries = [entry for _, entry in await store.audit("evening-offer")]
        report = await build_report(store, staged, rules, now=clock.now)
        await store.close()
        return state, entries, report

    state, entries, report = asyncio.run(scenario())
    # The report judges as the evaluator does: on the undecided segments.
    assert report.gate.numbers["visitors_min_arm"] == 100
    assert list(state.segments) == [("desktop", "evening")]
    assert (state.stage, state.checked) == (0, 1)
    assert entries[-1]["action"] == "hold"
    assert entries[-1]["reason"].startswith("on the undecided segments: 100 visitors")


def test_undecided_counts_leave_out_the_decided_segments() -> None:
    async def counted() -> Any:
        store = MemoryStore()
        await store.record(records(DESKTOP, {"control": 1}, visitors=2))
        await store.record(records(TABLET, {"control": 1}, visitors=2))
        return await store.counts("evening-offer")

    counts = asyncio.run(counted())
    decided = RolloutState(
        segments={("desktop", "evening"): SegmentDecision("rolled_back", "control", 1.0, "r")}
    )
    assert {key[1] for key in undecided_counts(counts, decided).cells} == {"tablet"}
    assert undecided_counts(counts, RolloutState()) is counts


def test_a_segment_is_decided_only_when_its_own_numbers_agree() -> None:
    """Pooled toward two clear losers, mobile's offer looks like a loser too (its pooled
    P(worse) clears the rollback threshold), but on its own numbers it is a coin toss
    (P(worse) about 0.6): it keeps learning while desktop and tablet roll back."""
    cells = {
        ("control", "desktop"): (3000, 300),
        ("offer", "desktop"): (3000, 230),
        ("control", "tablet"): (3000, 300),
        ("offer", "tablet"): (3000, 230),
        ("control", "mobile"): (1000, 100),
        ("offer", "mobile"): (1000, 97),
    }
    counts = ExperimentCounts(
        "evening-offer",
        {
            (arm, device, "evening", ""): Cell(visitors, {"booked": conversions})
            for (arm, device), (visitors, conversions) in cells.items()
        },
    )
    judgement = judge_segments(EXPERIMENT, counts)
    mobile = judgement.segment(("mobile", "evening"))
    assert mobile is not None
    assert mobile.arms[0].verdict == "rollback"  # the pooled verdict alone
    assert 1.0 - mobile.arms[0].raw_prob_beat_control < 0.95
    changes = new_decisions(EXPERIMENT, RolloutState(), judgement, 7.0)
    assert [(c.segment, c.decision.decision) for c in changes] == [
        (("desktop", "evening"), "rolled_back"),
        (("tablet", "evening"), "rolled_back"),
    ]
    assert "on its own numbers P(worse)=0.99" in changes[0].decision.reason


def test_a_segment_ships_only_within_the_ship_gates_expected_loss() -> None:
    """Desktop's offer beats control with P(beat) about 0.999 (the gate asks 0.95), but
    its expected loss, small as it is, is above a ship gate that allows 0.001% of control's
    rate: it does not ship. Under the usual 1% it does."""
    counts = ExperimentCounts(
        "evening-offer",
        {
            ("control", "desktop", "evening", ""): Cell(3000, {"booked": 90}),
            ("offer", "desktop", "evening", ""): Cell(3000, {"booked": 135}),
        },
    )

    def judged(relative_loss: float) -> tuple[Any, list[Any]]:
        ship = Thresholds(prob_beat_control=0.95, expected_relative_loss_below=relative_loss)
        strict = replace(EXPERIMENT, gates=replace(EXPERIMENT.gates, ship=ship))
        judgement = judge_segments(strict, counts)
        (desktop,) = judgement.segments
        return desktop.arms[0], new_decisions(strict, RolloutState(), judgement, 7.0)

    offer, changes = judged(0.00001)
    assert offer.prob_beat_control > 0.99
    assert 0.00001 < offer.expected_relative_loss < 0.01
    assert (offer.verdict, changes) == ("inconclusive", [])
    assert "but its expected loss is 0.0044% of control's rate (ship gate below 0.001%)" in (
        offer.reason
    )
    offer, changes = judged(0.01)
    assert offer.verdict == "ship"
    assert [(c.segment, c.decision.decision) for c in changes] == [
        (("desktop", "evening"), "shipped")
    ]
    assert changes[0].numbers["offer_expected_relative_loss"] == pytest.approx(
        offer.expected_relative_loss, abs=1e-8
    )
