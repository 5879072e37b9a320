"""Per-segment decisions where people read them: the report JSON (as its OpenAPI schema
says), the board card ("per segment: 1 shipped, 1 rolled back, 0 learning"), the
experiment page's grid and segment list (in words, with the reason), and its history."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from starlette.testclient import TestClient

from daypart.experiments.store.base import Conversion, Exposure, Record, Segment
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.tools.demo.app import build_demo
from daypart.rules import EXAMPLES_DIR
from tests.middleware.conftest import TUESDAY_2100, Clock
from tests.middleware.test_openapi import Checker

TOKEN = {"Authorization": "Bearer segment-token-0123456789"}
DAY = 86400.0


def demo(tmp_path: Path) -> tuple[AdaptiveMiddleware, Clock]:
    text = (EXAMPLES_DIR / "travel.yaml").read_text(encoding="utf-8")
    marker = (
        "      min_stage_duration: 24h             # decide on whole days: every daypart counts\n"
    )
    assert marker in text
    rules = tmp_path / "travel.yaml"
    rules.write_text(text.replace(marker, marker + "      decide: per_segment\n", 1))
    clock = Clock(TUESDAY_2100 - 2 * DAY)
    app = build_demo(
        str(rules),
        "memory://",
        clock=clock,
        admin_token="segment-token-0123456789",
        evaluate_interval=None,
    )
    return app, clock


def _booked(day: int, where: dict[Segment, dict[str, int]]) -> list[Record]:
    """3,000 visitors per arm in each segment of ``where``, of whom the first ``count``
    book (``where[segment][arm]``)."""
    records: list[Record] = []
    for segment, booked in where.items():
        for arm, count in booked.items():
            for i in range(3000):
                visitor = f"{segment.device}-{segment.channel}-{arm}-{i}"
                records.append(Exposure("evening-offer", arm, segment, visitor, day))
                if i < count:
                    records.append(
                        Conversion("evening-offer", arm, segment, visitor, "booked", 100.0, day)
                    )
    return records


def bookings(day: int) -> list[Record]:
    """3,000 visitors per arm and segment: on desktops the offer books twice as often, on
    tablets half as often."""
    return _booked(
        day,
        {
            Segment("desktop", "evening"): {"control": 90, "offer": 180},
            Segment("tablet", "evening"): {"control": 180, "offer": 90},
        },
    )


def decide_a_day_later(
    app: AdaptiveMiddleware,
    client: TestClient,
    clock: Clock,
    records: Callable[[int], list[Record]],
) -> None:
    """Start the experiment, count ``records`` (given the day) and let the gates look a
    whole day later, on Tuesday evening."""
    portal = client.portal
    assert portal is not None
    portal.call(app.background.evaluate)  # starts the experiment
    portal.call(app.runtime.store.record, records(app.runtime.rules.site_day(TUESDAY_2100)))
    clock.epoch = TUESDAY_2100
    portal.call(app.background.evaluate)  # a whole day later: the gates look


def test_the_report_board_and_page_show_what_each_segment_decided(tmp_path: Path) -> None:
    app, clock = demo(tmp_path)
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        decide_a_day_later(app, client, clock, bookings)
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        board = client.get("/_daypart/", headers=TOKEN).text
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text

    data = report.json()
    decided = data["per_segment"]
    assert decided["summary"] == "per segment: 1 shipped, 1 rolled back, 0 learning"
    assert [(d["segment"], d["decision"], d["arm"]) for d in decided["decisions"]] == [
        ("desktop × evening", "shipped", "offer"),
        ("tablet × evening", "rolled_back", "control"),
    ]
    assert [s["decision"] for s in data["state"]["segments"]] == ["shipped", "rolled_back"]
    assert data["state"]["status"] == "completed"  # every segment with visitors decided
    assert data["stage_label"] == "completed per segment: control where nothing shipped"
    card = board[board.index("aria-label='evening-offer'") :]
    assert (
        "<dt>segments</dt><dd>per segment: 1 shipped, 1 rolled back, 0 learning<br><small>"
        "shipped: desktop × evening (offer) · rolled back: tablet × evening</small></dd>"
    ) in card
    shipped = decided["decisions"][0]["reason"]
    assert "offer beats control on desktop in the evening" in shipped
    grid = page[page.index("id='grid'") :]
    assert "<b>shipped offer</b>" in grid
    assert "<b>rolled back</b>" in grid
    assert "P(beat)" in grid  # the reason, in text for screen readers and on hover
    assert "<b>shipped (offer served here)</b>" in page
    assert "<td>ship_segment</td>" in page
    assert "<td>rollback_segment</td>" in page
    assert "<td>complete</td>" in page


def test_a_pooled_experiment_reports_no_per_segment_decisions() -> None:
    app = build_demo(
        str(EXAMPLES_DIR / "travel.yaml"),
        "memory://",
        clock=Clock(TUESDAY_2100),
        admin_token="segment-token-0123456789",
        evaluate_interval=None,
    )
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        board = client.get("/_daypart/", headers=TOKEN).text
    assert report.json()["per_segment"] is None
    assert "<dt>segments</dt>" not in board


def channel_bookings(day: int) -> list[Record]:
    """3,000 visitors per arm in each of two channels of the desktop evening: through the
    newsletter the offer books twice as often, directly half as often."""
    return _booked(
        day,
        {
            Segment("desktop", "evening", "newsletter"): {"control": 90, "offer": 180},
            Segment("desktop", "evening", "direct"): {"control": 180, "offer": 90},
        },
    )


def test_decisions_per_channel_are_named_with_their_channel(tmp_path: Path) -> None:
    """The travel example declares channels: each channel of a device × daypart is decided
    on its own, and the report, page, grid and CSV say which channel."""
    app, clock = demo(tmp_path)
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app) as client:
        decide_a_day_later(app, client, clock, channel_bookings)
        report = check(client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN))
        page = client.get("/_daypart/experiments/evening-offer", headers=TOKEN).text
        one = client.get("/_daypart/experiments/evening-offer?channel=direct", headers=TOKEN)
        exported = client.get("/_daypart/export.csv", headers=TOKEN).text

    assert report.json()["per_segment"]["summary"] == (
        "per segment: 1 shipped, 1 rolled back, 0 learning"
    )
    decided = report.json()["per_segment"]["decisions"]
    assert [(d["segment"], d["channel"], d["decision"]) for d in decided] == [
        ("desktop × evening × direct", "direct", "rolled_back"),
        ("desktop × evening × newsletter", "newsletter", "shipped"),
    ]
    assert "offer beats control on desktop in the evening from newsletter" in decided[1]["reason"]
    assert [s["channel"] for s in report.json()["state"]["segments"]] == ["direct", "newsletter"]
    assert "<b>from newsletter: shipped (offer served here)</b>" in page
    assert "<b>from direct: rolled back (control served here)</b>" in page
    grid = page[page.index("id='grid'") :]
    assert "<b>newsletter: shipped offer</b>" in grid
    assert "<b>direct: rolled back</b>" in grid
    direct_grid = one.text[one.text.index("id='grid'") :]
    assert "<b>rolled back</b>" in direct_grid
    assert "shipped offer" not in direct_grid
    rows = list(csv.DictReader(io.StringIO(exported)))
    by_row = {
        (r["segment"], r["arm"]): r["decision"] for r in rows if r["experiment"] == "evening-offer"
    }
    assert by_row[("desktop/evening/newsletter", "offer")] == "shipped offer"
    assert by_row[("desktop/evening/direct", "control")] == "rolled back"
    assert by_row[("desktop/evening", "offer")] == ""  # pooled over channels: not decided


def test_a_board_card_names_the_first_few_segments_of_each_decision() -> None:
    from daypart.middleware.admin.board import BOARD_SEGMENTS, _per_segment_row

    shipped = [
        {"segment": f"desktop × hour{h}", "decision": "shipped", "arm": "offer"}
        for h in range(BOARD_SEGMENTS + 2)
    ]
    row = _per_segment_row({"per_segment": {"summary": "per segment: …", "decisions": shipped}})
    assert "desktop × hour0 (offer)" in row
    assert f"desktop × hour{BOARD_SEGMENTS - 1} (offer) and 2 more" in row
    assert f"hour{BOARD_SEGMENTS}" not in row
    assert "rolled back" not in row
