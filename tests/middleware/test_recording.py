"""Exposures and conversions through the real middleware, counted exactly once.

The memory store stands in for Redis here (the same contract tests run against both in
tests/experiments); the end-to-end Redis runs are in test_redis_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from daypart.experiments.store.base import ExperimentCounts
from daypart.middleware import AdaptiveMiddleware
from daypart.rules.errors import DaypartError
from tests.middleware.conftest import (
    IPHONE,
    LAPTOP,
    RULES,
    TUESDAY_2100,
    Clock,
    get_scope,
    no_body,
    raw_app,
)

MakeApp = Callable[..., AdaptiveMiddleware]
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def counts(app: AdaptiveMiddleware, experiment: str = "evening-offer") -> ExperimentCounts:
    return asyncio.run(app.runtime.store.counts(experiment))


def cells(app: AdaptiveMiddleware, what: str = "exposures", goal: str = "booked") -> Counter[Any]:
    found: Counter[Any] = Counter()
    for key, cell in counts(app).cells.items():
        found[key] = cell.exposures if what == "exposures" else cell.conversions.get(goal, 0)
    return +found


def test_first_exposure_is_counted_once_per_visitor_in_its_arm_and_segment(
    make_app: MakeApp,
) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    expected: Counter[tuple[str, str, str, str]] = Counter()
    for agent, device in ((LAPTOP, "desktop"), (IPAD, "tablet")):
        for _ in range(15):
            with TestClient(app) as client:  # a new client is a new visitor
                for _ in range(3):
                    decision = client.get("/", headers={"User-Agent": agent}).json()["decision"]
            expected[(decision["arm"], device, "evening", "")] += 1
    assert cells(app) == expected
    assert sum(expected.values()) == 30
    assert {arm for arm, *_ in expected} == {"control", "offer"}


def test_response_goal_counts_once_with_its_value(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        arm = client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"]
        for value in ("120.5", "80"):  # the second booking of the same visitor is not counted
            response = client.post(f"/checkout/confirm?v={value}", headers={"User-Agent": LAPTOP})
            assert response.status_code == 200
    cell = counts(app).cells[(arm, "desktop", "evening", "")]
    assert cell.exposures == 1
    assert cell.conversions == {"booked": 1}
    assert cell.revenue["booked"] == pytest.approx(120.5)
    assert cell.revenue_sq["booked"] == pytest.approx(120.5**2)


def test_goal_status_class_must_match(make_app: MakeApp) -> None:
    async def failing_checkout(scope: Any, receive: Any, send: Any) -> None:
        status = 500 if scope["method"] == "POST" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = make_app(raw_app(failing_checkout), clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        client.get("/", headers={"User-Agent": LAPTOP})
        assert client.post("/checkout/confirm", headers={"User-Agent": LAPTOP}).status_code == 500
    assert sum(cells(app).values()) == 1
    assert cells(app, "conversions") == Counter()


def test_python_convert_counts_in_the_visitors_experiments(make_app: MakeApp) -> None:
    async def page(scope: Any, receive: Any, send: Any) -> None:
        decision = scope["state"]["daypart"]
        counted = decision.convert("booked", 42.0) if scope["path"].endswith("/pay") else 0
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(counted).encode()})

    app = make_app(raw_app(page), clock=Clock(TUESDAY_2100))
    with TestClient(app) as client:
        client.get("/", headers={"User-Agent": LAPTOP})
        assert client.get("/pay", headers={"User-Agent": LAPTOP}).text == "1"
        assert client.get("/pay", headers={"User-Agent": LAPTOP}).text == "1"  # buffered...
    # ... but the store de-duplicates: one conversion per visitor, goal and experiment
    assert sum(cells(app, "conversions").values()) == 1
    (cell,) = (c for c in counts(app).cells.values() if c.conversions)
    assert cell.revenue["booked"] == pytest.approx(42.0)


def test_convert_of_an_unknown_goal_is_a_clear_error(make_app: MakeApp) -> None:
    errors: list[str] = []

    async def page(scope: Any, receive: Any, send: Any) -> None:
        try:
            scope["state"]["daypart"].convert("bookd")
        except DaypartError as exc:
            errors.append(str(exc))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with TestClient(make_app(raw_app(page))) as client:
        client.get("/", headers={"User-Agent": LAPTOP})
    assert errors == ["unknown goal 'bookd'; defined goals: booked, shared"]


@pytest.fixture
def beacon_app(rules_file: Path, make_app: MakeApp) -> AdaptiveMiddleware:
    rules_file.write_text(RULES.replace("goal: booked", "goal: shared"))
    return make_app(clock=Clock(TUESDAY_2100))


def test_beacon_counts_for_exposed_visitors_once(beacon_app: AdaptiveMiddleware) -> None:
    with TestClient(beacon_app) as client:
        arm = client.get("/", headers={"User-Agent": LAPTOP}).json()["decision"]["arm"]
        first = client.post("/_daypart/convert", json={"goal": "shared", "value": 3})
        again = client.post(
            "/_daypart/convert",
            content=json.dumps({"goal": "shared"}),
            headers={"Content-Type": "text/plain;charset=UTF-8"},  # what sendBeacon sends
        )
    assert (first.status_code, first.json()) == (202, {"counted": 1})
    assert again.status_code == 202
    cell = counts(beacon_app).cells[(arm, "desktop", "evening", "")]
    assert cell.conversions == {"shared": 1}


def test_beacon_without_a_cookie_or_exposure_counts_nothing(
    beacon_app: AdaptiveMiddleware,
) -> None:
    with TestClient(beacon_app) as client:
        anonymous = client.post("/_daypart/convert", json={"goal": "shared"})
        client.get("/", headers={"User-Agent": IPHONE})  # not in the evening experiment
        unexposed = client.post("/_daypart/convert", json={"goal": "shared"})
    assert anonymous.json() == {"counted": 0}
    assert unexposed.json() == {"counted": 0}
    assert counts(beacon_app).cells == {}


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b"[1, 2]", {}, 400, "must be a JSON object"),
        (b'{"goal": "shared", "extra": 1}', {}, 400, "unknown field 'extra'"),
        (b'{"goal": ""}', {}, 400, "'goal' must be a non-empty string"),
        (b'{"goal": "shared", "value": "a lot"}', {}, 400, "'value' must be a number"),
        (b'{"goal": "shared", "value": 1e300}', {}, 400, "finite number below 1e12"),
        (b'{"goal": "nope"}', {}, 422, "unknown goal 'nope'"),
        (b'{"goal": "booked"}', {}, 422, "not a beacon goal"),
        (b"x" * 5000, {}, 413, "larger than 4096 bytes"),
        (b'{"goal": "shared"}', {"Content-Type": "application/xml"}, 415, "content type"),
    ],
)
def test_beacon_rejects_bad_bodies_clearly(
    beacon_app: AdaptiveMiddleware,
    body: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    with TestClient(beacon_app) as client:
        client.get("/", headers={"User-Agent": LAPTOP})
        response = client.post(
            "/_daypart/convert",
            content=body,
            headers={"Content-Type": "application/json", **headers},
        )
    assert response.status_code == status
    assert message in response.json()["error"]
    assert all(not c.conversions for c in counts(beacon_app).cells.values())


def test_records_are_flushed_without_a_lifespan(make_app: MakeApp) -> None:
    """Servers that do not run the lifespan still get their records written (lazy start)."""
    app = make_app(clock=Clock(TUESDAY_2100), flush_interval=0.05)

    async def run() -> None:
        async def send(message: MutableMapping[str, Any]) -> None:
            return None

        for _ in range(5):
            await app(get_scope("/", [(b"user-agent", LAPTOP.encode())]), no_body, send)
        for _ in range(100):
            if app.runtime.recorder.pending == 0 and app.runtime.recorder.stats.written:
                break
            await asyncio.sleep(0.02)
        await app.background.stop()

    asyncio.run(run())
    assert sum(cells(app).values()) == 5
