"""How often do the per-segment gates ship by luck, and how often do they find a real winner?

One look at simulated counts, judged by ``daypart.experiments.segment_gates`` with the
travel example's gates (ship at P(beat) 0.997, roll back at P(worse) 0.95, 300 visitors
an arm), over 12 segments (3 devices × 4 dayparts) with the same number of visitors an
arm in each (one row per number):

- A/A: no segment differs; the share of runs in which any segment ships;
- one winner: +20% in one segment, −10% in the eleven others; the share of runs that ship
  it there, and the share that ship it in any segment where it loses.

Counts are binomial draws from a seeded generator, so the figures are reproducible:

    python -m loadtests.segment_gates --runs 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from daypart.experiments.segment_gates import judge_segments
from daypart.experiments.store.base import Cell, ExperimentCounts
from daypart.rules import EXAMPLES_DIR
from daypart.rules.loader import load_rules

SEGMENTS = [
    (device, daypart)
    for device in ("mobile", "tablet", "desktop")
    for daypart in ("morning", "lunch", "evening", "other")
]
WINNER = ("desktop", "evening")


def draw(
    rng: np.random.Generator, base: float, lifts: dict[tuple[str, str], float], visitors: int
) -> ExperimentCounts:
    cells = {}
    for segment in SEGMENTS:
        treated = base * (1.0 + lifts.get(segment, 0.0))
        for arm, rate in (("control", base), ("offer", treated)):
            converted = int(rng.binomial(visitors, rate))
            cells[(arm, *segment, "")] = Cell(visitors, {"booked": converted})
    return ExperimentCounts("evening-offer", cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--visitors",
        type=int,
        nargs="+",
        default=[3_000, 10_000, 30_000, 100_000],
        help="visitors per arm and segment (one row each)",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    experiment = load_rules(EXAMPLES_DIR / "travel.yaml").experiments["evening-offer"]
    rng = np.random.default_rng(args.seed)
    planted = dict.fromkeys(SEGMENTS, -0.1) | {WINNER: 0.20}
    started = time.perf_counter()
    print(f"{len(SEGMENTS)} segments, {args.runs} runs per row, seed {args.seed}")
    print(
        f"{'base':>5}  {'visitors/arm':>12}  {'A/A: ships any':>15}  "
        f"{'winner ships there':>18}  {'ships a loser':>13}"
    )
    for base in (0.03, 0.10):
        for visitors in args.visitors:
            null = wins = losers = 0
            for _ in range(args.runs):
                judgement = judge_segments(experiment, draw(rng, base, {}, visitors))
                null += any(s.winner is not None for s in judgement.segments)
                judgement = judge_segments(experiment, draw(rng, base, planted, visitors))
                shipped = {s.segment for s in judgement.segments if s.winner is not None}
                wins += WINNER in shipped
                losers += bool(shipped - {WINNER})
            runs = args.runs
            print(
                f"{base:>5.0%}  {visitors:>12,}  {null / runs:>15.1%}  {wins / runs:>18.1%}  "
                f"{losers / runs:>13.1%}"
            )
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
