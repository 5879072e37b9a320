"""Arbitrary requests through the middleware: it never raises, and never changes the app's
response beyond daypart's own headers (``Vary``, ``Cache-Control``, ``Set-Cookie``).

Header names and values are arbitrary bytes (non-latin-1 and huge ones included), and so
are cookies, paths (percent-encoded junk, 8 KB), query strings and methods. With a rule
set under which no variant applies, the app must see exactly the request the bare app
sees and answer the same; with a catch-all variant, the app must see the variant's
rewrite and header and the rest of the request untouched.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.visitor import CookieSigner, VisitorCookie
from tests.middleware.conftest import GOOGLEBOT, IPHONE, LAPTOP, TUESDAY_2100, Clock

SECRET = "fuzz-secret-0123456789"
SENTINEL = "zzz-sentinel"
FUZZ = settings(max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Every kind of condition, none of which fuzzed requests meet: the matcher runs them all.
NOTHING_APPLIES = f"""\
version: 1
site:
  timezone: Europe/Amsterdam
  timezone_from: [cookie:tz, header:CF-Timezone]
dayparts:
  evening: {{from: "19:00", to: "23:30"}}
variants:
  special: {{rewrite: "/special{{path}}", headers: {{X-Special: "1"}}}}
goals:
  anything: {{path: "/**", value_header: X-Value}}
rules:
  - {{name: by-header, when: {{header: {{X-Channel: {SENTINEL}}}}}, serve: special}}
  - {{name: by-query, when: {{query: {{q: {SENTINEL}}}}}, serve: special}}
  - {{name: by-cookie, when: {{cookie: {{seg: {SENTINEL}}}}}, serve: special}}
  - {{name: by-path, when: {{path: "/{SENTINEL}/**"}}, serve: special}}
  - {{name: by-method, when: {{method: ZZZSENTINEL, daypart: evening}}, serve: special}}
  - name: by-visitor
    when: {{visitor: returning, header: {{X-Channel: {SENTINEL}}}}}
    serve: special
"""

EVERYONE = """\
version: 1
site:
  timezone: Europe/Amsterdam
  timezone_from: [cookie:tz, header:CF-Timezone]
variants:
  special: {rewrite: "/special{path}", headers: {X-Special: "1"}}
rules:
  - {name: everyone, serve: special}
"""

ZONES = ["Europe/London", "Asia/Tokyo", "America/St_Johns", "UTC", "Etc/GMT+12", "Mars/Base"]
HEADER_NAMES = [
    b"user-agent",
    b"cookie",
    b"cf-timezone",
    b"sec-ch-ua-mobile",
    b"dnt",
    b"sec-gpc",
    b"x-channel",
    b"x-special",
    b"host",
    b"User-Agent",  # ASGI promises lower case; a server that breaks it must not break us
]

values = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=100).map(lambda junk: b"a" * 20_000 + junk),  # huge
    st.sampled_from([LAPTOP.encode(), b"?1", b"?0", b"1", b"Europe/Amsterdam"]),
)
cookie_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ZONES),
    st.binary(max_size=30).map(lambda junk: quote(junk)),  # percent-encoded junk
    st.builds(
        lambda visitor, tamper: CookieSigner(SECRET).dump(VisitorCookie(visitor)) + tamper,
        st.from_regex(r"[A-Za-z0-9_-]{16}", fullmatch=True),
        st.sampled_from(["", "x", ".junk"]),
    ),
)
cookie_headers = st.lists(
    st.tuples(
        st.sampled_from(["tz", "daypart", "seg", "other"]) | st.text(max_size=8), cookie_values
    ),
    max_size=6,
).map(lambda pairs: "; ".join(f"{n}={v}" for n, v in pairs).encode("utf-8", "surrogatepass"))
agents = st.sampled_from([LAPTOP, IPHONE, GOOGLEBOT]).map(str.encode) | values
headers = st.tuples(
    # Real browsers most of the time: tracked visitors get a cookie, bots do not.
    st.lists(st.tuples(st.just(b"user-agent"), agents), max_size=1),
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(HEADER_NAMES) | st.binary(max_size=30), values),
            st.tuples(st.just(b"cookie"), cookie_headers),
        ),
        max_size=8,
    ),
).map(lambda parts: parts[0] + parts[1])
paths = st.one_of(
    st.text(max_size=80).map(lambda text: "/" + text),
    st.binary(max_size=80).map(lambda junk: "/" + unquote(quote(junk), errors="replace")),
    st.binary(max_size=40).map(lambda junk: unquote("/" + quote(junk) * 200)),  # ~8 KB
    st.sampled_from(["/", "//", "/a//b/", "/%2e%2e/", "/booking"]),
)
methods = st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "PUT"]) | st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=12
)
queries = st.binary(max_size=300)
response_headers = st.lists(
    st.tuples(st.sampled_from([b"vary", b"cache-control", b"set-cookie", b"x-value"]), values),
    max_size=4,
)


def echo(response: list[tuple[bytes, bytes]]) -> Callable[..., Any]:
    """An app that answers with what it saw, and the given response headers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen = {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope.get("raw_path", b"").decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        }
        body = json.dumps(seen).encode()
        await send({"type": "http.response.start", "status": 200, "headers": list(response)})
        await send({"type": "http.response.body", "body": body})

    return app


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


async def call(app: Any, method: str, path: str, query: bytes, headers: list[Any]) -> Answer:
    start: dict[str, Any] = {}
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal body
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": quote(path, errors="surrogateescape").encode("ascii"),
        "root_path": "",
        "query_string": query,
        "headers": list(headers),
        "client": ("203.0.113.9", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return start["status"], list(start.get("headers", [])), body


OURS = {b"vary", b"cache-control", b"set-cookie"}


def without_ours(headers: list[tuple[bytes, bytes]], app_headers: list[Any]) -> list[Any]:
    """The app's headers, less what daypart may merge into or add."""
    kept = [h for h in headers if h[0] not in OURS]
    app_cookies = [h for h in app_headers if h[0] == b"set-cookie"]
    ours = [h for h in headers if h[0] == b"set-cookie" and h not in app_cookies]
    assert all(v.startswith(b"daypart=") for _, v in ours)
    assert len(ours) <= 1
    return kept + [h for h in headers if h in app_cookies]


def middleware(tmp_path: Path, rules: str, app: Any) -> AdaptiveMiddleware:
    path = tmp_path / f"rules-{abs(hash(rules))}.yaml"
    if not path.exists():
        path.write_text(rules)
    return AdaptiveMiddleware(
        app,
        rules=path,
        secret=SECRET,
        store="memory://",
        clock=Clock(TUESDAY_2100),
        exclude=(),
        evaluate_interval=None,
        reload_interval=0,
    )


def run(app: AdaptiveMiddleware, *calls: Any) -> list[Answer]:
    async def go() -> list[Answer]:
        try:
            return [await c for c in calls]
        finally:
            await app.background.stop()

    return asyncio.run(go())


def no_sentinel(*parts: Any) -> bool:
    text = repr(parts).lower()
    return SENTINEL not in text and "zzzsentinel" not in text


@FUZZ
@given(
    method=methods, path=paths, query=queries, request_headers=headers, response=response_headers
)
def test_when_no_variant_applies_the_app_answers_as_without_daypart(
    tmp_path: Path,
    method: str,
    path: str,
    query: bytes,
    request_headers: list[tuple[bytes, bytes]],
    response: list[tuple[bytes, bytes]],
) -> None:
    assume(no_sentinel(method, path, query, request_headers))
    assume(not path.startswith("/_daypart"))
    bare = echo(response)
    app = middleware(tmp_path, NOTHING_APPLIES, bare)
    (status, got, body), (bare_status, bare_headers, bare_body) = run(
        app,
        call(app, method, path, query, request_headers),
        call(bare, method, path, query, request_headers),
    )
    assert (status, body) == (bare_status, bare_body)  # the app saw the very same request
    assert without_ours(got, response) == without_ours(bare_headers, response)
    if not any(v.startswith(b"daypart=") for n, v in got if n == b"set-cookie"):
        assert got == bare_headers  # no cookie set: not one header changed
    else:
        (cache_control,) = [v for n, v in got if n == b"cache-control"]
        assert b"private" in cache_control.lower()


@FUZZ
@given(
    method=methods, path=paths, query=queries, request_headers=headers, response=response_headers
)
def test_when_a_variant_applies_the_app_sees_it_and_nothing_else_changes(
    tmp_path: Path,
    method: str,
    path: str,
    query: bytes,
    request_headers: list[tuple[bytes, bytes]],
    response: list[tuple[bytes, bytes]],
) -> None:
    assume(not path.startswith("/_daypart"))
    bare = echo(response)
    app = middleware(tmp_path, EVERYONE, bare)
    (status, got, body), (_, bare_headers, bare_body) = run(
        app,
        call(app, method, path, query, request_headers),
        call(bare, method, path, query, request_headers),
    )
    seen, bare_seen = json.loads(body), json.loads(bare_body)
    rewritten = re.sub("/{2,}", "/", f"/special{path}")
    assert status == 200
    assert seen["path"] == rewritten
    assert seen["raw_path"] == quote(rewritten, errors="surrogateescape")
    assert (seen["method"], seen["query"]) == (bare_seen["method"], bare_seen["query"])
    others = [h for h in bare_seen["headers"] if h[0] != "x-special"]
    assert seen["headers"] == [*others, ["x-special", "1"]]
    assert without_ours(got, response) == without_ours(bare_headers, response)
    # one Vary and one Cache-Control, so a later "public" cannot undo "private"
    (vary,) = [v for n, v in got if n == b"vary"]
    (cache_control,) = [v for n, v in got if n == b"cache-control"]
    directives = [d.strip().lower() for d in cache_control.split(b",")]
    assert any(d.startswith(b"private") for d in directives)
    assert b"public" not in directives
    assert b"user-agent" in vary.lower() or b"*" in vary


@pytest.mark.parametrize("path", ["/\udcff", "/a\udc80b/" * 100])
def test_undecodable_paths_are_rewritten_never_raised(tmp_path: Path, path: str) -> None:
    # Servers hand over bytes they cannot decode as lone surrogates (surrogateescape).
    app = middleware(tmp_path, EVERYONE, echo([]))
    ((status, _, body),) = run(app, call(app, "GET", path, b"", []))
    assert status == 200
    assert json.loads(body)["raw_path"].startswith("/special/")
