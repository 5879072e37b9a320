"""``make simulate``: how often do the rollout gates ship a loser, and how often a winner —
at a shop's 3% conversion rate and at 10%?

Bayesian gates checked again and again (continuous monitoring) can ship an arm that is no
better than control. This drives simulated experiments through ``daypart simulate``'s
machinery (``daypart.middleware.tools.simulate``: the real store, evaluator and gates on
a fake clock) and reports, per base rate:

- A/A (no true difference): the share of runs that ship a non-control arm; target at
  most 5%.
- A/B (+20% relative uplift): the share that ship the better arm; target at least 80%;
  and the median number of visitors shown the worse arm.
- The same with bandit allocation (``allocation: bandit``, ``--bandit-runs`` runs per
  scenario): at the same error rates, it should show fewer visitors the worse arm.
- Per segment (``loadtests/per_segment.py``, ``--segment-runs``): gates that decide per
  device × daypart, A/A and a planted winner among losers, with the fixed split and
  (``--segment-bandit-runs``) with bandit weights per segment.

By default each simulated hour's counts are drawn (``--path counts``): the same store,
evaluator and gates as the ``requests`` path, which sends every visitor through the
middleware and is 12 to 17 times slower. ``--path requests`` runs that path instead, which is
how the two were compared (docs/benchmarks.md). Runs are spread over the machine's
cores; every run has its own seed, so the figures are reproducible.
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
from typing import Any, Literal

from daypart.middleware.tools.simulate import SimulationConfig, simulate
from daypart.rules import EXAMPLES_DIR
from daypart.rules.model import Allocation
from loadtests import per_segment

TRAVEL = EXAMPLES_DIR / "travel.yaml"
UPLIFT = 0.20
SCENARIOS = {"aa": 0.0, "ab": UPLIFT}
LABELS = {"aa": "A/A", "ab": f"A/B +{UPLIFT:.0%}"}
AA_TARGET = 0.05
AB_TARGET = 0.80


@dataclass(frozen=True, slots=True)
class Run:
    base_rate: float
    uplift: float
    seed: int
    rules: Path
    experiment: str
    visitors_per_day: int
    days: int
    path: Literal["requests", "counts"]
    allocation: Literal["fixed", "bandit"] = "fixed"


def one(run: Run) -> dict[str, Any]:
    config = SimulationConfig(
        rules=run.rules,
        experiment=run.experiment,
        base_rate=run.base_rate,
        uplift=run.uplift,
        visitors_per_day=run.visitors_per_day,
        max_days=run.days,
        seed=run.seed,
        path=run.path,
        allocation=run.allocation,
    )
    result = asyncio.run(simulate(config))
    return {
        "allocation": run.allocation,
        "base_rate": run.base_rate,
        "uplift": run.uplift,
        "seed": run.seed,
        "outcome": result.outcome,
        "shipped": result.shipped,
        "days": result.days,
        "worse_arm_exposures": result.worse_arm_exposures(),
        "exposures": result.exposures,
        "spent_conversions": result.spent_conversions,
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
    decided = [r["days"] for r in results if r["outcome"] not in ("undecided", "paused")]
    return {
        "runs": len(results),
        "shipped_treatment": outcomes["shipped treatment"] / len(results),
        "rolled_back": outcomes["rolled_back"] / len(results),
        "paused_by_budget": outcomes["paused"] / len(results),
        "undecided": outcomes["undecided"] / len(results),
        "median_days_to_decision": statistics.median(decided) if decided else None,
        # A/A has no worse arm: None, shown as –.
        "median_worse_arm_visitors": statistics.median(r["worse_arm_exposures"] for r in results)
        if any(r["uplift"] for r in results)
        else None,
        "median_visitors_in_experiment": statistics.median(
            sum(r["exposures"].values()) for r in results
        ),
        "median_spent_conversions": statistics.median(r["spent_conversions"] for r in results),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="per scenario (A/A and A/B)")
    parser.add_argument(
        "--bandit-runs", type=int, default=100, help="per scenario with bandit allocation (0: none)"
    )
    parser.add_argument("--rules", type=Path, default=TRAVEL)
    parser.add_argument("--experiment", default="evening-offer")
    parser.add_argument(
        "--base-rates", default="0.03,0.10", help="control's true rates, comma-separated"
    )
    parser.add_argument("--visitors-per-day", type=int, default=6000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--path", choices=("counts", "requests"), default="counts")
    parser.add_argument(
        "--scenarios", default="aa,ab", help="aa (no difference), ab (+20%%), or both"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--segment-runs",
        type=int,
        default=200,
        help="per per-segment scenario (A/A and planted; loadtests/per_segment.py); 0: none",
    )
    parser.add_argument(
        "--segment-visitors-per-day",
        type=int,
        default=6000,
        help="visitors a day in each of the 12 segments of the per-segment scenarios",
    )
    parser.add_argument(
        "--segment-bandit-runs",
        type=int,
        default=100,
        help="per per-segment scenario with allocation: bandit (per-segment weights); 0: none",
    )
    args = parser.parse_args(argv)
    base_rates = [float(rate) for rate in args.base_rates.split(",")]
    names = [name for name in SCENARIOS if name in args.scenarios.split(",")]
    started = time.perf_counter()
    counts: dict[Allocation, int] = {"fixed": args.runs, "bandit": args.bandit_runs}
    runs = [
        Run(
            base_rate,
            uplift,
            seed,
            args.rules,
            args.experiment,
            args.visitors_per_day,
            args.days,
            args.path,
            allocation,
        )
        for allocation, count in counts.items()
        for base_rate in base_rates
        for uplift in (SCENARIOS[name] for name in names)
        for seed in range(1, count + 1)
    ]
    segment_runs = [
        *per_segment.runs(base_rates, args.segment_runs, args.segment_visitors_per_day, args.days),
        *per_segment.runs(
            base_rates,
            args.segment_bandit_runs,
            args.segment_visitors_per_day,
            args.days,
            "bandit",
        ),
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one, runs, chunksize=4))
        segment_results = list(pool.map(per_segment.one, segment_runs, chunksize=4))
    segments = per_segment.table(segment_results, base_rates) if args.segment_runs else None
    segments_bandit = (
        per_segment.table(segment_results, base_rates, "bandit")
        if args.segment_bandit_runs
        else None
    )
    control = _control_arm(args.rules, args.experiment)
    tables = {
        allocation: {
            f"{base_rate:g}": {
                scenario: summarise(
                    [
                        r
                        for r in results
                        if r["base_rate"] == base_rate
                        and r["uplift"] == uplift
                        and r["allocation"] == allocation
                    ],
                    control,
                )
                for scenario, uplift in ((name, SCENARIOS[name]) for name in names)
            }
            for base_rate in base_rates
        }
        for allocation, count in counts.items()
        if count > 0
    }
    table = tables.get("fixed", {})  # none with --runs 0
    seconds = time.perf_counter() - started
    if args.json:
        print(
            json.dumps(
                {
                    "base_rates": table,
                    "bandit": tables.get("bandit"),
                    "per_segment": segments,
                    "per_segment_bandit": segments_bandit,
                    "path": args.path,
                    "seconds": seconds,
                },
                indent=2,
            )
        )
        return 0
    if table:
        _print_pooled(args, names, table)
    bandit = tables.get("bandit")
    if bandit is not None and table and names == list(SCENARIOS):  # the comparison needs both
        _print_bandit(args, table, bandit)
    if segments is not None:
        print()
        print("\n".join(per_segment.lines(segments, args.segment_visitors_per_day, args.days)))
    if segments_bandit is not None:
        print()
        print(
            "\n".join(
                per_segment.lines(
                    segments_bandit,
                    args.segment_visitors_per_day,
                    args.days,
                    "bandit",
                    segments,
                )
            )
        )
    print(f"({seconds:.0f} s)")
    return 0


def _print_pooled(args: argparse.Namespace, names: list[str], table: dict[str, Any]) -> None:
    print(
        f"{args.runs} runs per scenario ({', '.join(LABELS[n] for n in names)}) and base rate "
        f"({args.experiment} of {args.rules.name}, {args.visitors_per_day:,} visitors/day in "
        f"the segment, at most {args.days} days, {args.path} path)"
    )
    for base_rate, found in table.items():
        print(
            f"\nbase rate {float(base_rate):.0%}{'':<22} "
            + " ".join(f"{LABELS[n]:>10}" for n in names)
        )
        for key in found[names[0]]:
            if key != "runs":
                print(f"{key:<34} " + " ".join(f"{_fmt(key, found[n][key]):>10}" for n in names))
    print()
    for base_rate, found in table.items():
        said = []
        if "aa" in found:
            share = found["aa"]["shipped_treatment"]
            verdict = "met" if share <= AA_TARGET else "MISSED"
            said.append(
                f"A/A ships a non-control arm in {share:.1%} of {found['aa']['runs']} runs "
                f"(target ≤ 5%: {verdict})"
            )
        if "ab" in found:
            ab = found["ab"]
            share = ab["shipped_treatment"]
            verdict = "met" if share >= AB_TARGET else "MISSED"
            said.append(
                f"+20% ships the better arm in {share:.1%} of {ab['runs']} (target ≥ 80%: "
                f"{verdict}); median visitors on the worse arm "
                f"{ab['median_worse_arm_visitors']:,.0f}"
            )
        print(f"base rate {float(base_rate):.0%}: " + "; ".join(said))


def _print_bandit(args: argparse.Namespace, table: dict[str, Any], bandit: dict[str, Any]) -> None:
    print(f"\nwith allocation: bandit ({args.bandit_runs} A/A and A/B runs per base rate)")
    for base_rate, scenarios in bandit.items():
        aa, ab = scenarios["aa"], scenarios["ab"]
        print(f"\nbase rate {float(base_rate):.0%}{'':<22} {'A/A':>10} {'A/B +20%':>10}")
        for key in aa:
            if key == "runs":
                continue
            print(f"{key:<34} {_fmt(key, aa[key]):>10} {_fmt(key, ab[key]):>10}")
    print()
    for base_rate, scenarios in bandit.items():
        aa, ab = scenarios["aa"], scenarios["ab"]
        fixed_worse = table[base_rate]["ab"]["median_worse_arm_visitors"]
        worse = ab["median_worse_arm_visitors"]
        verdict = (
            "met" if aa["shipped_treatment"] <= AA_TARGET and worse < fixed_worse else ("MISSED")
        )
        print(
            f"base rate {float(base_rate):.0%}, bandit: A/A ships a non-control arm in "
            f"{aa['shipped_treatment']:.1%} of {aa['runs']} runs, +20% ships the better arm "
            f"in {ab['shipped_treatment']:.1%}; median visitors on the worse arm "
            f"{worse:,.0f} against {fixed_worse:,.0f} with the fixed split "
            f"(fewer at A/A ≤ 5%: {verdict})"
        )


SHARES = ("shipped_treatment", "rolled_back", "paused_by_budget", "undecided")


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
