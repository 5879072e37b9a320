"""A bandit's weights as visitors meet them: new visitors split by the weights the state
holds for today, returning visitors keep the arm of their first exposure."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from starlette.testclient import TestClient

from daypart.experiments.rollout import Rollouts
from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.board import weights_text
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import AMSTERDAM, LAPTOP, RULES, TUESDAY_2100, Clock
from tests.middleware.test_board_budget import bookings
from tests.middleware.test_openapi import Checker
from tests.middleware.test_rollout_serving import arms_of

MakeApp = Callable[..., AdaptiveMiddleware]
TODAY = datetime.fromtimestamp(TUESDAY_2100, AMSTERDAM).date().toordinal()


def bandit_app(rules_file: Path, make_app: MakeApp) -> AdaptiveMiddleware:
    rules_file.write_text(
        RULES.replace("    goal: booked\n", "    goal: booked\n    allocation: bandit\n")
    )
    return make_app(clock=Clock(TUESDAY_2100))


def set_weights(
    app: AdaptiveMiddleware,
    day: int,
    control: float,
    offer: float,
    segments: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = (),
) -> None:
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def run() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        state = await rollouts.ensure_started(experiment)
        weights = (("control", control), ("offer", offer))
        period = WeightPeriod(day, 0.0, weights, segments=segments)
        written = await rollouts.set_weights(
            experiment, state, (*state.weights, period), reason="test", numbers={}
        )
        assert isinstance(written, RolloutState)
        await app.background.refresh_states()

    asyncio.run(run())


def test_new_visitors_split_by_the_weights_in_force_today(
    rules_file: Path, make_app: MakeApp
) -> None:
    app = bandit_app(rules_file, make_app)
    set_weights(app, TODAY, 0.1, 0.9)
    seen = arms_of(app, 300)
    assert seen["control"] + seen["offer"] == 300
    # Binomial(300, 0.1): 30 expected, below 50 with probability > 0.9999.
    assert 10 <= seen["control"] <= 50


def test_new_visitors_in_a_segment_with_its_own_weights_split_by_those(
    rules_file: Path, make_app: MakeApp
) -> None:
    app = bandit_app(rules_file, make_app)
    # Laptops in the evening: desktop × evening has its own 10/90; elsewhere 90/10.
    set_weights(app, TODAY, 0.9, 0.1, segments=((("desktop", "evening"), (0.1, 0.9)),))
    seen = arms_of(app, 300)
    assert 10 <= seen["control"] <= 50  # Binomial(300, 0.1), as above
    set_weights(app, TODAY, 0.9, 0.1, segments=((("tablet", "evening"), (0.1, 0.9)),))
    seen = arms_of(app, 300)
    assert 10 <= seen["offer"] <= 50  # the pooled 90/10


def test_the_board_names_the_segments_with_their_own_weights() -> None:
    report = {
        "allocation": {
            "weights": {"control": 0.5, "offer": 0.5},
            "since": None,
            "segment_weights": [
                {
                    "device": "desktop",
                    "daypart": "evening",
                    "segment": "desktop × evening",
                    "weights": {"control": 0.1, "offer": 0.9},
                }
            ],
        }
    }
    assert weights_text(report) == (
        "bandit: control 50%, offer 50% (the rules' split, before the first look); "
        "1 segment(s) with their own: desktop × evening control 10%, offer 90%"
    )


def test_weights_set_for_tomorrow_leave_today_at_the_rules_split(
    rules_file: Path, make_app: MakeApp
) -> None:
    app = bandit_app(rules_file, make_app)
    set_weights(app, TODAY + 1, 0.1, 0.9)
    seen = arms_of(app, 300)
    assert 110 <= seen["control"] <= 190  # Binomial(300, 0.5)


def test_returning_visitors_keep_their_arm_when_the_weights_change(
    rules_file: Path, make_app: MakeApp
) -> None:
    app = bandit_app(rules_file, make_app)
    clients = [TestClient(app) for _ in range(40)]
    first: list[str] = []
    for client in clients:
        with client:
            first.append(client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"])
    assert Counter(first)["control"] >= 5  # some started on the arm the weights now shrink
    set_weights(app, TODAY, 0.1, 0.9)
    again = []
    for client in clients:
        with client:
            again.append(client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"])
    assert again == first


TOKEN = {"Authorization": "Bearer bandit-token-0123456789"}
DAY = 86400.0


def test_the_board_the_page_and_the_report_show_the_weights(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "travel.yaml").read_text(encoding="utf-8")
    rules = tmp_path / "travel.yaml"
    rules.write_text(
        text.replace("    on_budget: pause", "    on_budget: pause\n    allocation: bandit", 1)
    )
    clock = Clock(TUESDAY_2100 - 6 * DAY)
    app = build_demo(
        str(rules),
        "memory://",
        clock=clock,
        admin_token=TOKEN["Authorization"][7:],
        evaluate_interval=None,
    )
    check = Checker(openapi_document("/_daypart"))
    today = app.runtime.rules.site_day(TUESDAY_2100)
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)  # starts the experiment
        portal.call(app.runtime.store.record, bookings(today))
        clock.epoch = TUESDAY_2100
        portal.call(app.background.evaluate)  # a gate look: weights from tomorrow
        board = client.get("/_daypart/", headers=TOKEN).text
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        clock.epoch = TUESDAY_2100 + DAY
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text
        later = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))

    allocation = report.json()["allocation"]
    assert allocation["weights"] == {"control": 0.5, "offer": 0.5}
    assert allocation["since"] is None
    assert allocation["next_weights"] == {"control": 0.1, "offer": 0.9}
    card = board[board.index("aria-label='evening-offer'") :]
    assert (
        "<dt>new visitors</dt><dd>bandit: control 50%, offer 50% (the rules' split, before "
        "the first look); from the next day control 10%, offer 90%</dd>" in card
    )
    # A day later the new weights are in force, since the site's local midnight.
    moved = later.json()["allocation"]
    assert moved["weights"] == {"control": 0.1, "offer": 0.9}
    assert moved["next_weights"] is None
    assert moved["periods"]["periods"][0]["visitors"] == [1000, 1000]
    assert "<tr><th>new visitors</th><td>bandit: control 10%, offer 90% since " in page
    assert later.json()["srm"]["flagged"] is False
