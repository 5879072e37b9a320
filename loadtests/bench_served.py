"""``make bench-served``: daypart's cost behind a real server, beside the in-process figures.

uvicorn (uvloop event loop, httptools parser) runs ONE worker pinned to one core
(``taskset``); wrk, pinned to the other core, keeps it saturated over keep-alive
connections, so requests per second measure the server core's cost per request. The
cases run in alternating rounds (bare, pass-through, daypart returning, daypart new,
bare, ...) and the medians are reported, with the ratio to the bare app and wrk's p50 and
p99 latency. Each server keeps running across rounds; each has a warm-up run first.

* bare: the Starlette site of ``make bench``;
* pass-through: the same site behind the cheapest pure ASGI middleware;
* daypart: the same site behind ``AdaptiveMiddleware`` (``loadtests/bench_rules.yaml``,
  ``store=memory://``, a fixed secret, the clock pinned to a Tuesday evening) where an
  iPhone on ``/trips/lisbon`` falls to the ``everyone`` rule and its experiment (100%
  traffic). A *returning* visitor replays one signed cookie, got from a first request; a
  *new* visitor sends none, so every request enrols a visitor, buffers an exposure and
  signs a cookie. bare and pass-through get the returning visitor's request.

"CPU µs" is the server's CPU time per request, the figure that other work on the server's
core (a shared machine) disturbs least; "server" is the share of its core the server got
(≈100% when nothing else runs there) and "wrk" the generator's share of its own core:
well below 100% means wrk was not the bottleneck.

The second table runs the same requests in process, pinned to the server's core and timed
in thread CPU time: through uvicorn's own protocol without sockets
(``loadtests/uvicorn_inprocess.py``), and calling the app directly as ``make bench`` does.
Its "added" rows compare like with like. ``--profile DIR`` also samples the server with
py-spy during one extra round per case and prints where the time goes
(``loadtests/stack_profile.py``).

The machine running this is usually shared: treat figures as preliminary unless both
cores were otherwise idle.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests import uvicorn_inprocess
from loadtests.bench import MOBILE, request
from loadtests.harness import ASGIApp, Collector, Scope
from loadtests.served_app import APP_ENV, build
from loadtests.stack_profile import table as stack_table

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_name("bench_served.lua")
PATH = "/trips/lisbon"
HEADERS = {
    "User-Agent": MOBILE,
    "Accept": "text/html,application/xhtml+xml",
    "Accept-Language": "en-GB,en;q=0.9",
    "Accept-Encoding": "gzip, br",
}
READY_SECONDS = 30.0


@dataclass(frozen=True)
class Case:
    label: str
    app: str
    returning: bool


CASES = (
    Case("bare Starlette app", "bare", returning=True),
    Case("pass-through ASGI middleware", "passthrough", returning=True),
    # The least work serving a decision takes (loadtests/floors.py): no Python middleware
    # doing daypart's job can be faster, so these rows bound what the targets can ask.
    Case("returning: least work (floor)", "floor-returning", returning=True),
    Case("daypart, returning visitor", "daypart", returning=True),
    Case("new: least work (floor)", "floor-new", returning=False),
    Case("daypart, new visitor", "daypart", returning=False),
)


@dataclass(frozen=True)
class Round:
    rps: float
    cpu_us: float  # server CPU time per request: robust to other work on the server's core
    p50_ms: float
    p99_ms: float
    server_cpu: float  # share of one core
    wrk_cpu: float
    errors: int


class Server:
    """One uvicorn worker serving ``app``, pinned to ``core``."""

    def __init__(self, app: str, core: str) -> None:
        self.app = app
        self.port = _free_port()
        env = dict(os.environ, **{APP_ENV: app})
        command = [
            *("taskset", "-c", core),
            *(sys.executable, "-m", "uvicorn", "loadtests.served_app:build", "--factory"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--loop", "uvloop", "--http", "httptools", "--lifespan", "on"),
            *("--no-access-log", "--log-level", "warning"),
        ]
        # taskset execs the server, so this pid is the worker's own.
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the {self.app} server exited at start-up:\n{error}")
            try:
                status, _ = self.get(HEADERS)
            except OSError:
                time.sleep(0.1)
                continue
            if status == 200:
                return
            raise RuntimeError(f"the {self.app} server answered {status} on {PATH}")
        raise RuntimeError(f"the {self.app} server was not ready in {READY_SECONDS:.0f} s")

    def get(self, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", PATH, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status, response.getheaders()
        finally:
            connection.close()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def returning_cookie(server: Server) -> str:
    """The visitor cookie of a first visit (``daypart=...``), to replay."""
    status, headers = server.get(HEADERS)
    cookies = [value.split(";", 1)[0] for name, value in headers if name.lower() == "set-cookie"]
    if status != 200 or len(cookies) != 1:
        raise RuntimeError(f"first visit: status {status}, cookies {cookies}; expected one")
    return cookies[0]


def check(server: Server, headers: dict[str, str], returning: bool) -> None:
    """The case does what it says: a returning visitor is in the experiment already (no new
    cookie), a new one is enrolled (a cookie)."""
    status, answer = server.get(headers)
    sets_cookie = any(name.lower() == "set-cookie" for name, _ in answer)
    if status != 200 or (server.app == "daypart" and sets_cookie == returning):
        raise RuntimeError(
            f"{server.app}, {'returning' if returning else 'new'} visitor: status {status}, "
            f"set-cookie {sets_cookie}"
        )


def run_wrk(
    server: Server, headers: dict[str, str], seconds: int, connections: int, core: str
) -> Round:
    command = [
        *("taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"),
        *("-s", str(LUA), f"http://127.0.0.1:{server.port}{PATH}", "--"),
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert wrk.stdout is not None
    with wrk.stdout:
        out = wrk.stdout.read()  # wrk prints a few lines, at the end
    # Reaped by hand to get wrk's own CPU time, which a plain wait() throws away.
    _, status, usage = os.wait4(wrk.pid, 0)
    wrk.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    server_seconds = server.cpu_seconds() - cpu_before
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if wrk.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({wrk.returncode}):\n{out}")
    summary = json.loads(lines[-1])
    duration = summary["duration_us"] / 1e6
    return Round(
        rps=summary["requests"] / duration,
        cpu_us=server_seconds / max(summary["requests"], 1) * 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        server_cpu=server_seconds / wall,
        wrk_cpu=(usage.ru_utime + usage.ru_stime) / wall,
        errors=summary["socket_errors"] + summary["status_errors"],
    )


async def _receive() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _harness_us(app: ASGIApp, scope: Scope, rounds: int = 7, count: int = 3000) -> float:
    """``make bench``'s way (the app called directly, no server), timed in thread CPU time
    so that other work on a shared core does not count."""

    async def run() -> float:
        send = Collector()
        timings = []
        for index in range(rounds + 1):
            started = time.thread_time()
            for _ in range(count):
                await app(dict(scope), _receive, send)
            if index:  # the first round warms up
                timings.append((time.thread_time() - started) / count * 1e6)
        return statistics.median(timings)

    return asyncio.run(run())


def in_process_us(
    headers: dict[Case, dict[str, str]], cookie: str, core: str
) -> dict[str, dict[str, float]]:
    """µs per request of the same requests in this process, on the server's core: through
    uvicorn's protocol without sockets, and through ``make bench``'s bare harness."""
    apps: dict[str, ASGIApp] = {}
    for case in CASES:
        os.environ[APP_ENV] = case.app
        apps.setdefault(case.app, build())
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(core)})
    try:
        through_uvicorn = uvicorn_inprocess.measure(
            {
                case.label: (apps[case.app], uvicorn_inprocess.raw_request(PATH, headers[case]))
                for case in CASES
            }
        )
        harness = {
            case.label: _harness_us(
                apps[case.app], request(MOBILE, cookie if case.returning else None, PATH)
            )
            for case in CASES
        }
    finally:
        os.sched_setaffinity(0, pinned)
    return {"uvicorn, no sockets": through_uvicorn, "make bench harness": harness}


def _missing_tools() -> str | None:
    if shutil.which("wrk") is None:
        return (
            "wrk (the HTTP load generator) is not installed: `apt-get install wrk` on "
            "Debian/Ubuntu, `brew install wrk` on macOS"
        )
    if shutil.which("taskset") is None:
        return "taskset is not installed: `apt-get install util-linux`"
    return None


def _table(medians: dict[str, Round], rounds: dict[str, list[Round]]) -> str:
    bare = medians[CASES[0].label]
    lines = [
        f"{'served, medians of rounds':<30}{'req/s':>7}{'× bare':>7}{'CPU µs':>8}{'× bare':>7}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'server':>8}{'wrk':>6}{'req/s min-max':>16}"
    ]
    for case in CASES:
        m, runs = medians[case.label], rounds[case.label]
        spread = f"{min(r.rps for r in runs):.0f}-{max(r.rps for r in runs):.0f}"
        lines.append(
            f"{case.label:<30}{m.rps:>7.0f}{m.rps / bare.rps:>7.2f}"
            f"{m.cpu_us:>8.1f}{bare.cpu_us / m.cpu_us:>7.2f}"
            f"{m.p50_ms:>8.2f}{m.p99_ms:>8.2f}{m.server_cpu:>8.0%}{m.wrk_cpu:>6.0%}{spread:>16}"
        )
    errors = sum(r.errors for runs in rounds.values() for r in runs)
    if errors:
        lines.append(f"wrk reported {errors} socket or HTTP errors")
    return "\n".join(lines)


def _added_table(medians: dict[str, Round], in_process: dict[str, dict[str, float]]) -> str:
    """CPU µs per request each way of running, and what each app adds to the bare one."""
    columns = {"served (CPU)": {label: m.cpu_us for label, m in medians.items()}, **in_process}
    width = max(len(name) for name in columns) + 2
    lines = [f"{'µs per request, same requests':<30}" + "".join(n.rjust(width) for n in columns)]
    for case in CASES:
        cells = "".join(f"{column[case.label]:.1f}".rjust(width) for column in columns.values())
        lines.append(f"{case.label:<30}{cells}")
    lines.append("added to the bare app")
    for case in CASES[1:]:
        cells = "".join(
            f"{column[case.label] - column[CASES[0].label]:+.1f}".rjust(width)
            for column in columns.values()
        )
        lines.append(f"  {case.label:<28}{cells}")
    return "\n".join(lines)


def _median_round(rounds: Sequence[Round]) -> Round:
    return Round(
        rps=statistics.median(r.rps for r in rounds),
        cpu_us=statistics.median(r.cpu_us for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        server_cpu=statistics.median(r.server_cpu for r in rounds),
        wrk_cpu=statistics.median(r.wrk_cpu for r in rounds),
        errors=sum(r.errors for r in rounds),
    )


def _profile(
    servers: dict[str, Server],
    headers: dict[Case, dict[str, str]],
    args: argparse.Namespace,
) -> None:
    # Installed beside this interpreter (the venv's bin/, not always on PATH), or on PATH.
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("\n(no profile: py-spy is not installed; `pip install py-spy`, in the load extra)")
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    profiles: dict[str, tuple[str, float]] = {}
    seconds = max(args.seconds, 3)
    for case in CASES:
        server = servers[case.app]
        name = case.app if case.app != "daypart" else f"daypart-{_visitor(case)}"
        output = args.profile / f"{name}.txt"
        # Blocking samples (the worker pauses for each): without pausing, py-spy reads
        # stacks while they change and reports frames that never called each other.
        record = [
            *("taskset", "-c", args.load_core, spy, "record", "--pid", str(server.process.pid)),
            *("--rate", "250", "--duration", str(seconds), "--format", "raw"),
            *("--output", str(output)),
        ]
        profiler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # attached before the load starts
        measured = run_wrk(server, headers[case], seconds, args.connections, args.load_core)
        _, err = profiler.communicate(timeout=seconds + 30)
        if profiler.returncode != 0 or not output.exists():
            print(f"\n(py-spy failed on {case.label}: {err.decode().strip()[-300:]})")
            return
        profiles[name] = (output.read_text(), measured.cpu_us)
    print(
        f"\nprofiles (py-spy, {seconds} s per case, raw stacks in {args.profile}; single "
        "functions can be misattributed, see loadtests/stack_profile.py):"
    )
    print(stack_table(profiles))


def _visitor(case: Case) -> str:
    return "returning" if case.returning else "new"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_served",
        description="Served throughput: uvicorn + one worker, wrk, alternating rounds.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per case (default 5)")
    # wrk takes whole seconds only.
    parser.add_argument("--seconds", type=int, default=8, help="seconds per round (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per case")
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        # Enough requests in flight that the server keeps working while wrk, on a shared
        # core, is briefly descheduled.
        help="wrk keep-alive connections (default 64)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 1 s")
    parser.add_argument("--server-core", default="0", help="core for the server (taskset)")
    parser.add_argument("--load-core", default="1", help="core for wrk and py-spy")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="also profile (py-spy)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 1, 1
    missing = _missing_tools()
    if missing:
        print(f"bench_served: {missing}", file=sys.stderr)
        return 2
    if args.server_core == args.load_core or len(os.sched_getaffinity(0)) < 2:
        print("bench_served: needs two cores, one for the server and one for wrk", file=sys.stderr)
        return 2

    servers: dict[str, Server] = {}
    try:
        for app in dict.fromkeys(case.app for case in CASES):
            servers[app] = Server(app, args.server_core)
        cookie = returning_cookie(servers["daypart"])
        headers = {
            case: dict(HEADERS, Cookie=cookie) if case.returning else dict(HEADERS)
            for case in CASES
        }
        for case in CASES:
            check(servers[case.app], headers[case], case.returning)
            run_wrk(servers[case.app], headers[case], args.warmup, args.connections, args.load_core)
        rounds: dict[str, list[Round]] = {case.label: [] for case in CASES}
        for _ in range(args.rounds):
            for case in CASES:
                rounds[case.label].append(
                    run_wrk(
                        servers[case.app],
                        headers[case],
                        args.seconds,
                        args.connections,
                        args.load_core,
                    )
                )
        medians = {label: _median_round(rs) for label, rs in rounds.items()}
        print(
            f"served: uvicorn (uvloop, httptools), 1 worker on core {args.server_core}; "
            f"wrk on core {args.load_core}, 1 thread, {args.connections} connections; "
            f"GET {PATH} as an iPhone; {args.rounds} round(s) × {args.seconds} s, alternating"
        )
        print(_table(medians, rounds))
        print()
        print(_added_table(medians, in_process_us(headers, cookie, args.server_core)))
        if args.profile:
            _profile(servers, headers, args)
    finally:
        for server in servers.values():
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
