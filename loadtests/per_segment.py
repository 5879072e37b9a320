"""``make simulate``'s per-segment scenarios: how often do gates that decide per segment
(``gates.decide: per_segment``) ship a non-control arm somewhere in an A/A test, and how
often do they ship a planted winner in its segment — and wrongly where it loses?

``loadtests/per_segment.yaml``: one rule over 12 segments (3 devices × 4 dayparts of six
hours), the travel example's thresholds, one stage at full traffic, 50/50 split. Each
simulated day every undecided segment gets its visitors (a fixed number per segment),
split between the arms and converting at the truth's rates (binomial draws); a decided
segment serves its decision and counts nothing, as ``ExperimentPolicy`` does. At the end
of each day the real ``Evaluator`` runs — the same gates, segment judgement, rollout
state, compare-and-set and audit log as in production, on a memory store whose counts are
these tallies. Looks happen once a day (``min_stage_duration: 24h``), so evaluating once a
day takes the same decisions as evaluating every hour, some 24 times faster; and drawing
per-segment counts instead of recording each visitor (the pooled scenarios' ``counts``
path) is what lets 6,000 visitors a day in each of 12 segments run in seconds.

Scenarios, at each base rate:

- ``aa``: every segment alike; the share of runs that ship the offer in any segment
  (target ≤ 5%);
- ``planted``: the offer +20% in one segment (desktop × evening) and −10% in the other 11;
  the share of runs that ship it in its segment (target ≥ 80%) and in any losing segment
  (target ≤ 5%), and the median visitors the experiment showed the worse arm.

Each with the rules' fixed 50/50 split and with ``allocation: bandit``: then each segment's
visitors are split by the weights in force for that segment on that day (the rollout
state's weight period, per segment where it has its own: ``bandit.weights_on``), which the
real evaluator sets at each look, as the middleware would serve them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from daypart.experiments.bandit import weights_on
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.rollout import Rollouts
from daypart.experiments.store import MemoryStore
from daypart.experiments.store.base import Cell, CellKey, ExperimentCounts
from daypart.rules.loader import load_rules
from daypart.rules.model import Allocation

RULES = Path(__file__).parent / "per_segment.yaml"
EXPERIMENT = "offer-per-segment"
WINNER_SEGMENT = ("desktop", "evening")
WINNER_UPLIFT = 0.20
LOSER_UPLIFT = -0.10
AA_TARGET = 0.05
WIN_TARGET = 0.80
LOSE_TARGET = 0.05
START = "2026-01-05T00:00"  # a Monday


class TallyStore(MemoryStore):
    """A memory store (rollout state, audit log, lock) whose counts are the simulation's
    tallies: cells added in bulk instead of one record per visitor."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock=clock)
        self.tally: dict[CellKey, Cell] = {}

    def add(self, key: CellKey, exposures: int, conversions: int, goal: str) -> None:
        cell = self.tally.setdefault(key, Cell(0, {goal: 0}))
        cell.exposures += exposures
        cell.conversions[goal] += conversions

    async def counts(self, experiment: str) -> ExperimentCounts:
        cells = {
            key: Cell(cell.exposures, dict(cell.conversions)) for key, cell in self.tally.items()
        }
        return ExperimentCounts(experiment, cells)


@dataclass(frozen=True, slots=True)
class SegmentRun:
    base_rate: float
    planted: bool
    seed: int
    visitors_per_segment: int
    days: int
    allocation: Allocation = "fixed"


def one(run: SegmentRun) -> dict[str, Any]:
    return asyncio.run(_one(run))


async def _one(run: SegmentRun) -> dict[str, Any]:
    ruleset = load_rules(RULES)
    experiment = ruleset.experiments[EXPERIMENT]
    if run.allocation != experiment.allocation:
        experiment = replace(experiment, allocation=run.allocation)
        ruleset = replace(ruleset, experiments={**ruleset.experiments, EXPERIMENT: experiment})
    control, offer = (arm.name for arm in experiment.arms)
    devices = ("mobile", "tablet", "desktop")
    segments = [(device, part) for device in devices for part in ruleset.dayparts]
    rates = {
        key: {
            control: run.base_rate,
            offer: run.base_rate
            * (
                1.0
                if not run.planted
                else 1.0 + (WINNER_UPLIFT if key == WINNER_SEGMENT else LOSER_UPLIFT)
            ),
        }
        for key in segments
    }
    rng = np.random.default_rng(run.seed)
    start = datetime.fromisoformat(START).replace(tzinfo=ZoneInfo(ruleset.site.timezone))
    clock = [start.timestamp()]
    store = TallyStore(clock=lambda: clock[0])
    evaluator = Evaluator(store, clock=lambda: clock[0])
    rollouts = Rollouts(store)
    await evaluator.run_once(ruleset)  # the experiment starts at the first evaluation
    worse = 0
    state = await rollouts.state(EXPERIMENT)
    day = 0
    for day in range(1, run.days + 1):
        today = (start + timedelta(days=day - 1)).date().toordinal()
        for key in segments:
            if key in state.segments:
                continue  # decided: served its decision, counted nowhere
            best = max(rates[key].values())
            # The offer's share of new visitors here today: 50%, or the bandit's weights.
            weights = weights_on(experiment, state, today, key)
            shown = rng.binomial(run.visitors_per_segment, weights[1] / sum(weights))
            for arm, visitors in ((control, run.visitors_per_segment - shown), (offer, shown)):
                converted = int(rng.binomial(visitors, rates[key][arm]))
                store.add((arm, *key, ""), int(visitors), converted, experiment.goal)
                worse += int(visitors) if rates[key][arm] < best else 0
        clock[0] = (start + timedelta(days=day)).timestamp()
        await evaluator.run_once(ruleset)
        state = await rollouts.state(EXPERIMENT)
        if state.status != "running":
            break
    shipped = {key for key, d in state.segments.items() if d.decision == "shipped"}
    return {
        "allocation": run.allocation,
        "base_rate": run.base_rate,
        "planted": run.planted,
        "seed": run.seed,
        "status": state.status,
        "days": day,
        "shipped_any": bool(shipped),
        "shipped_winner": WINNER_SEGMENT in shipped,
        "shipped_in_loser": bool(shipped - {WINNER_SEGMENT}),
        "decided": len(state.segments),
        "worse_arm_visitors": worse,
    }


def runs(
    base_rates: list[float],
    count: int,
    visitors_per_segment: int,
    days: int,
    allocation: Allocation = "fixed",
) -> list[SegmentRun]:
    return [
        SegmentRun(base_rate, planted, seed, visitors_per_segment, days, allocation)
        for base_rate in base_rates
        for planted in (False, True)
        for seed in range(1, count + 1)
    ]


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    return {
        "runs": n,
        "shipped_any": sum(r["shipped_any"] for r in results) / n,
        "shipped_winner": sum(r["shipped_winner"] for r in results) / n,
        "shipped_in_loser": sum(r["shipped_in_loser"] for r in results) / n,
        "median_segments_decided": statistics.median(r["decided"] for r in results),
        "median_days": statistics.median(r["days"] for r in results),
        "median_worse_arm_visitors": statistics.median(r["worse_arm_visitors"] for r in results),
    }


def table(
    results: list[dict[str, Any]], base_rates: list[float], allocation: Allocation = "fixed"
) -> dict[str, Any]:
    return {
        f"{rate:g}": {
            scenario: summarise(
                [
                    r
                    for r in results
                    if r["base_rate"] == rate
                    and r["planted"] is planted
                    and r["allocation"] == allocation
                ]
            )
            for scenario, planted in (("aa", False), ("planted", True))
        }
        for rate in base_rates
    }


def lines(
    summary: Mapping[str, Any],
    visitors_per_segment: int,
    days: int,
    allocation: Allocation = "fixed",
    fixed: Mapping[str, Any] | None = None,
) -> list[str]:
    """The scenarios' figures in words; with ``fixed`` (the fixed split's summary) a
    bandit's median visitors on the worse arm beside the fixed split's."""
    first = next(iter(summary.values()))
    split = "50/50 split" if allocation == "fixed" else "allocation: bandit, per-segment weights"
    out = [
        f"per segment (decide: per_segment, {split}; {first['aa']['runs']} A/A and "
        f"{first['planted']['runs']} planted runs per base rate; 12 segments, "
        f"{visitors_per_segment:,} visitors/day in each, at most {days} days; planted: "
        f"offer {WINNER_UPLIFT:+.0%} on {' × '.join(WINNER_SEGMENT)}, {LOSER_UPLIFT:+.0%} "
        "in the other 11)"
    ]
    for rate, scenarios in summary.items():
        aa, planted = scenarios["aa"], scenarios["planted"]
        worse = planted["median_worse_arm_visitors"]
        beside = ""
        if fixed is not None and rate in fixed:
            against = fixed[rate]["planted"]["median_worse_arm_visitors"]
            beside = f" against {against:,.0f} with the 50/50 split"
        out.append(
            f"base rate {float(rate):.0%}: A/A ships the offer in some segment in "
            f"{aa['shipped_any']:.1%} (target ≤ 5%: "
            f"{'met' if aa['shipped_any'] <= AA_TARGET else 'MISSED'}); planted: ships it in "
            f"its segment in {planted['shipped_winner']:.1%} (target ≥ 80%: "
            f"{'met' if planted['shipped_winner'] >= WIN_TARGET else 'MISSED'}), in a losing "
            f"segment in {planted['shipped_in_loser']:.1%} (target ≤ 5%: "
            f"{'met' if planted['shipped_in_loser'] <= LOSE_TARGET else 'MISSED'}); median "
            f"{planted['median_days']:g} days, visitors on the worse arm {worse:,.0f}{beside}"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The per-segment scenarios alone (``make simulate`` runs them after the pooled ones)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="per scenario (A/A and planted)")
    parser.add_argument(
        "--bandit-runs", type=int, default=100, help="per scenario with allocation: bandit"
    )
    parser.add_argument("--base-rates", default="0.03,0.10")
    parser.add_argument("--visitors-per-day", type=int, default=6000, help="in each segment")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base_rates = [float(rate) for rate in args.base_rates.split(",")]
    started = time.perf_counter()
    todo = [
        *runs(base_rates, args.runs, args.visitors_per_day, args.days),
        *runs(base_rates, args.bandit_runs, args.visitors_per_day, args.days, "bandit"),
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one, todo, chunksize=4))
    summary = table(results, base_rates) if args.runs else None
    bandit = table(results, base_rates, "bandit") if args.bandit_runs else None
    seconds = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {"per_segment": summary, "per_segment_bandit": bandit, "seconds": seconds},
                indent=2,
            )
        )
        return 0
    if summary is not None:
        print("\n".join(lines(summary, args.visitors_per_day, args.days)))
    if bandit is not None:
        print("\n".join(lines(bandit, args.visitors_per_day, args.days, "bandit", summary)))
    print(f"({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
