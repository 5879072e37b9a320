"""Requests through uvicorn's own HTTP protocol in this process: no sockets, no kernel.

Each request is fed as raw bytes to the httptools protocol uvicorn serves with, which parses
it, builds the scope, runs the app in a task of its own (behind uvicorn's proxy-headers
middleware) and writes the response to a transport that only counts bytes. What is left out
next to a real server is the kernel's socket work and the wait for I/O, the same for every
app. The cost is the thread's CPU time, so other work on a shared core barely moves it:
differences between apps here are measurable where served req/s are too noisy.

It leans on uvicorn's internal classes (``HttpToolsProtocol``, ``ServerState``): a uvicorn
release that changes them breaks this benchmark, not daypart.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from loadtests.harness import ASGIApp


class _CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return addresses.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def raw_request(path: str, headers: Mapping[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1:8000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def per_request_us(app: ASGIApp, request: bytes, count: int) -> float:
    """Thread CPU µs per request over ``count`` keep-alive requests on one connection."""
    config = Config(app, http="httptools", lifespan="off", access_log=False, log_level="warning")
    config.load()
    state = ServerState()
    protocol = HttpToolsProtocol(config=config, server_state=state, app_state={})
    protocol.connection_made(_CountingTransport())
    started = time.thread_time()
    for _ in range(count):
        protocol.data_received(request)
        (task,) = state.tasks  # the request's own task, as uvicorn runs it
        await task
    return (time.thread_time() - started) / count * 1e6


def measure(
    cases: Mapping[str, tuple[ASGIApp, bytes]], rounds: int = 7, count: int = 3000
) -> dict[str, float]:
    """Median thread CPU µs per request of each case, over alternating rounds."""

    async def run() -> dict[str, float]:
        for app, request in cases.values():  # warm-up: first caches, imports
            await per_request_us(app, request, 200)
        timings: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(rounds):
            for label, (app, request) in cases.items():
                timings[label].append(await per_request_us(app, request, count))
        return {label: statistics.median(values) for label, values in timings.items()}

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run())
