"""The admin endpoint the README describes: token, board, JSON, actions, CSV, OpenAPI."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]
TOKEN = {"Authorization": "Bearer s3cret-token"}


def test_health_is_public_and_the_rest_needs_the_token(make_app: MakeApp) -> None:
    with TestClient(make_app(admin_token="s3cret-token")) as client:
        assert client.get("/_daypart/health").json()["status"] == "ok"
        assert client.get("/_daypart/api/experiments").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.get("/_daypart/api/experiments", headers=wrong).status_code == 401
        assert client.get("/_daypart/api/experiments", headers=TOKEN).status_code == 200


def test_without_a_token_the_admin_api_is_off(make_app: MakeApp) -> None:
    with TestClient(make_app(admin_token=None)) as client:
        response = client.get("/_daypart/api/experiments", headers=TOKEN)
    assert response.status_code == 403
    assert "DAYPART_ADMIN_TOKEN" in response.json()["error"]


def test_results_actions_and_exports(make_app: MakeApp) -> None:
    app = make_app(admin_token="s3cret-token", clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        for _ in range(6):
            client.cookies.clear()
            client.get("/", headers={"User-Agent": LAPTOP})
        client.cookies.clear()
        reload = client.post("/_daypart/api/rules/reload", headers=TOKEN)
        assert reload.json() == {"reloaded": True, "error": None}
        deadline = time.monotonic() + 5  # the background flusher writes within 0.5 s
        while app.runtime.recorder.stats.written < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        report = client.get("/_daypart/api/experiments/evening-offer", headers=TOKEN).json()
        assert report["experiment"] == "evening-offer"
        assert report["visitors"] == 6
        assert {arm["name"] for arm in report["arms"]} == {"control", "offer"}
        assert report["light"] in {"green", "amber", "red", "grey"}

        paused = client.post("/_daypart/api/experiments/evening-offer/pause", headers=TOKEN)
        assert (paused.status_code, paused.json()["status"]) == (200, "paused")
        again = client.post("/_daypart/api/experiments/evening-offer/pause", headers=TOKEN)
        assert again.status_code == 409
        bad = client.post(
            "/_daypart/api/experiments/evening-offer/resume", headers=TOKEN, content=b"[1]"
        )
        assert bad.status_code == 400
        audit = client.get("/_daypart/api/experiments/evening-offer/audit", headers=TOKEN).json()
        assert [entry["action"] for entry in audit][-1] == "pause"
        assert client.get("/_daypart/api/experiments/nope", headers=TOKEN).status_code == 404

        board = client.get("/_daypart/", headers=TOKEN)
        detail = client.get("/_daypart/experiments/evening-offer", headers=TOKEN)
        csv = client.get("/_daypart/export.csv", headers=TOKEN)
        openapi = client.get("/_daypart/api/openapi.json", headers=TOKEN).json()
    assert "evening-offer" in board.text
    assert "<svg" in detail.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert "evening-offer" in csv.text.splitlines()[1]
    assert "/_daypart/api/experiments/{name}" in openapi["paths"]
