"""What ``device_class`` costs: a never-seen User-Agent (cold), a cached one (warm), and
``user_agents.parse`` on the same strings for comparison.

Cold figures time every UA on its own, with the cache cleared before each pass; a UA's
cost is its median over the passes (the machine is shared, so single samples are noisy),
and the mean and median are then taken over UAs. The UAs are the distinct strings of the
labelled corpus (``--corpus PATH``, ``$DAYPART_UA_CORPUS``, or ``../shared/data/ua/devices.tsv``
beside the checkout; see ``loadtests/ua_corpus.py``), or synthesised distinct ones when it is
absent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import user_agents
from ua_parser import user_agent_parser

from daypart.rules.device import device_class
from loadtests.ua_corpus import add_corpus_argument, corpus_path

MIN_AGENTS = 1000

_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{build}.{patch} Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{patch} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{major}.0 Mobile/15E{build} Safari/604.1",
    "Mozilla/5.0 (Linux; Android {patch}; SM-T{build}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android {patch}; Pixel {major}) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/{major}.0.{build}.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; ExampleBot/{major}.{patch}; +https://example.com/bot/{build})",
)


def synthetic_agents(count: int = MIN_AGENTS) -> list[str]:
    """``count`` distinct UAs of every class, for when the data file is not there."""
    return [
        _TEMPLATES[i % len(_TEMPLATES)].format(major=80 + i % 40, build=1000 + i, patch=i % 13 + 1)
        for i in range(count)
    ]


def agents(path: Path | None = None) -> list[str]:
    path = corpus_path(path)
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        found = list(dict.fromkeys(line.split("\t", 1)[1] for line in lines if "\t" in line))
        if len(found) >= MIN_AGENTS:
            return found
    return synthetic_agents()


def _per_call_us(agents: Sequence[str], call: Callable[[str], object]) -> list[float]:
    costs = []
    clock = time.perf_counter_ns
    for agent in agents:
        started = clock()
        call(agent)
        costs.append((clock() - started) / 1000)
    return costs


def _cold(agents: Sequence[str], passes: int) -> list[float]:
    runs = []
    for _ in range(passes):
        device_class.cache_clear()  # type: ignore[attr-defined]
        runs.append(_per_call_us(agents, device_class))
    return [statistics.median(costs) for costs in zip(*runs, strict=True)]


def _warm(agents: Sequence[str], calls: int, headers: dict[str, str] | None) -> float:
    hot = list(agents[:100])
    for agent in hot:
        device_class(agent, headers)
    rounds = max(calls // len(hot), 1)
    started = time.perf_counter()
    for _ in range(rounds):
        for agent in hot:
            device_class(agent, headers)
    return (time.perf_counter() - started) / (rounds * len(hot)) * 1e6


def _user_agents_parse(agent: str) -> None:
    user_agent_parser._PARSE_CACHE.clear()  # its own small cache would hide the cost
    user_agents.parse(agent)


def measure(
    path: Path | None = None,
    passes: int = 3,
    warm_calls: int = 200_000,
    baseline_agents: int = 1000,
) -> dict[str, float]:
    """Figures in µs per UA or per call, plus ``speedup`` (user_agents.parse / cold mean)."""
    found = agents(path)
    device_class("Mozilla/5.0 (warm-up)")  # builds the resolver: a one-off at start-up
    cold = _cold(found, passes)
    baseline = _per_call_us(found[:baseline_agents], _user_agents_parse)
    figures = {
        "agents": float(len(found)),
        "cold_mean_us": statistics.fmean(cold),
        "cold_median_us": statistics.median(cold),
        "cold_p99_us": statistics.quantiles(cold, n=100)[98],
        "warm_us": _warm(found, warm_calls, None),
        "warm_with_hint_us": _warm(found, warm_calls, {"sec-ch-ua-mobile": "?0"}),
        "user_agents_parse_mean_us": statistics.fmean(baseline),
        "user_agents_parse_median_us": statistics.median(baseline),
    }
    figures["speedup"] = figures["user_agents_parse_mean_us"] / figures["cold_mean_us"]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_device")
    add_corpus_argument(parser)
    parser.add_argument("--passes", type=int, default=3, help="cold passes (default: 3)")
    args = parser.parse_args(argv)
    path = corpus_path(args.corpus)
    source = path if path.is_file() else f"synthetic UAs (no corpus at {path})"
    figures = measure(path, passes=args.passes)
    print(f"device_class cost, {int(figures['agents'])} distinct UAs from {source}")
    rows = [
        ("cold UA, mean", figures["cold_mean_us"]),
        ("cold UA, median", figures["cold_median_us"]),
        ("cold UA, p99", figures["cold_p99_us"]),
        ("warm UA (cached), per call", figures["warm_us"]),
        ("warm UA with Sec-CH-UA-Mobile, per call", figures["warm_with_hint_us"]),
        ("user_agents.parse, mean", figures["user_agents_parse_mean_us"]),
        ("user_agents.parse, median", figures["user_agents_parse_median_us"]),
    ]
    for title, value in rows:
        print(f"  {title:<42}{value:>10.2f} µs")
    print(f"  {'user_agents.parse / cold device_class':<42}{figures['speedup']:>10.1f} ×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
