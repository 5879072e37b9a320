"""``make bench-instructions``: the request path's cost in CPU instructions, which do not
depend on what else the machine is doing.

Each kind of request runs in its own Python process under valgrind's callgrind with
instrumentation off during imports and warm-up; it is switched on (``callgrind_control
-i on``) for a batch of requests. Two batch sizes are measured and subtracted, so start-up,
the switch itself and the event loop's set-up cancel out and what remains is the cost of
one request. The same total twice in a row on a quiet or a busy machine: figures to
compare before and after a change, where wall-clock benchmarks on a shared machine wobble
by 10% or more. Needs ``valgrind`` (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence

from loadtests import bench
from loadtests.harness import ASGIApp, Scope, call

KINDS = {
    "bare": "bare Starlette app",
    "passthrough": "pass-through ASGI middleware",
    "returning": "daypart memory, returning visitors",
    "new": "daypart memory, new visitors",
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


def _inside(kind: str, count: int) -> None:
    """Runs under callgrind: warm up, then ``count`` measured requests."""
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
        [
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
    figures = {kind: per_request(kind) for kind in KINDS}
    bare = figures["bare"]
    print(f"{'request path (callgrind)':<40} {'instr/req':>10} {'added':>9} {'× bare':>7}")
    for kind, label in KINDS.items():
        value = figures[kind]
        print(f"{label:<40} {value:10.0f} {value - bare:9.0f} {value / bare:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
