"""``python -m loadtests.bench_stats``: what the statistics cost.

The workload is the one the design budgets for (docs/design.md, Statistics): 20
experiments × 4 arms × 12 segments (3 devices × 4 dayparts), every report pooled + per
segment (20 × 13 analyses of 4 arms), with the sample-ratio check, the gates and revenue
per visitor (the goal carries values).
Counts are seeded and realistic: a few hundred to twenty thousand visitors per cell.
The same reports once more with every cell's visitors spread over five channels (the
rules' ``site.channels``): pooled, per segment, per channel and per segment × channel.

Every figure is the median of several rounds, each computed from scratch: the analysis
cache (``daypart.experiments.stats.results``) is cleared before every round and every
single ``analyze`` call, so repeats measure the computation, not a dictionary lookup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from daypart.experiments.report import ReportInput, report_from_counts, reports_from_counts
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.experiments.stats.conversion import clear_cache
from daypart.experiments.store.base import Cell, ExperimentCounts
from daypart.rules.model import Arm, Experiment, Gates, Stage

EXPERIMENTS = 20
ARMS = 4
DEVICES = ("mobile", "tablet", "desktop")
DAYPARTS = ("train_home", "evening", "night", "other")
GOAL = "booked"
NOW = 1_700_000_000.0
BUDGET_MS = 50.0


def workload(seed: int = 7) -> list[tuple[Experiment, ExperimentCounts, RolloutState]]:
    rng = np.random.default_rng(seed)
    rollout = (Stage(traffic=0.05), Stage(traffic=0.25), Stage(traffic=0.5), Stage())
    gates = Gates(min_stage_seconds=3600.0)
    state = RolloutState(stage=2, status="running", since=NOW - 3 * 86400.0, version=3)
    out = []
    for e in range(EXPERIMENTS):
        arms = tuple(Arm(f"arm{i}" if i else "control", f"variant{i}") for i in range(ARMS))
        experiment = Experiment(f"experiment-{e:02d}", arms, GOAL, rollout=rollout, gates=gates)
        base = rng.uniform(0.02, 0.10)
        lift = np.concatenate([[1.0], rng.uniform(0.9, 1.15, ARMS - 1)])
        cells: dict[tuple[str, str, str, str], Cell] = {}
        for device in DEVICES:
            for daypart in DAYPARTS:
                size = int(rng.integers(300, 20_000))
                for arm, factor in zip(arms, lift, strict=True):
                    visitors = int(rng.binomial(size, 1 / ARMS) * 1)
                    conversions = int(rng.binomial(visitors, min(base * factor, 1.0)))
                    values = rng.lognormal(4.0, 0.6, conversions)
                    cells[(arm.name, device, daypart, "")] = Cell(
                        exposures=visitors,
                        conversions={GOAL: conversions},
                        revenue={GOAL: float(values.sum())},
                        revenue_sq={GOAL: float((values * values).sum())},
                    )
        out.append((experiment, ExperimentCounts(experiment.name, cells), state))
    return out


CHANNELS = ("newsletter", "ads", "callcenter", "other", "direct")


def with_channels(counts: ExperimentCounts) -> ExperimentCounts:
    """The same visitors, each cell spread evenly over ``CHANNELS``."""
    share = len(CHANNELS)
    cells: dict[tuple[str, str, str, str], Cell] = {}
    for (arm, device, daypart, _), cell in counts.cells.items():
        for channel in CHANNELS:
            cells[(arm, device, daypart, channel)] = Cell(
                exposures=cell.exposures // share,
                conversions={g: n // share for g, n in cell.conversions.items()},
                revenue={g: v / share for g, v in cell.revenue.items()},
                revenue_sq={g: v / share for g, v in cell.revenue_sq.items()},
            )
    return ExperimentCounts(counts.experiment, cells)


def _median_ms(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        clear_cache()
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def _median_us_per_call(arms: list[list[tuple[int, int]]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        elapsed = 0.0
        for problem in arms:
            clear_cache()
            started = time.perf_counter()
            analyze(problem)
            elapsed += time.perf_counter() - started
        times.append(elapsed / len(arms) * 1e6)
    return statistics.median(times)


def measure(rounds: int = 9) -> dict[str, float]:
    """Median milliseconds for the full report workload, and microseconds per analysis.

    ``report_ms``: one ``report_from_counts`` call per experiment, as ``build_report``
    does for a detail page. ``report_batch_ms``: the same reports from one
    ``reports_from_counts`` call, as ``build_reports`` does for the board, the JSON list
    and the CSV export. ``*_json_ms``: including ``to_dict()`` and ``json.dumps``."""
    load = workload()
    sources = [ReportInput(experiment, counts, state) for experiment, counts, state in load]

    def each() -> list[object]:
        return [report_from_counts(e, c, s, NOW) for e, c, s in load]

    def batch() -> list[object]:
        return list(reports_from_counts(sources, NOW))

    def batch_json() -> None:
        json.dumps([report.to_dict() for report in reports_from_counts(sources, NOW)])

    split = [ReportInput(s.experiment, with_channels(s.counts), s.state) for s in sources]

    def batch_channels() -> list[object]:
        return list(reports_from_counts(split, NOW))

    each()  # warm up imports and allocator
    rng = np.random.default_rng(11)
    two = [[(int(c), 10_000) for c in rng.integers(400, 600, 2)] for _ in range(50)]
    four = [[(int(c), 10_000) for c in rng.integers(400, 600, 4)] for _ in range(50)]
    return {
        "report_ms": _median_ms(each, rounds),
        "report_batch_ms": _median_ms(batch, rounds),
        "report_batch_json_ms": _median_ms(batch_json, rounds),
        "report_batch_channels_ms": _median_ms(batch_channels, rounds),
        "analyze_2_arms_us": _median_us_per_call(two, rounds),
        "analyze_4_arms_us": _median_us_per_call(four, rounds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.rounds)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    analyses = EXPERIMENTS * (len(DEVICES) * len(DAYPARTS) + 1)
    print(
        f"full report, {EXPERIMENTS} experiments × {ARMS} arms × "
        f"{len(DEVICES) * len(DAYPARTS)} segments ({analyses} analyses + SRM + gates + revenue):"
    )
    for key, label in (
        ("report_ms", "report_from_counts × 20"),
        ("report_batch_ms", "reports_from_counts (one call)"),
    ):
        verdict = "within" if figures[key] <= BUDGET_MS else "OVER"
        print(f"  {label:32s} {figures[key]:6.1f} ms  ({verdict} the {BUDGET_MS:.0f} ms budget)")
    print(f"  {'the same + to_dict + json.dumps':32s} {figures['report_batch_json_ms']:6.1f} ms")
    cells = len(DEVICES) * len(DAYPARTS) * len(CHANNELS)
    print(
        f"  {'the same, 5 channels':32s} {figures['report_batch_channels_ms']:6.1f} ms  "
        f"({EXPERIMENTS * (1 + len(DEVICES) * len(DAYPARTS) + len(CHANNELS) + cells)} analyses)"
    )
    print(f"analyze, 2 arms                    {figures['analyze_2_arms_us']:6.0f} µs per call")
    print(f"analyze, 4 arms                    {figures['analyze_4_arms_us']:6.0f} µs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
