"""One clock: the board, the API and the evaluator all read the middleware's clock, so a
demo with a frozen clock (``daypart demo --at ...``) shows the stage age the evaluator
uses, and the gates act when the board says they would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from starlette.testclient import TestClient

from daypart.experiments.store.base import Conversion, Exposure, Segment
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, TUESDAY_2100, Clock, travel_demo

TOKEN = {"Authorization": "Bearer one-clock-token"}
HOUR = 3600.0


def seed_a_clear_winner(app: AdaptiveMiddleware) -> None:
    records: list[Exposure | Conversion] = []
    for arm, converting in (("control", 20), ("offer", 80)):
        for i in range(1000):
            visitor = f"{arm}-{i:05d}"
            segment = Segment("desktop", "evening")
            records.append(Exposure("evening-offer", arm, segment, visitor))
            if i < converting:
                records.append(Conversion("evening-offer", arm, segment, visitor, "booked", 100.0))
    asyncio.run(app.runtime.store.record(records))


def three_evenings_of_laptops(
    app: AdaptiveMiddleware,
    client: TestClient,
    clock: Clock,
    on_thursday: Callable[[], None] | None = None,
) -> None:
    """Start the experiment on Tuesday evening, then five laptops of its first stage's
    audience each evening to Thursday (``on_thursday`` runs before Thursday's); the clock
    ends on Thursday evening."""
    laptop = {"User-Agent": LAPTOP, "X-Channel": "callcenter"}  # stage 1's audience
    portal = client.portal
    assert portal is not None
    portal.call(app.background.evaluate)  # the experiment starts on Tuesday
    for day in range(3):
        if day == 2 and on_thursday is not None:
            on_thursday()
        for _ in range(5):
            client.cookies.clear()
            client.get("/destinations/kyoto", headers=laptop)
        portal.call(app.runtime.recorder.flush)
        clock.epoch += 24 * HOUR
    clock.epoch -= 24 * HOUR  # Thursday evening


def offer_report(client: TestClient) -> dict[str, object]:
    reports = client.get("/_daypart/api/experiments", headers=TOKEN).json()
    found: dict[str, object] = next(r for r in reports if r["experiment"] == "evening-offer")
    return found


def test_a_frozen_demo_clock_reaches_the_board_and_the_evaluator() -> None:
    clock = Clock(TUESDAY_2100)  # what `daypart demo --at 2026-11-24T21:00` freezes
    app = travel_demo(clock, "one-clock-token")
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)  # the first run starts the stage: now
        report = offer_report(client)
        gate = report["gate"]
        assert isinstance(gate, dict)
        assert gate["numbers"]["stage_age_seconds"] == 0.0
        assert "stage 1 has run 0.0 h of the 24.0 h minimum" in gate["reason"]
        board = client.get("/_daypart/", headers=TOKEN).text
        assert "stage 1 has run 0.0 h" in board
        assert not re.search(r"has run -\d", board)

        seed_a_clear_winner(app)
        clock.epoch += 25 * HOUR
        report = offer_report(client)
        assert report["light"] == "green"
        assert "the gates would advance" in " ".join(report["reasons"])  # type: ignore[arg-type]
        assert "the gates would advance" in client.get("/_daypart/", headers=TOKEN).text

        portal.call(app.background.evaluate)
        after = offer_report(client)
        assert after["state"]["stage"] == 1  # type: ignore[index]
        assert after["state"]["since"] == clock.epoch  # type: ignore[index]
        audit = client.get("/_daypart/api/experiments/evening-offer/audit", headers=TOKEN).json()
        assert audit[-1]["actor"] == "evaluator"
        assert audit[-1]["action"] == "advance"


def test_the_daily_series_follows_the_same_clock() -> None:
    clock = Clock(TUESDAY_2100)
    app = travel_demo(clock, "one-clock-token")
    with TestClient(app) as client:
        three_evenings_of_laptops(app, client, clock)
        series = client.get("/_daypart/api/experiments/evening-offer/daily", headers=TOKEN).json()
    assert series["days"] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert [sum(day) for day in zip(*(arm["visitors"] for arm in series["arms"]), strict=True)] == [
        5,
        5,
        5,
    ]


def test_the_daily_series_starts_on_the_experiments_first_day_not_its_stages() -> None:
    clock = Clock(TUESDAY_2100)
    app = travel_demo(clock, "one-clock-token")
    with TestClient(app) as client:

        def pause_and_resume() -> None:  # so the state is new since Thursday
            for action in ("pause", "resume"):
                answer = client.post(
                    f"/_daypart/api/experiments/evening-offer/{action}", headers=TOKEN
                )
                assert answer.status_code == 200, answer.text

        three_evenings_of_laptops(app, client, clock, on_thursday=pause_and_resume)
        state = client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN).json()
        series = client.get("/_daypart/api/experiments/evening-offer/daily", headers=TOKEN).json()
    assert state["state"]["since"] == TUESDAY_2100 + 2 * 24 * HOUR  # the state is Thursday's
    assert series["days"] == ["2026-11-24", "2026-11-25", "2026-11-26"]
