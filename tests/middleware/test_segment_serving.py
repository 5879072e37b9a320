"""What visitors see in a ``decide: per_segment`` experiment: a decided segment serves its
decision to everyone in it (new and returning visitors) and counts nothing there; the
other segments keep running the experiment."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from daypart.experiments.rollout import Rollouts
from daypart.experiments.state import SegmentDecision
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, RULES, TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]
TABLET = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
PER_SEGMENT = RULES.replace(
    "    goal: booked\n", "    goal: booked\n    gates: {decide: per_segment}\n"
)


def decide(app: AdaptiveMiddleware, **segments: SegmentDecision) -> None:
    """Write the segments' decisions as the evaluator would (``device_daypart=...``)."""
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def run() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        state = await rollouts.ensure_started(experiment)
        decided = {tuple(key.split("_", 1)): value for key, value in segments.items()}
        updated = state.next(segments=decided)
        assert await rollouts.transition(experiment, state, updated, [("test", "test", {})])
        await app.background.refresh_states()

    asyncio.run(run())


def arms_of(app: AdaptiveMiddleware, visitors: int, agent: str) -> Counter[str | None]:
    seen: Counter[str | None] = Counter()
    for _ in range(visitors):
        with TestClient(app) as client:
            seen[client.get("/", headers={"User-Agent": agent}).json()["decision"]["arm"]] += 1
    return seen


def exposures(app: AdaptiveMiddleware, device: str) -> int:
    cells = asyncio.run(app.runtime.store.counts("evening-offer")).cells
    return sum(cell.exposures for key, cell in cells.items() if key[1] == device)


def test_a_shipped_segment_serves_its_winner_and_the_others_keep_learning(
    rules_file: Path, make_app: MakeApp
) -> None:
    rules_file.write_text(PER_SEGMENT)
    app = make_app(clock=Clock(TUESDAY_2100))
    decide(app, desktop_evening=SegmentDecision("shipped", "offer", 1.0, "offer beats control"))
    with TestClient(app) as client:
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
    assert (body["offer"], body["decision"]["arm"]) == ("autumn10", "offer")
    assert arms_of(app, 10, LAPTOP) == Counter({"offer": 10})
    assert exposures(app, "desktop") == 0  # decided: nothing counted there
    tablets = arms_of(app, 30, TABLET)
    assert set(tablets) == {"control", "offer"}  # still an experiment on tablets
    assert exposures(app, "tablet") == 30


def test_returning_visitors_follow_a_rolled_back_segment_and_their_conversions_stop(
    rules_file: Path, make_app: MakeApp
) -> None:
    rules_file.write_text(PER_SEGMENT)
    app = make_app(clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        while client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"] != "offer":
            client.cookies.clear()  # a new visitor until one is in the offer arm
        decide(
            app,
            desktop_evening=SegmentDecision("rolled_back", "control", 1.0, "offer loses"),
        )
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
        assert (body["offer"], body["decision"]["arm"]) == (None, None)
        client.post("/checkout/confirm", headers={"User-Agent": LAPTOP})
    cells = asyncio.run(app.runtime.store.counts("evening-offer")).cells
    assert sum(cell.conversions.get("booked", 0) for cell in cells.values()) == 0
    assert arms_of(app, 5, LAPTOP) == Counter({None: 5})


def test_a_pooled_experiment_ignores_segment_decisions(make_app: MakeApp) -> None:
    """Rules switched back to pooled: what was decided per segment no longer applies."""
    app = make_app(clock=Clock(TUESDAY_2100))
    decide(app, desktop_evening=SegmentDecision("shipped", "offer", 1.0, "offer beats control"))
    assert set(arms_of(app, 30, LAPTOP)) == {"control", "offer"}


def test_a_rollback_by_hand_serves_control_in_shipped_segments_too(
    rules_file: Path, make_app: MakeApp
) -> None:
    rules_file.write_text(PER_SEGMENT)
    app = make_app(clock=Clock(TUESDAY_2100))
    decide(app, desktop_evening=SegmentDecision("shipped", "offer", 1.0, "offer beats control"))
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def rollback() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        state = await rollouts.act(experiment, "rollback", actor="ana", reason="brand review")
        assert state.segments == {}
        await app.background.refresh_states()

    asyncio.run(rollback())
    assert arms_of(app, 5, LAPTOP) == Counter({None: 5})


def test_with_channels_a_channels_decision_is_served_through_that_channel_only(
    rules_file: Path, make_app: MakeApp
) -> None:
    rules_file.write_text(
        PER_SEGMENT.replace(
            "site:\n",
            "site:\n  channel_from: [query:utm_source]\n  channels: [newsletter]\n",
            1,
        )
    )
    app = make_app(clock=Clock(TUESDAY_2100))
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def run() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        state = await rollouts.ensure_started(experiment)
        shipped = SegmentDecision("shipped", "offer", 1.0, "offer beats control")
        updated = state.next(segments={("desktop", "evening", "newsletter"): shipped})
        assert await rollouts.transition(experiment, state, updated, [("test", "test", {})])
        await app.background.refresh_states()

    asyncio.run(run())
    seen: Counter[str | None] = Counter()
    for _ in range(10):
        with TestClient(app) as client:
            body = client.get("/?utm_source=Newsletter", headers={"User-Agent": LAPTOP}).json()
            seen[body["decision"]["arm"]] += 1
    assert seen == Counter({"offer": 10})
    assert exposures(app, "desktop") == 0  # decided: nothing counted there
    direct = arms_of(app, 30, LAPTOP)  # the same desktop evening, no channel: direct
    assert set(direct) == {"control", "offer"}
    cells = asyncio.run(app.runtime.store.counts("evening-offer")).cells
    assert {key[3] for key, cell in cells.items() if cell.exposures} == {"direct"}
