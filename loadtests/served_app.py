"""The apps ``make bench-served`` puts behind uvicorn, built from environment variables so
that each server process can import its own (``uvicorn --factory loadtests.served_app:build``).

``DAYPART_BENCH_APP`` picks the app: ``bare`` (the Starlette site of ``make bench``),
``passthrough`` (the same site behind the cheapest pure ASGI middleware), ``floor-returning``
and ``floor-new`` (behind the least work serving daypart's decisions takes,
``loadtests/floors.py``) or ``daypart``
(the same site behind ``AdaptiveMiddleware`` with ``loadtests/bench_rules.yaml``, the
memory store and a fixed secret). ``DAYPART_BENCH_MOMENT`` pins daypart's clock (epoch
seconds; default: the Tuesday evening ``make bench`` uses), so which rule matches does not
depend on when the benchmark runs.
"""

from __future__ import annotations

import os

from daypart.middleware import AdaptiveMiddleware
from loadtests.bench import MOMENT, RULES, PassThrough, site
from loadtests.floors import NewFloor, ReturningFloor
from loadtests.harness import ASGIApp

APP_ENV = "DAYPART_BENCH_APP"
MOMENT_ENV = "DAYPART_BENCH_MOMENT"
APPS = ("bare", "passthrough", "floor-returning", "floor-new", "daypart")
SECRET = "benchmark-secret-0123456789"


def build() -> ASGIApp:
    kind = os.environ.get(APP_ENV, "bare")
    if kind == "bare":
        return site()
    if kind == "passthrough":
        return PassThrough(site())
    if kind == "floor-returning":
        return ReturningFloor(site())
    if kind == "floor-new":
        return NewFloor(site())
    if kind == "daypart":
        moment = float(os.environ.get(MOMENT_ENV, MOMENT))
        return AdaptiveMiddleware(
            site(),
            rules=RULES,
            store="memory://",
            secret=SECRET,
            clock=lambda: moment,
            reload_interval=0,  # the rules file does not change during a benchmark
            evaluate_interval=None,  # no gates running in the middle of a round
        )
    raise ValueError(f"{APP_ENV}={kind!r}; expected one of {', '.join(APPS)}")
