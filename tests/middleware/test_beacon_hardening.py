"""The public beacon under hostile input: never a 5xx, replays never crowd out real records,
a rate limit per visitor and per client, and an optional restriction to the site's pages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daypart.middleware import AdaptiveMiddleware
from tests.middleware.conftest import LAPTOP, RULES, TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]
Headers = Sequence[tuple[bytes, bytes]]
CLIENT = ("198.51.100.7", 40000)


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: AdaptiveMiddleware,
    method: str,
    path: str,
    headers: Headers = (),
    body: bytes = b"",
    client: tuple[str, int] | None = CLIENT,
) -> Answer:
    answer = Answer(0, {}, b"")
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"shop.example"), *headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return answer


async def visitor_cookie(app: AdaptiveMiddleware, user_agent: str = LAPTOP) -> bytes:
    """The cookie of a visitor exposed to the experiment (a laptop at 21:00)."""
    page = await call(app, "GET", "/", [(b"user-agent", user_agent.encode())])
    return page.headers[b"set-cookie"].split(b";")[0]


def beacon(
    app: AdaptiveMiddleware,
    cookie: bytes | None,
    body: bytes = b'{"goal": "shared"}',
    extra: Headers = (),
    client: tuple[str, int] | None = CLIENT,
) -> Any:
    headers = [(b"content-type", b"text/plain;charset=UTF-8"), *extra]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return call(app, "POST", "/_daypart/convert", headers, body, client)


@pytest.fixture
def make_beacon_app(rules_file: Path, make_app: MakeApp) -> MakeApp:
    rules_file.write_text(RULES.replace("goal: booked", "goal: shared"))

    def make(**options: Any) -> AdaptiveMiddleware:
        options.setdefault("clock", Clock(TUESDAY_2100))
        return make_app(**options)

    return make


def run(app: AdaptiveMiddleware, scenario: Callable[[], Any]) -> Any:
    async def go() -> Any:
        try:
            return await scenario()
        finally:
            await app.background.stop()

    return asyncio.run(go())


# -- never a 5xx ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 2000 + b"]" * 2000, "nested too deeply"),  # RecursionError in json.loads
        (b'{"goal": "shared", "value": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nested"),
        (b'{"goal": "shared", "value": ' + b"9" * 4000 + b"}", "finite number below 1e12"),
        (b'{"goal": "shared", "value": -' + b"9" * 4000 + b"}", "finite number below 1e12"),
        (b'{"goal": "shared", "value": 1e999999}', "finite number below 1e12"),
        (b'{"goal": "shared", "value": NaN}', "finite number below 1e12"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_hostile_bodies_are_a_clear_400(
    make_beacon_app: MakeApp, body: bytes, message: str
) -> None:
    app = make_beacon_app()

    async def scenario() -> Answer:
        answer: Answer = await beacon(app, await visitor_cookie(app), body)
        return answer

    answer = run(app, scenario)
    assert answer.status == 400
    assert message in answer.json()["error"]


@pytest.mark.parametrize(
    "length",
    [b"9" * 5000, "\u00b2".encode("latin-1"), b"-1", b"1e3", b" 10 ", b"99999999999999999999"],
)
def test_odd_content_lengths_are_never_a_5xx(make_beacon_app: MakeApp, length: bytes) -> None:
    app = make_beacon_app()
    answer = run(app, lambda: beacon(app, None, extra=[(b"content-length", length)]))
    assert answer.status in (202, 413)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=5000),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner),
            max_leaves=30,
        ).map(lambda data: json.dumps(data).encode()),
        st.fixed_dictionaries(
            {"goal": st.sampled_from(["shared", "booked", "", "x"]) | st.text()},
            optional={"value": st.integers() | st.floats() | st.text() | st.none()},
        ).map(lambda data: json.dumps(data).encode()),
    ),
    content_type=st.sampled_from([b"application/json", b"text/plain", b"", b"x/\xff"]),
    headers=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=200)), max_size=4),
    with_cookie=st.booleans(),
)
def test_the_beacon_never_answers_5xx(
    make_beacon_app: MakeApp,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]],
    with_cookie: bool,
) -> None:
    app = make_beacon_app(beacon_visitor_rate=None, beacon_client_rate=None)

    async def scenario() -> Answer:
        cookie = await visitor_cookie(app) if with_cookie else None
        extra = [(b"content-type", content_type), *((n.lower(), v) for n, v in headers)]
        answer: Answer = await beacon(app, cookie, body, extra)
        return answer

    answer = run(app, scenario)
    assert 200 <= answer.status < 500
    assert answer.status == 202 or "error" in answer.json()


# -- replays ----------------------------------------------------------------------------------


def test_replays_never_take_a_buffer_slot(make_beacon_app: MakeApp) -> None:
    # The store is down (nothing listens on port 1): everything waits in a small buffer.
    app = make_beacon_app(
        store="redis://127.0.0.1:1/0",
        max_buffer=50,
        batch_size=10,
        beacon_visitor_rate=None,
        beacon_client_rate=None,
    )
    recorder = app.runtime.recorder

    async def scenario() -> list[int]:
        replayed = await visitor_cookie(app)
        answers = [(await beacon(app, replayed)).status for _ in range(1000)]
        # a real visitor's conversion still fits
        other = await visitor_cookie(app)
        answers.append((await beacon(app, other)).status)
        return answers

    answers = run(app, scenario)
    assert set(answers) == {202}
    conversions = [r for r in recorder._buffer if hasattr(r, "goal")]
    assert len(conversions) == 2  # one per visitor
    assert recorder.stats.replays == 999
    assert recorder.stats.dropped == 0


# -- rate limits ----------------------------------------------------------------------------


def test_a_visitor_is_rate_limited_with_retry_after(
    make_beacon_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1000.0)
    app = make_beacon_app(beacon_visitor_rate=(3, 60.0))
    app.runtime.monotonic = clock  # real elapsed time, made to pass at will

    async def scenario() -> list[Answer]:
        cookie = await visitor_cookie(app)
        answers = [await beacon(app, cookie) for _ in range(5)]
        clock.epoch += 20  # one token back: 3 per 60 s
        answers.append(await beacon(app, cookie))
        answers.append(await beacon(app, await visitor_cookie(app)))  # someone else
        return answers

    with caplog.at_level(logging.WARNING, logger="daypart"):
        answers = run(app, scenario)
    assert [a.status for a in answers] == [202, 202, 202, 429, 429, 202, 202]
    assert answers[3].headers[b"retry-after"] == b"20"
    assert "too many beacons from this visitor" in answers[3].json()["error"]
    assert sum("rate limit per visitor" in r.message for r in caplog.records) == 1


def test_a_client_address_is_rate_limited_before_the_body_is_read(
    make_beacon_app: MakeApp,
) -> None:
    app = make_beacon_app(beacon_client_rate=(2, 60.0), beacon_visitor_rate=None)
    v6 = ("2001:db8:1:2::7", 1)
    same_v6_network = ("2001:db8:1:2:ffff::1", 1)

    async def scenario() -> list[int]:
        statuses = [(await beacon(app, None, b"x" * 9000)).status for _ in range(3)]
        statuses.append((await beacon(app, None, client=("198.51.100.8", 1))).status)
        statuses += [(await beacon(app, None, client=v6)).status for _ in range(2)]
        statuses.append((await beacon(app, None, client=same_v6_network)).status)
        statuses.append((await beacon(app, None, client=None)).status)
        return statuses

    assert run(app, scenario) == [413, 413, 429, 202, 202, 202, 429, 202]


def test_rate_limits_are_checked_at_start_up(make_beacon_app: MakeApp) -> None:
    with pytest.raises(ValueError, match="beacon_visitor_rate"):
        make_beacon_app(beacon_visitor_rate=(0, 60.0))
    with pytest.raises(ValueError, match="beacon_client_rate"):
        make_beacon_app(beacon_client_rate=(10, 0))


# -- origins ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "origin", "status"),
    [
        (None, b"https://evil.example", 202),  # the default: any page
        ("same-origin", b"https://shop.example", 202),
        ("same-origin", b"https://SHOP.example", 202),
        ("same-origin", b"http://shop.example", 403),
        ("same-origin", b"https://evil.example", 403),
        ("same-origin", None, 403),
        (("https://shop.example", "https://m.shop.example/"), b"https://m.shop.example", 202),
        (("https://shop.example",), b"https://shop.example.evil", 403),
        ("https://shop.example", b"null", 403),
    ],
)
def test_origins_may_be_restricted(
    make_beacon_app: MakeApp, option: Any, origin: bytes | None, status: int
) -> None:
    app = make_beacon_app(beacon_origins=option)
    extra = [] if origin is None else [(b"origin", origin)]

    async def scenario() -> Answer:
        answer: Answer = await beacon(app, await visitor_cookie(app), extra=extra)
        return answer

    answer = run(app, scenario)
    assert answer.status == status
    if status == 403:
        assert "Origin" in answer.json()["error"]


def test_a_malformed_origin_option_is_refused_at_start_up(make_beacon_app: MakeApp) -> None:
    with pytest.raises(ValueError, match="not an origin such as"):
        make_beacon_app(beacon_origins=["shop.example/checkout"])
