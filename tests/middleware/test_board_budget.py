"""Budget use where people read it: the board card and the experiment page say "spent X of
budget Y", the JSON report carries it (as its OpenAPI schema says), and past the budget
the light turns red, the gates pause the experiment and the page's history says why."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from daypart.experiments.store.base import Conversion, Exposure, Record, Segment
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import TUESDAY_2100, Clock
from tests.middleware.test_openapi import Checker

TOKEN = {"Authorization": "Bearer budget-token-0123456789"}
DAY = 86400.0


def demo(rules: Path) -> tuple[AdaptiveMiddleware, Clock]:
    clock = Clock(TUESDAY_2100 - 6 * DAY)
    app = build_demo(
        str(rules),
        "memory://",
        clock=clock,
        admin_token="budget-token-0123456789",
        evaluate_interval=None,
    )
    return app, clock


def bookings(day: int) -> list[Record]:
    """1,000 visitors per arm; control books 40, the offer 90: control is the worse arm,
    and its visitors' expected loss (about 5 points) is what the experiment has spent."""
    records: list[Record] = []
    for arm, booked in (("control", 40), ("offer", 90)):
        for i in range(1000):
            visitor, segment = f"{arm}-{i}", Segment("desktop", "evening")
            records.append(Exposure("evening-offer", arm, segment, visitor, day))
            if i < booked:
                records.append(
                    Conversion("evening-offer", arm, segment, visitor, "booked", 500.0, day)
                )
    return records


def test_the_board_and_the_page_show_spend_against_the_budget() -> None:
    app, clock = demo(EXAMPLES_DIR / "travel.yaml")  # budget: {conversions: 300}
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)
        portal.call(app.runtime.store.record, bookings(app.runtime.rules.site_day(TUESDAY_2100)))
        clock.epoch = TUESDAY_2100
        board = client.get("/_daypart/", headers=TOKEN).text
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        listed = check(client.get("/_daypart/api/experiments", headers=TOKEN)).json()

    budget = report.json()["budget"]
    spent = budget["spent"]
    assert 45 < spent < 55
    assert spent == report.json()["business"]["spent_conversions"]
    assert budget == {
        "unit": "conversions",
        "amount": 300.0,
        "spent": spent,
        "on_budget": "pause",
        "exceeded": False,
    }
    shown = f"spent {spent:,.1f} of budget 300 conversions; past it: pause"
    assert f"<dt>budget</dt><dd>{shown}</dd>" in board
    assert f"<tr><th>budget</th><td>{shown}</td></tr>" in page
    # The gates' table says which step they judged (stage 1 of 4: growing) and the loss
    # as a share of control's rate, the number the relative thresholds compare.
    assert "<tr><th>judged for</th><td>grow</td></tr>" in page
    assert re.search(r"<tr><th>expected loss, of control's rate</th><td>\d\.\d\d%</td></tr>", page)
    assert [r["budget"] for r in listed if r["experiment"] == "commute-video"] == [None]


def test_past_the_budget_the_light_is_red_and_the_gates_pause(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "travel.yaml").read_text(encoding="utf-8")
    tight = tmp_path / "travel.yaml"
    tight.write_text(text.replace("budget: {conversions: 300}", "budget: {conversions: 20}"))
    app, clock = demo(tight)
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)
        portal.call(app.runtime.store.record, bookings(app.runtime.rules.site_day(TUESDAY_2100)))
        clock.epoch = TUESDAY_2100
        before = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        board = client.get("/_daypart/", headers=TOKEN).text
        portal.call(app.background.evaluate)  # the evaluator acts on it
        after = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text

    report = before.json()
    assert report["light"] == "red"
    assert report["gate"]["verdict"] == "pause"
    assert report["budget"]["exceeded"] is True
    card = board[board.index("aria-label='evening-offer'") :]
    assert "red — stop and look" in card
    assert re.search(
        r"<b class='over'>spent \d+\.\d of budget 20 conversions: over budget</b>, pause", card
    )
    assert after.json()["state"]["status"] == "paused"
    # The page's history: the evaluator paused it, citing spent, budget and unit.
    assert re.search(
        r"spent \d+\.\d conversions of the budget of 20 conversions \(expected conversions "
        r"given up on arms that may be worse\): pause",
        page,
    )
