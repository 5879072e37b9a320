"""``make memory``: a worker's memory under hostile traffic, through a real uvicorn worker.

Starts one uvicorn worker (httptools, the site behind ``AdaptiveMiddleware`` with
``bench_rules.yaml``: every rule rewrites the path, one runs an experiment) against a
private redis-server, and sends ``--requests`` requests (default 1,000,000) in which
everything daypart could remember is new each time: the path (one in 100 is 2 KB, one in
1,000 is 60 KB), the User-Agent, the Cookie header (a forged visitor cookie, so every
request is a new visitor with an exposure to write), and the time-zone cookie (real zones,
unknown names, long junk). It prints the worker's resident memory (RSS, from /proc)
before, during and after, and the peak: what a flood of such requests can cost.

The client pipelines requests on a few keep-alive connections over raw sockets, so that
it is not the bottleneck; the run stops after ``--max-seconds`` in any case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from tests.redis_server import RedisServer, free_port

RULES = Path(__file__).with_name("bench_rules.yaml")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.{i}.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1 r/{i}",
    "Mozilla/5.0 (Linux; Android 14; SM-X710 Build/{i}) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/124.0.0.0 Safari/537.36",
)
ZONES = ("Europe/London", "Asia/Tokyo", "America/New_York", "Australia/Sydney", "UTC")
PIPELINE = 32  # requests written at once on a connection
CONNECTIONS = 4


# -- the worker's app -------------------------------------------------------------------------


async def site(scope: Any, receive: Any, send: Any) -> None:
    """An app that keeps nothing, so what grows is daypart's (and the server's)."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b"ok"
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app() -> Any:
    """The worker's app (``uvicorn --factory loadtests.memory:build_app``)."""
    from daypart.middleware import AdaptiveMiddleware

    return AdaptiveMiddleware(
        site,
        rules=os.environ.get("DAYPART_MEMORY_RULES", str(RULES)),
        store=os.environ["DAYPART_STORE"],
        secret="memory-test-secret-0123456789",
        evaluate_interval=None,
    )


# -- the traffic ------------------------------------------------------------------------------


LONG_EVERY = 1000  # one request in LONG_EVERY has a 60 KB path (--long-every)


def request(i: int, long_every: int = LONG_EVERY) -> bytes:
    if i % long_every == long_every - 1:
        path = f"/long/{i}/" + "a" * 60_000
    elif i % 100 == 99:
        path = f"/medium/{i}/" + "m" * 2_000
    else:
        path = f"/trips/{i}"
    agent = AGENTS[i % len(AGENTS)].format(i=i)
    if i % 10 == 0:
        zone = f"Mars/Base{i}"  # well-formed, unknown
    elif i % 10 == 1:
        zone = f"x{i}" + "z" * 300  # long junk
    else:
        zone = ZONES[i % len(ZONES)]
    forged = f"1.{i:016x}.AAAAAAAA:offer:d:evening.{i:022x}"  # fails to verify: new visitor
    padding = "; ".join(f"c{j}={i}" for j in range(i % 40))  # up to ~400 bytes of cookies
    cookie = f"tz={zone}; sid={i:x}; daypart={forged}; {padding}"
    return (
        f"GET {path} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {agent}\r\n"
        f"Cookie: {cookie}\r\nAccept: text/html\r\n\r\n"
    ).encode("latin-1")


async def connection(
    host: str, port: int, requests: Iterator[bytes], statuses: Counter[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        while batch := list(islice(requests, PIPELINE)):
            writer.write(b"".join(batch))
            await writer.drain()
            for _ in batch:
                head = await reader.readuntil(b"\r\n\r\n")
                statuses[int(head[9:12])] += 1
                lower = head.lower()
                at = lower.index(b"content-length:") + len(b"content-length:")
                length = int(lower[at : lower.index(b"\r\n", at)])
                await reader.readexactly(length)
    finally:
        writer.close()


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process, in KiB (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def drive(
    port: int, pid: int, total: int, max_seconds: float, long_every: int
) -> tuple[int, Counter[int]]:
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    sent = 0
    step = max(total // 10, 1)

    def report(label: str) -> None:
        rss, peak = rss_kib(pid)
        rate = sent / max(time.monotonic() - started, 1e-9)
        print(
            f"{label:<12} {sent:>10,} requests  RSS {rss / 1024:8.1f} MiB  "
            f"peak {peak / 1024:8.1f} MiB  ({rate:,.0f} req/s)",
            flush=True,
        )

    while sent < total and time.monotonic() - started < max_seconds:
        chunk = min(step, total - sent)
        numbers = iter(range(sent, sent + chunk))
        requests = (request(i, long_every) for i in numbers)
        await asyncio.gather(
            *(connection("127.0.0.1", port, requests, statuses) for _ in range(CONNECTIONS))
        )
        sent += chunk
        report("during")
    return sent, statuses


def wait_until_up(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the worker did not come up")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--warm-up", type=int, default=2_000)
    parser.add_argument(
        "--long-every", type=int, default=LONG_EVERY, help="one request in N has a 60 KB path"
    )
    args = parser.parse_args(argv)
    redis = RedisServer()
    redis.start()
    port = free_port()
    env = {**os.environ, "DAYPART_STORE": redis.url}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "loadtests.memory:build_app",
        "--port",
        str(port),
        "--http",
        "httptools",  # uvicorn's production parser: it takes 60 KB paths
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with tempfile.TemporaryDirectory() as cwd:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        )
        worker = subprocess.Popen(command, env=env, cwd=cwd)
        try:
            wait_until_up(port, worker)
            start, _ = rss_kib(worker.pid)
            print(f"{'at start':<12} {0:>10,} requests  RSS {start / 1024:8.1f} MiB")
            asyncio.run(drive_warm_up(port, args.warm_up))
            before, _ = rss_kib(worker.pid)
            print(
                f"{'before':<12} {0:>10,} requests  RSS {before / 1024:8.1f} MiB  (after warm-up)"
            )
            started = time.monotonic()
            sent, statuses = asyncio.run(
                drive(port, worker.pid, args.requests, args.max_seconds, max(1, args.long_every))
            )
            seconds = time.monotonic() - started
            time.sleep(2.0)  # the recorder's last batches
            after, peak = rss_kib(worker.pid)
            print(
                f"{'after':<12} {sent:>10,} requests  RSS {after / 1024:8.1f} MiB  "
                f"peak {peak / 1024:8.1f} MiB"
            )
            print(
                f"\ngrowth {(after - before) / 1024:.1f} MiB after, {(peak - before) / 1024:.1f} "
                f"MiB at the peak, for {sent:,} requests in {seconds:.0f} s "
                f"({(after - start) / 1024:.1f} MiB since start, warm-up included); "
                f"statuses {dict(statuses)}"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis.cleanup()
    return 0


async def drive_warm_up(port: int, count: int) -> None:
    statuses: Counter[int] = Counter()
    numbers = (request(10_000_000 + i) for i in range(count))
    await asyncio.gather(*(connection("127.0.0.1", port, numbers, statuses) for _ in range(2)))


if __name__ == "__main__":
    sys.exit(main())
