"""After the store loses data, returning visitors' cookies still carry their exposure
marks, so cells can hold more conversions than visitors. Every admin page and API still
answers, says so, and the gates hold rather than act on such data."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import redis
from starlette.testclient import TestClient

from daypart.experiments.data_quality import split_consistent
from daypart.experiments.report import report_from_counts
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import Cell, ExperimentCounts
from daypart.middleware import AdaptiveMiddleware
from daypart.rules.model import Arm, Experiment
from tests.middleware.conftest import LAPTOP, TUESDAY_2100, Clock

TOKEN = {"Authorization": "Bearer data-loss-token"}
WARNING = "inconsistent data in"


def test_an_inconsistent_cell_is_left_out_and_named() -> None:
    experiment = Experiment("offer", (Arm("control", "a"), Arm("offer", "b")), goal="booked")
    counts = ExperimentCounts(
        "offer",
        {
            ("control", "desktop", "evening", ""): Cell(400, {"booked": 20}),
            ("offer", "desktop", "evening", ""): Cell(400, {"booked": 30}),
            ("offer", "mobile", "evening", ""): Cell(0, {"booked": 7}),
        },
    )
    kept, warnings = split_consistent(counts, ["control", "offer"], "booked")
    assert ("offer", "mobile", "evening", "") not in kept.cells
    assert warnings == (
        "inconsistent data in offer on mobile × evening: 7 conversions exceed 0 visitors; "
        "left out of the analysis, and the gates hold (did the store lose data? returning "
        "visitors' conversions were counted without their exposures)",
    )
    report = report_from_counts(experiment, counts, RolloutState(since=0.0), 10 * 86400.0)
    assert report.data_quality == warnings
    assert report.light == "red"
    assert report.gate.verdict == "hold"
    assert report.gate.reason.startswith("holding on inconsistent data")
    assert [arm.result.visitors for arm in report.arms] == [400, 400]
    assert report.to_dict()["data_quality"] == list(warnings)


def test_with_the_store_flushed_every_admin_page_answers_and_warns(
    make_app: Callable[..., AdaptiveMiddleware],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(store=redis_url, admin_token="data-loss-token", clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        cookies = []
        for _ in range(20):
            client.cookies.clear()
            client.get("/", headers={"User-Agent": LAPTOP})
            cookies.append(dict(client.cookies))
        portal = client.portal
        assert portal is not None
        portal.call(app.runtime.recorder.flush)
        redis.Redis.from_url(redis_url).flushall()  # the store loses everything
        converted = 0
        for cookie in cookies:
            client.cookies.clear()
            client.cookies.update(cookie)
            response = client.post("/checkout/confirm", headers={"User-Agent": LAPTOP})
            converted += response.status_code == 200
        portal.call(app.runtime.recorder.flush)

        for path in (
            "/_daypart/",
            "/_daypart/experiments/evening-offer",
            "/_daypart/api/experiments",
            "/_daypart/api/experiments/evening-offer",
            "/_daypart/export.csv",
        ):
            page = client.get(path, headers=TOKEN)
            assert page.status_code == 200, path
            if path != "/_daypart/export.csv":
                assert WARNING in page.text, path
        report = client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN).json()
        assert report["data_quality"]
        assert report["gate"]["verdict"] == "hold"

        with caplog.at_level(logging.WARNING, logger="daypart.evaluator"):
            portal.call(app.background.evaluate)
        assert any("inconsistent cell" in record.getMessage() for record in caplog.records)
        state = portal.call(app.runtime.store.get_state, "evening-offer")
        assert state is not None
        assert (state["stage"], state["status"]) == (0, "running")
    assert converted == len(cookies)
