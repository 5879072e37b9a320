"""``make bench-instructions``: the request path's cost in CPU instructions, which do not
depend on what else the machine is doing.

Each kind of request runs in its own Python process under valgrind's callgrind with
instrumentation off during imports and warm-up; it is switched on (``callgrind_control
-i on``) for a batch of requests. Two batch sizes are measured and subtracted, so start-up,
the switch itself and the event loop's set-up cancel out and what remains is the cost of
one request. The machine's other work does not change the total, though it moves by up
to about 4% from one process to the next (memory layout): figures to compare before and
after a change, where wall-clock benchmarks on a shared machine wobble by 10% or more.
Needs ``valgrind`` (Debian's package).

A second table counts the requests ``make bench-served`` sends, through uvicorn's own HTTP
protocol in process (``loadtests/uvicorn_inprocess.py``: parsing, the scope, the task,
the response written), the served app of ``loadtests/served_app.py``. Beside the bare app
it counts floors: the cheapest wrapper of ``send``, one that adds the two response
headers daypart must add to an adapted page (``Vary`` and ``Cache-Control: private``), and
the least work serving daypart's decisions takes for a returning and a new visitor
(``loadtests/floors.py``), so what daypart itself costs on top of what any middleware
doing its job costs is visible.
The ratio of instructions to the bare app's is close to the ratio of served CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import uvloop

from loadtests import bench, floors, served_app, uvicorn_inprocess
from loadtests.bench_served import HEADERS, PATH
from loadtests.harness import ASGIApp, Scope, call

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

KINDS = {
    "bare": "bare Starlette app",
    "passthrough": "pass-through ASGI middleware",
    "returning": "daypart memory, returning visitors",
    "new": "daypart memory, new visitors",
}
SERVED_KINDS = {
    "served-bare": "bare Starlette app",
    "served-wrap": "a send wrapper (floor)",
    "served-headers": "+ Vary, Cache-Control (floor)",
    "served-floor-returning": "returning: the least work (floor)",
    "served-returning": "daypart, returning visitor",
    "served-floor-new": "new: the least work (floor)",
    "served-new": "daypart, new visitor",
}
SMALL, LARGE = 200, 1200
_COLLECTED = re.compile(r"Collected : (\d+)")


def _requests(kind: str) -> tuple[ASGIApp, list[Scope]]:
    app = bench.daypart("memory://")
    if kind == "new":
        return app, [bench.request(bench.DESKTOP, "tz=Europe/London") for _ in range(50)]
    scopes = bench.returning_visitors(app, 50)
    if kind == "bare":
        return bench.site(), scopes
    if kind == "passthrough":
        return bench.PassThrough(bench.site()), scopes
    return app, scopes


def _switch(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


def _served_inside(kind: str, count: int) -> None:
    """Runs under callgrind: ``make bench-served``'s request through uvicorn's protocol."""

    from loadtests.bench_served import PATH

    os.environ[served_app.APP_ENV] = (
        "daypart" if kind in ("served-returning", "served-new") else "bare"
    )
    app = served_app.build()
    headers = dict(HEADERS)
    if kind in ("served-returning", "served-floor-returning"):
        # the floor gets daypart's cookie too: the same request bytes to parse
        daypart = app if kind == "served-returning" else _daypart_app()
        headers["Cookie"] = asyncio.run(_first_cookie(daypart, headers))
    if kind == "served-floor-returning":
        app = floors.ReturningFloor(app)
    elif kind == "served-floor-new":
        app = floors.NewFloor(app)
    elif kind == "served-wrap":
        app = _wrapped(app, ())
    elif kind == "served-headers":
        app = _wrapped(app, PRIVATE_HEADERS)
    raw = uvicorn_inprocess.raw_request(PATH, headers)

    async def measured() -> None:
        await uvicorn_inprocess.per_request_us(app, raw, 600)
        _switch(True)
        await uvicorn_inprocess.per_request_us(app, raw, count)
        _switch(False)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(measured())


def _daypart_app() -> ASGIApp:
    previous = os.environ[served_app.APP_ENV]
    os.environ[served_app.APP_ENV] = "daypart"
    try:
        return served_app.build()
    finally:
        os.environ[served_app.APP_ENV] = previous


PRIVATE_HEADERS = (
    (b"vary", b"User-Agent, Sec-CH-UA-Mobile, Cookie"),
    (b"cache-control", b"private"),
)


def _wrapped(app: ASGIApp, added: tuple[tuple[bytes, bytes], ...]) -> ASGIApp:
    """``app`` behind the cheapest middleware that wraps ``send`` (adding ``added`` to the
    response's headers): what any middleware that changes responses costs."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        def sender(message: Message) -> Awaitable[None]:
            if added and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            return send(message)

        await app(scope, receive, sender)

    return wrapper


async def _first_cookie(app: ASGIApp, headers: dict[str, str]) -> str:
    """The visitor cookie a first request gets: a returning visitor replays it."""
    scope = call_scope(PATH, headers)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    for name, value in sent[0]["headers"]:
        if name == b"set-cookie":
            return str(value.decode("latin-1").split(";")[0])
    raise RuntimeError("the first request got no visitor cookie")


def call_scope(path: str, headers: dict[str, str]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _inside(kind: str, count: int) -> None:
    """Runs under callgrind: warm up, then ``count`` measured requests."""
    if kind in SERVED_KINDS:
        _served_inside(kind, count)
        return
    app, scopes = _requests(kind)

    async def run(n: int) -> None:
        for i in range(n):
            await call(app, scopes[i % len(scopes)])

    async def measured() -> None:
        await run(200)
        _switch(True)
        await run(count)
        _switch(False)

    asyncio.run(measured())


def _instructions(kind: str, count: int) -> int:
    result = subprocess.run(
        # A fixed hash seed: the same dict layouts run after run (the counts still move a
        # little with the memory layout).
        env={**os.environ, "PYTHONHASHSEED": "0"},
        args=[
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "loadtests.instructions",
            "--inside",
            kind,
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = _COLLECTED.search(result.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_request(kind: str) -> float:
    return (_instructions(kind, LARGE) - _instructions(kind, SMALL)) / (LARGE - SMALL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inside", nargs=2, metavar=("KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        _inside(args.inside[0], int(args.inside[1]))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 1
    for title, kinds in (
        ("request path (callgrind)", KINDS),
        ("served request, through uvicorn", SERVED_KINDS),
    ):
        figures = {kind: per_request(kind) for kind in kinds}
        bare = next(iter(figures.values()))
        print(f"{title:<40} {'instr/req':>10} {'added':>9} {'× bare':>7}")
        for kind, label in kinds.items():
            value = figures[kind]
            print(f"{label:<40} {value:10.0f} {value - bare:9.0f} {value / bare:7.2f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
