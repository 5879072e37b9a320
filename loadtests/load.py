"""``make load``: the demo site behind the middleware under a locust load, end to end.

Starts ``daypart demo`` (uvicorn) on a free port — with the store given by ``--store``
(default: a private redis-server, so the figure includes real Redis writes) — runs
locust headless against it for ``--seconds``, prints requests per second and latency
percentiles from locust's own statistics, then checks the health endpoint: no record
may have been dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.redis_server import RedisServer, free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def wait_until_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_daypart/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--store", default=None, help="default: a private redis-server")
    args = parser.parse_args(argv)
    redis = None
    store = args.store
    if store is None:
        redis = RedisServer()
        redis.start()
        store = redis.url
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAYPART_STORE": store, "DAYPART_ADMIN_TOKEN": "load"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daypart.middleware.tools.cli", "demo", "--port", str(port)], env=env
    )
    try:
        wait_until_up(url)
        with tempfile.TemporaryDirectory() as out:
            prefix = str(Path(out) / "load")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(LOCUSTFILE),
                    "--headless",
                    "-u",
                    str(args.users),
                    "-r",
                    str(max(1, args.users // 5)),
                    "-t",
                    f"{args.seconds}s",
                    "--host",
                    url,
                    "--csv",
                    prefix,
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                check=False,
            )
            with open(f"{prefix}_stats.csv", newline="") as handle:
                rows = list(csv.DictReader(handle))
        time.sleep(1.0)  # one flush interval and more, so "pending" has drained
        with urllib.request.urlopen(f"{url}/_daypart/health", timeout=5) as response:
            health = json.load(response)
    finally:
        server.terminate()
        server.wait(timeout=20)
        if redis is not None:
            redis.cleanup()
    print(f"\nlocust, {args.users} users, {args.seconds} s, store {store.split(':')[0]}:")
    print(f"{'request':<12} {'count':>8} {'fail':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for row in rows:
        print(
            f"{row['Name']:<12} {row['Request Count']:>8} {row['Failure Count']:>6} "
            f"{float(row['Requests/s']):8.1f} {row['50%']:>8} {row['95%']:>8}"
        )
    print(f"recorder after the run: {json.dumps(health['recorder'])}")
    failures = sum(int(row["Failure Count"]) for row in rows if row["Name"] == "Aggregated")
    return 1 if failures or health["recorder"]["dropped"] else 0


if __name__ == "__main__":
    sys.exit(main())
