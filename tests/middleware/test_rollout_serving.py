"""What visitors see as an experiment moves: stages, completion and rollback, shared
through the store by every worker."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from daypart.experiments.rollout import Rollouts
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, RULES, TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]


def arms_of(
    app: AdaptiveMiddleware, visitors: int, headers: dict[str, str] | None = None
) -> Counter[str | None]:
    seen: Counter[str | None] = Counter()
    for _ in range(visitors):
        with TestClient(app) as client:
            response = client.get("/", headers={"User-Agent": LAPTOP, **(headers or {})})
            seen[response.json()["decision"]["arm"]] += 1
    return seen


def act(app: AdaptiveMiddleware, action: str, winner: str | None = None) -> None:
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def run() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        await rollouts.ensure_started(experiment)
        await rollouts.act(experiment, action, actor="test", reason="test", winner=winner)  # type: ignore[arg-type]
        await app.background.refresh_states()

    asyncio.run(run())


def test_completed_experiment_serves_the_winner_to_everyone_in_the_segment(
    make_app: MakeApp,
) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    act(app, "complete", winner="offer")
    with TestClient(app) as client:
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
    assert body["offer"] == "autumn10"
    assert body["decision"]["arm"] == "offer"
    assert arms_of(app, 10) == Counter({"offer": 10})
    assert (
        sum(
            c.exposures
            for c in asyncio.run(app.runtime.store.counts("evening-offer")).cells.values()
        )
        == 0
    )


def test_rolled_back_experiment_serves_control_and_counts_nothing(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    act(app, "rollback")
    assert arms_of(app, 10) == Counter({None: 10})
    assert asyncio.run(app.runtime.store.counts("evening-offer")).cells == {}


def test_paused_experiment_keeps_its_visitors_but_takes_no_new_ones(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        arm = client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"]
        act(app, "pause")
        assert client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"] == arm
    assert arms_of(app, 5) == Counter({None: 5})


def test_a_second_worker_follows_the_state_in_the_store_within_seconds(
    make_app: MakeApp,
) -> None:
    first = make_app(clock=Clock(TUESDAY_2100))
    second = make_app(clock=Clock(TUESDAY_2100), store=first.runtime.store, state_interval=0.05)
    with TestClient(second) as client:
        act(first, "complete", winner="control")
        deadline = time.monotonic() + 5
        while second.runtime.states.get("evening-offer") is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the background task polls the store; requests never do
        body = client.get("/", headers={"User-Agent": LAPTOP}).json()
    assert body["decision"]["arm"] == "control"
    assert body["offer"] is None


def test_an_audience_stage_includes_exactly_the_matching_visitors(
    rules_file: Path, make_app: MakeApp
) -> None:
    rules_file.write_text(
        RULES.replace(
            "    goal: booked\n",
            "    goal: booked\n    rollout:\n"
            "      - {audience: {header: {X-Channel: callcenter}}}\n"
            "      - {traffic: 50%}\n",
        )
    )
    app = make_app(clock=Clock(TUESDAY_2100))
    channel = arms_of(app, 20, {"X-Channel": "callcenter"})
    others = arms_of(app, 20, {"X-Channel": "web"}) + arms_of(app, 20)
    assert None not in channel
    assert sum(channel.values()) == 20
    assert others == Counter({None: 40})
