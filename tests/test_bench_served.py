"""``make bench-served``'s profile reading: each sample is charged to the innermost part of
the serving path on its stack (the benchmark itself needs wrk and two cores, so it is run
by hand, not here)."""

from __future__ import annotations

import pytest

from loadtests.stack_profile import PARTS, parts, table

RUNNER = "_run_module_as_main (<frozen runpy>:198);Runner.run (asyncio/runners.py:118)"
CYCLE = "RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py:422)"
MIDDLEWARE = "AdaptiveMiddleware.__call__ (middleware/asgi.py:150)"
APP = "Starlette.__call__ (starlette/applications.py:107)"
SEND = "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:555)"
WRAPPER = "AdaptiveMiddleware._prepare.<locals>.send_wrapper (middleware/asgi.py:345)"
CLASSIFY = "AdaptiveMiddleware.classify (middleware/asgi.py:190)"

RAW = "\n".join(
    [
        f"{RUNNER};{CYCLE};{MIDDLEWARE};{APP};Router.app (starlette/routing.py:700) 4",
        f"{RUNNER};{CYCLE};{MIDDLEWARE};{APP};{WRAPPER};{SEND} 3",
        f"{RUNNER};{CYCLE};{MIDDLEWARE};{APP};{WRAPPER} 1",
        f"{RUNNER};{CYCLE};{MIDDLEWARE};{CLASSIFY} 1",
        f"{RUNNER} 1",
    ]
)


def test_each_sample_goes_to_the_innermost_part() -> None:
    shares, daypart_self, samples = parts(RAW)
    assert samples == 10
    assert shares == {
        "uvicorn send: headers + socket write": 0.3,
        "daypart send_wrapper (response headers)": 0.1,
        "daypart recorder + store (background)": 0.0,
        "the app (Starlette, route, response)": 0.4,
        "daypart request path (classify, decide)": 0.1,
        "pass-through middleware": 0.0,
        "uvicorn: parse, scope, task per request": 0.0,
        "event loop, sockets, rest": 0.1,
    }
    assert set(shares) == {name for name, _ in PARTS}
    assert daypart_self == {
        "AdaptiveMiddleware._prepare.<locals>.send_wrapper (middleware/asgi.py)": 0.1,
        "AdaptiveMiddleware.classify (middleware/asgi.py)": 0.1,
    }


def test_table_converts_shares_to_cpu_microseconds_per_request() -> None:
    text = table({"daypart": (RAW, 50.0)})
    assert "the app (Starlette, route, response)" in text
    row = next(line for line in text.splitlines() if "uvicorn send" in line)
    assert row.split()[-1] == "15.0"  # 30% of 50 µs


@pytest.mark.parametrize("raw", ["", "garbage without counts", "a;b notanumber"])
def test_unreadable_profiles_give_no_samples(raw: str) -> None:
    assert parts(raw)[2] == 0
