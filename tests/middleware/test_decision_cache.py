"""The decision cache never serves a stale decision: a request shaped like an earlier one
reuses its decision only within the same visitor-local minute, under the same rules and
the same rollout states, and only for the same Cookie header."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from daypart.experiments.rollout import Rollouts
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.decision_cache import DECISION_CACHE_BYTES, MAX_DECISION_ENTRY
from tests.middleware.conftest import (
    GOOGLEBOT,
    IPHONE,
    LAPTOP,
    RULES,
    TUESDAY_2100,
    Clock,
    Headers,
    Served,
    get_scope,
    local,
    no_body,
    run_then_stop,
    serve_one,
)

MakeApp = Callable[..., AdaptiveMiddleware]


def ua(agent: str, *extra: tuple[bytes, bytes]) -> Headers:
    return [(b"user-agent", agent.encode()), *extra]


async def request(app: AdaptiveMiddleware, headers: Headers, path: str = "/") -> Served:
    return await serve_one(app, headers, path)


run = run_then_stop


def test_a_minute_boundary_into_another_daypart_is_decided_afresh(make_app: MakeApp) -> None:
    clock = Clock(local("2026-11-24T18:29:10"))  # the last minute of train_home
    app = make_app(clock=clock)

    async def steps() -> None:
        first = await request(app, ua(IPHONE))
        cookie = first.cookie
        assert cookie is not None
        returning = ua(IPHONE, (b"cookie", cookie))
        for _ in range(3):  # the second and third come from the cache
            served = await request(app, returning)
            assert served.decision.rule == "commuters-get-inspiration"
            assert served.path == "/inspiration/"
            assert (await request(app, ua(IPHONE))).decision.segment == "train_home"
        clock.epoch = local("2026-11-24T18:30:00")
        served = await request(app, returning)
        assert served.decision.rule == "everyone-else"
        assert served.decision.segment != "train_home"
        assert served.path == "/booking/"
        assert served.decision.epoch == clock.epoch  # each request's own time
        new = await request(app, ua(IPHONE))
        assert new.decision.rule == "everyone-else"
        clock.epoch = local("2026-11-24T18:29:59")  # a clock set back is asked again too
        assert (await request(app, returning)).decision.rule == "commuters-get-inspiration"

    run(app, steps)


def test_a_rules_reload_is_decided_afresh(make_app: MakeApp, rules_file: Path) -> None:
    app = make_app(clock=Clock(local("2026-11-24T17:30")))

    async def steps() -> None:
        for _ in range(2):
            assert (await request(app, ua(IPHONE))).decision.variant == "inspiration"
        rules_file.write_text(RULES.replace("serve: inspiration", "serve: booking"))
        app.background.force_reload()
        assert await app.background.reload()
        served = await request(app, ua(IPHONE))
        assert served.decision.variant == "booking"
        assert served.path == "/booking/"

    run(app, steps)


def test_a_rollout_state_change_is_decided_afresh(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(TUESDAY_2100))
    experiment = app.runtime.rules.ruleset.experiments["evening-offer"]

    async def steps() -> None:
        rollouts = Rollouts(app.runtime.store, app.runtime.clock)
        await rollouts.ensure_started(experiment)
        await app.background.refresh_states()
        # A visitor in the control arm, served from the cache on later requests.
        while True:
            first = await request(app, ua(LAPTOP))
            if first.decision.arm == "control":
                break
        cookie = first.cookie
        assert cookie is not None
        returning = ua(LAPTOP, (b"cookie", cookie))
        for _ in range(2):
            served = await request(app, returning)
            assert (served.decision.arm, served.decision.variant) == ("control", "booking")
        states = app.runtime.states
        await app.background.refresh_states()  # nothing changed: the same dict serves on
        assert app.runtime.states is states
        await rollouts.act(experiment, "complete", actor="test", reason="test", winner="offer")
        await app.background.refresh_states()
        served = await request(app, returning)
        assert (served.decision.arm, served.decision.variant) == ("offer", "booking-offer")
        new = await request(app, ua(LAPTOP))
        assert (new.decision.arm, new.decision.variant) == ("offer", "booking-offer")
        assert new.cookie is not None

    run(app, steps)


def test_another_cookie_header_is_another_visitor(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(local("2026-11-24T17:30")))

    async def steps() -> None:
        one, two = (await request(app, ua(IPHONE))).cookie, (await request(app, ua(IPHONE))).cookie
        assert one is not None
        assert two is not None
        assert one != two
        ids = set()
        for cookie in (one, two, one, two):
            served = await request(app, ua(IPHONE, (b"cookie", cookie)))
            assert served.cookie is None  # returning: no cookie set again
            ids.add((cookie, served.decision.visitor_id))
        assert len(ids) == 2
        assert len({visitor for _, visitor in ids}) == 2
        # A zone cookie added to the same visitor's header is another key: another zone.
        served = await request(app, ua(IPHONE, (b"cookie", one + b"; tz=America/New_York")))
        assert served.decision.zone.key == "America/New_York"
        # New visitors from one cached shape still each get their own id and cookie.
        fresh = [await request(app, ua(IPHONE)) for _ in range(3)]
        assert len({served.decision.visitor_id for served in fresh}) == 3
        assert all(served.cookie is not None for served in fresh)

    run(app, steps)


def test_cached_decisions_are_counted_and_never_shared(make_app: MakeApp) -> None:
    app = make_app(clock=Clock(local("2026-11-24T17:30")))

    async def steps() -> None:
        first = await request(app, ua(IPHONE))
        assert first.cookie is not None
        returning = ua(IPHONE, (b"cookie", first.cookie))
        a = await request(app, returning)
        a.decision.variant = "changed by the app"
        b = await request(app, returning)
        assert b.decision is not a.decision
        assert b.decision.variant == "inspiration"
        counts = app.runtime.counters.requests["mobile"]["train_home"]
        assert counts["inspiration"] == 3

    run(app, steps)


def test_the_cache_is_bounded_in_bytes(make_app: MakeApp) -> None:
    # Distinct query strings: a request shape each, and nothing else keyed by them.
    app = make_app(clock=Clock(local("2026-11-24T17:30")))

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def plain(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.app = plain

    async def steps() -> None:
        await app(get_scope("/", ua(GOOGLEBOT)), no_body, send)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(5000):
                scope = get_scope("/", ua(GOOGLEBOT))
                scope["query_string"] = f"q={i}&".encode() + b"x" * 1500
                await app(scope, no_body, send)
            growth = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        assert growth < DECISION_CACHE_BYTES * 1.15
        assert 0 < len(app._decisions) < 5000  # full: it started afresh
        scope = get_scope("/", ua(GOOGLEBOT))
        scope["query_string"] = b"q=long&" + b"x" * MAX_DECISION_ENTRY
        app._decisions.clear()
        await app(scope, no_body, send)
        assert len(app._decisions) == 0  # larger than any real request's: never kept

    run(app, steps)
