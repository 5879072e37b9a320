"""Holdouts on the request path: a held-out visitor always gets the default variant and
never enters an experiment, sticky across requests, through the decision cache as through
the full path; visitors who are never counted are never held out; what is counted is
exact, in the same store as the experiments — with a real Redis."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from daypart.experiments.holdout import ADAPTIVE, DEFAULT, holdout_name, is_held_out
from daypart.experiments.store import store_from_url
from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import (
    GOOGLEBOT,
    IPHONE,
    LAPTOP,
    TUESDAY_1730,
    Clock,
    Headers,
    Served,
    get_scope,
    run_then_stop,
    serve_one,
)

SHARE = 0.3
HOLDOUT = holdout_name("commuters-get-inspiration", SHARE)
RULES = """\
version: 1
site:
  timezone: Europe/Amsterdam
  holdout: 30%
dayparts:
  train_home: {days: weekdays, from: "17:00", to: "18:30"}
variants:
  inspiration:       {rewrite: "/inspiration{path}"}
  inspiration-video: {rewrite: "/inspiration{path}", headers: {X-Layout: video}}
  booking:           {rewrite: "/booking{path}"}
goals:
  booked: {method: POST, path: "/checkout/confirm", status: 2xx, value_header: X-Order-Value}
  shared: {beacon: true}
rules:
  - name: commuters-get-inspiration
    when: {device: mobile, daypart: train_home}
    serve: inspiration
    experiment: commute-video
  - name: laptops-get-inspiration
    when: {device: desktop}
    serve: inspiration
    holdout: 0%
  - name: everyone-else
    serve: booking
experiments:
  commute-video:
    arms: {control: inspiration, video: inspiration-video}
    goal: shared
"""


def make(tmp_path: Path, rules: str = RULES, **options: Any) -> AdaptiveMiddleware:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    options.setdefault("store", "memory://")
    return AdaptiveMiddleware(
        None,  # type: ignore[arg-type]  # set per request below
        rules=path,
        secret="holdout-secret-0123456789",
        clock=Clock(TUESDAY_1730),
        evaluate_interval=None,
        **options,
    )


async def request(
    app: AdaptiveMiddleware, headers: Headers, path: str = "/trips", method: str = "GET"
) -> Served:
    order = [(b"x-order-value", b"80")] if method == "POST" else []
    return await serve_one(app, headers, path, method, order)


def phone(*extra: tuple[bytes, bytes]) -> Headers:
    return [(b"user-agent", IPHONE.encode()), *extra]


run = run_then_stop


def seeded_ids(first_held_out: bool) -> Callable[[], str]:
    """Visitor ids in a fixed order, the first one held out (or not)."""
    ids = (f"visitor-{i:08d}-holdout" for i in itertools.count())
    first = next(v for v in ids if is_held_out(v, SHARE) == first_held_out)
    rest = (f"visitor-{i:08d}-others" for i in itertools.count())
    return itertools.chain([first], rest).__next__


def check(served: Served) -> str:
    """The decision agrees with the visitor's hash; returns the side."""
    decision = served.decision
    assert decision.visitor_id is not None
    held = is_held_out(decision.visitor_id, SHARE)
    assert decision.holdout == (DEFAULT if held else ADAPTIVE)
    if held:
        assert (decision.variant, decision.experiment, decision.arm) == ("booking", None, None)
        assert served.path == "/booking/trips"
    else:
        assert decision.experiment == "commute-video"
        assert decision.arm in ("control", "video")
        assert served.path == "/inspiration/trips"
    return str(decision.holdout)


def test_held_out_visitors_see_the_default_and_never_enter_an_experiment(tmp_path: Path) -> None:
    app = make(tmp_path)

    async def steps() -> None:
        sides = Counter([check(await request(app, phone())) for _ in range(600)])
        # Binomial(600, 0.3): sd ≈ 11.
        assert abs(sides[DEFAULT] - 180) < 50, sides
        await app.runtime.recorder.flush()
        store = app.runtime.store
        experiment = await store.counts("commute-video")
        assert sum(c.exposures for c in experiment.cells.values()) == sides[ADAPTIVE]
        holdout = await store.counts(HOLDOUT)
        counted = Counter[str]()
        for (arm, device, daypart, _), cell in holdout.cells.items():
            assert (device, daypart) == ("mobile", "train_home")
            counted[arm] += cell.exposures
        assert counted == sides

    run(app, steps)


def test_a_held_out_visitor_stays_held_out(tmp_path: Path) -> None:
    app = make(tmp_path)
    app.classifier.new_id = seeded_ids(first_held_out=True)

    async def steps() -> None:
        first = await request(app, phone())
        assert check(first) == DEFAULT
        assert first.cookie is not None
        for _ in range(5):  # the full path, then the decision cache, then its hits
            again = await request(app, phone((b"cookie", first.cookie)))
            assert check(again) == DEFAULT
            assert again.decision.visitor_id == first.decision.visitor_id
            assert again.cookie is None  # nothing new to remember
        await app.runtime.recorder.flush()
        holdout = await app.runtime.store.counts(HOLDOUT)
        assert sum(c.exposures for c in holdout.cells.values()) == 1  # counted once
        assert not (await app.runtime.store.counts("commute-video")).cells

    run(app, steps)


@pytest.mark.parametrize("first_held_out", [True, False], ids=["held-out-first", "adapted-first"])
def test_the_decision_cache_decides_each_visitor_for_themselves(
    tmp_path: Path, first_held_out: bool
) -> None:
    """New visitors with the same User-Agent in the same minute share a cached decision's
    visitor-independent part, never a side: whichever side the first one was on, the rest
    are decided each by their own hash (and returning ones by their own cookie)."""
    app = make(tmp_path)
    app.classifier.new_id = seeded_ids(first_held_out)
    classified = Counter[str]()
    classify = app.classifier.classify

    def counting(*args: Any, **kwargs: Any) -> Any:
        classified["calls"] += 1
        return classify(*args, **kwargs)

    app.classifier.classify = counting  # type: ignore[method-assign]

    async def steps() -> None:
        served = [await request(app, phone()) for _ in range(200)]
        assert classified["calls"] == 1  # one full path, then the cache
        sides = Counter(check(s) for s in served)
        assert sides[DEFAULT]
        assert sides[ADAPTIVE]
        # Returning visitors, one of each side: each with their own decision.
        held = next(s for s in served if s.decision.holdout == DEFAULT)
        adapted = next(s for s in served if s.decision.holdout == ADAPTIVE)
        for _ in range(3):
            for first in (held, adapted):
                assert first.cookie is not None
                again = await request(app, phone((b"cookie", first.cookie)))
                assert again.decision.holdout == first.decision.holdout
                assert again.path == first.path
                assert again.decision.arm == first.decision.arm

    run(app, steps)


@pytest.mark.parametrize(
    "headers",
    [phone((b"dnt", b"1")), phone((b"sec-gpc", b"1")), [(b"user-agent", GOOGLEBOT.encode())]],
    ids=["dnt", "gpc", "bot"],
)
def test_visitors_never_counted_are_never_held_out(tmp_path: Path, headers: Headers) -> None:
    app = make(tmp_path)

    async def steps() -> None:
        for _ in range(50):
            served = await request(app, headers)
            assert served.decision.holdout is None
            assert served.decision.tracked is False
        await app.runtime.recorder.flush()
        assert await app.runtime.store.experiments() == []

    run(app, steps)


def test_a_rule_exempt_from_the_site_holdout_holds_nobody_out(tmp_path: Path) -> None:
    app = make(tmp_path)

    async def steps() -> None:
        for _ in range(100):
            served = await request(app, [(b"user-agent", LAPTOP.encode())])
            assert served.decision.rule == "laptops-get-inspiration"
            assert served.decision.holdout is None
            assert served.path == "/inspiration/trips"

    run(app, steps)


def test_without_a_catch_all_a_held_out_request_passes_unchanged_and_private(
    tmp_path: Path,
) -> None:
    rules = RULES.replace("  - name: everyone-else\n    serve: booking\n", "")
    app = make(tmp_path, rules)
    app.classifier.new_id = seeded_ids(first_held_out=True)

    async def steps() -> None:
        first = await request(app, phone())
        assert first.decision.holdout == DEFAULT
        assert first.decision.variant is None
        assert first.path == "/trips"
        assert first.cookie is not None
        again = await request(app, phone((b"cookie", first.cookie)))
        assert again.path == "/trips"
        # Another visitor's page differs: no shared cache may keep this one.
        headers = dict(again.headers)
        assert b"private" in headers[b"cache-control"]
        assert b"Cookie" in headers[b"vary"]

    run(app, steps)


def test_counts_are_exact_with_a_real_redis(tmp_path: Path, redis_url: str) -> None:
    """Visitors come, return, convert on a response goal and on the beacon; the store's
    holdout counts are exactly what they did, arm by arm, goal by goal, with revenue; the
    experiment never counts a held-out visitor."""
    app = make(tmp_path, store=redis_url)
    app.classifier.new_id = seeded_ids(first_held_out=False)
    expected: Counter[tuple[str, str]] = Counter()
    revenue: dict[str, float] = {}
    in_experiment: set[str | None] = set()

    async def steps() -> None:
        for i in range(240):
            first = await request(app, phone())
            side = check(first)
            expected[(side, "exposures")] += 1
            assert first.cookie is not None
            cookie = (b"cookie", first.cookie)
            if first.decision.experiment is not None:
                in_experiment.add(first.decision.visitor_id)
            await request(app, phone(cookie))  # a returning page view: counted once
            if i % 3 == 0:  # books twice: the second one is the same conversion
                for _ in range(2):
                    await request(app, phone(cookie), "/checkout/confirm", "POST")
                expected[(side, "booked")] += 1
                revenue[side] = revenue.get(side, 0.0) + 80.0
            if i % 4 == 0:
                counted = await request_beacon(app, first.cookie)
                expected[(side, "shared")] += 1
                # The beacon counts in the holdout, and in the experiment when entered.
                assert counted == 1 + (first.decision.experiment is not None)
        await app.runtime.recorder.flush()
        store = store_from_url(redis_url)
        try:
            holdout = await store.counts(HOLDOUT)
            found: Counter[tuple[str, str]] = Counter()
            found_revenue: dict[str, float] = {}
            for (arm, *_), cell in holdout.cells.items():
                found[(arm, "exposures")] += cell.exposures
                for goal, count in cell.conversions.items():
                    found[(arm, goal)] += count
                found_revenue[arm] = found_revenue.get(arm, 0.0) + cell.revenue.get("booked", 0.0)
            assert +found == +expected
            assert found_revenue == revenue
            experiment = await store.counts("commute-video")
            assert sum(c.exposures for c in experiment.cells.values()) == len(in_experiment)
            assert (
                sum(c.exposures for c in experiment.cells.values())
                == expected[(ADAPTIVE, "exposures")]
            )
        finally:
            await store.close()

    run(app, steps)


async def request_beacon(app: AdaptiveMiddleware, cookie: bytes) -> int:
    """POST the beacon as the page's script would; returns how many it counted in."""
    body: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"goal": "shared"}', "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body["text"] = message.get("body", b"")

    scope = get_scope(
        "/_daypart/convert", phone((b"cookie", cookie), (b"content-type", b"application/json"))
    )
    scope["method"] = "POST"
    await app(scope, receive, send)

    return int(json.loads(body["text"])["counted"])
