"""The board and the experiment page as a person reads them: lights in words, the business
case in money, the device × daypart grid with its empty cells, the series over time."""

from __future__ import annotations

from starlette.testclient import TestClient

from daypart.experiments.store.base import Conversion, Exposure, Segment
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import TUESDAY_2100, Clock, travel_demo

TOKEN = {"Authorization": "Bearer board-token-0123456789"}
DAY = 86400.0


def seeded() -> tuple[AdaptiveMiddleware, Clock]:
    clock = Clock(TUESDAY_2100 - 6 * DAY)
    app = travel_demo(clock, "board-token-0123456789")
    return app, clock


def test_the_board_and_the_page_say_it_in_words_and_money() -> None:
    app, clock = seeded()
    with TestClient(app) as client:
        portal = client.portal
        assert portal is not None
        portal.call(app.background.evaluate)  # starts both experiments six days ago
        day = app.runtime.rules.site_day(TUESDAY_2100)
        records: list[Exposure | Conversion] = []
        for arm, booked in (("control", 40), ("offer", 90)):
            for i in range(1000):
                visitor = f"{arm}-{i}"
                segment = Segment("desktop", "evening")
                records.append(Exposure("evening-offer", arm, segment, visitor, day))
                if i < booked:
                    records.append(
                        Conversion("evening-offer", arm, segment, visitor, "booked", 500.0, day)
                    )
        portal.call(app.runtime.store.record, records)
        clock.epoch = TUESDAY_2100
        board = client.get("/_daypart/", headers=TOKEN).text
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text
        report = client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN).json()

    # the board: the light in words, the leader, the money, the totals
    assert "green — ready to grow: the evidence meets the advance gate" in board
    assert "grey — idle: paused, finished or no visitors yet" in board  # commute-video
    assert "offer, P(beat control) 100.0%" in board
    business = report["business"]
    assert round(business["days_running"], 1) == 6.0
    projection = business["projection"]
    assert projection["leader"] == "offer"
    low, mean, high = (
        projection["revenue"][1],
        projection["revenue"][0],
        projection["revenue"][2],
    )
    assert 0 < low < mean < high
    assert f"{mean:,.0f}" in board  # the month's expected extra revenue, as on the board
    assert "a month in revenue if offer ships" in board
    assert "spent so far" in board
    # the experiment page: business case, the grid with its empty cell, the series
    assert "The business case" in page
    assert "Where it wins and where it loses" in page
    assert "<td class='empty' title='no visitors'>–</td>" in page  # tablet × evening
    assert "+122%" in page  # desktop × evening: posterior means, 9.1% against 4.1%
    assert "Cumulative conversion rate per arm, with its 95% interval" in page
    assert "Probability to beat control, cumulative" in page
    assert "extra per 1,000 visitors (95%)" in page  # revenue columns in the pooled table
    # control's own uplift and P(beat control), each cell named for the phone layout
    assert "<td data-label='uplift 95%'>–</td><td data-label='P(beat control)'>–</td>" in page
