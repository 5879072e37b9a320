"""``make simulate``: how often do the rollout gates ship a loser, and how often a winner?

Bayesian gates checked again and again (continuous monitoring) can ship an arm that is no
better than control. This drives hundreds of simulated experiments — synthetic visitors
through the real middleware, recorder, memory store and evaluator on a fake clock (see
``daypart.middleware.tools.simulate``) — and reports:

- A/A (no true difference): the share of experiments that ship a non-control arm;
  target at most 5% with the example gates.
- A/B (+20% relative uplift at a 10% base rate): the share that ship the better arm;
  target at least 80%; and the median number of visitors shown the worse arm.

Runs are spread over the machine's cores; every run has its own seed, so the figures
are reproducible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daypart.middleware.tools.simulate import SimulationConfig, simulate
from daypart.rules import EXAMPLES_DIR

TRAVEL = EXAMPLES_DIR / "travel.yaml"


@dataclass(frozen=True, slots=True)
class Run:
    uplift: float
    seed: int
    rules: Path
    experiment: str
    visitors_per_day: int
    days: int


def one(run: Run) -> dict[str, Any]:
    config = SimulationConfig(
        rules=run.rules,
        experiment=run.experiment,
        base_rate=0.10,
        uplift=run.uplift,
        visitors_per_day=run.visitors_per_day,
        max_days=run.days,
        seed=run.seed,
    )
    result = asyncio.run(simulate(config))
    return {
        "uplift": run.uplift,
        "seed": run.seed,
        "outcome": result.outcome,
        "shipped": result.shipped,
        "days": result.days,
        "worse_arm_exposures": result.worse_arm_exposures(),
        "exposures": result.exposures,
    }


def summarise(results: list[dict[str, Any]], control: str) -> dict[str, Any]:
    outcomes = Counter(
        "shipped treatment"
        if r["shipped"] not in (None, control)
        else "shipped control"
        if r["shipped"] == control
        else r["outcome"]
        for r in results
    )
    decided = [r["days"] for r in results if r["outcome"] != "undecided"]
    return {
        "runs": len(results),
        "shipped_treatment": outcomes["shipped treatment"] / len(results),
        "shipped_control": outcomes["shipped control"] / len(results),
        "rolled_back": outcomes["rolled_back"] / len(results),
        "undecided": outcomes["undecided"] / len(results),
        "median_days_to_decision": statistics.median(decided) if decided else None,
        "median_worse_arm_visitors": statistics.median(r["worse_arm_exposures"] for r in results),
        "median_visitors_in_experiment": statistics.median(
            sum(r["exposures"].values()) for r in results
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="per scenario (A/A and A/B)")
    parser.add_argument("--rules", type=Path, default=TRAVEL)
    parser.add_argument("--experiment", default="evening-offer")
    parser.add_argument("--visitors-per-day", type=int, default=4000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = [
        Run(uplift, seed, args.rules, args.experiment, args.visitors_per_day, args.days)
        for uplift in (0.0, 0.2)
        for seed in range(1, args.runs + 1)
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one, runs, chunksize=4))
    control = _control_arm(args.rules, args.experiment)
    aa = summarise([r for r in results if r["uplift"] == 0.0], control)
    ab = summarise([r for r in results if r["uplift"] == 0.2], control)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"aa": aa, "ab": ab, "seconds": seconds}, indent=2))
    else:
        print(f"{args.runs} A/A and {args.runs} A/B experiments ({args.experiment}, base rate")
        print(
            f"10%, {args.visitors_per_day} visitors/day in the segment, at most {args.days} days)"
        )
        print(f"{'':<34} {'A/A':>10} {'A/B +20%':>10}")
        for key in aa:
            if key == "runs":
                continue
            print(f"{key:<34} {_fmt(key, aa[key]):>10} {_fmt(key, ab[key]):>10}")
        verdict_aa = "met" if aa["shipped_treatment"] <= 0.05 else "MISSED"
        verdict_ab = "met" if ab["shipped_treatment"] >= 0.80 else "MISSED"
        aa_share, ab_share = aa["shipped_treatment"], ab["shipped_treatment"]
        print(f"\nA/A ships a non-control arm: {aa_share:.1%} (target ≤ 5%: {verdict_aa})")
        print(f"A/B ships the better arm:    {ab_share:.1%} (target ≥ 80%: {verdict_ab})")
        print(f"({seconds:.0f} s)")
    return 0


SHARES = ("shipped_treatment", "shipped_control", "rolled_back", "undecided")


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in SHARES:
        return f"{value:.1%}"
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def _control_arm(rules: Path, experiment: str) -> str:
    from daypart.rules.loader import load_rules

    return load_rules(rules).experiments[experiment].control.name


if __name__ == "__main__":
    sys.exit(main())
