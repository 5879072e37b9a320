"""From the store's cells (arm × device × daypart) to one ``ArmCounts`` per arm, pooled
over segments or for one segment."""

from __future__ import annotations

from collections.abc import Sequence

from daypart.experiments.stats.inputs import ArmCounts
from daypart.experiments.store.base import ExperimentCounts


def arm_totals(
    counts: ExperimentCounts,
    arms: Sequence[str],
    goal: str,
    segment: tuple[str, str] | None = None,
) -> list[ArmCounts]:
    """Totals per arm (in ``arms`` order) on ``goal``; only one (device, daypart) segment
    when given. Cells of arms no longer in the rules are left out."""
    index = {name: i for i, name in enumerate(arms)}
    sums = [[0, 0, 0.0, 0.0] for _ in arms]
    for (arm, device, daypart), cell in counts.cells.items():
        i = index.get(arm)
        if i is None or (segment is not None and segment != (device, daypart)):
            continue
        total = sums[i]
        total[0] += cell.exposures
        total[1] += cell.conversions.get(goal, 0)
        total[2] += cell.revenue.get(goal, 0.0)
        total[3] += cell.revenue_sq.get(goal, 0.0)
    return [ArmCounts(int(v), int(c), float(r), float(q)) for v, c, r, q in sums]


def segments_of(counts: ExperimentCounts) -> list[tuple[str, str]]:
    return sorted({(device, daypart) for _, device, daypart in counts.cells})
