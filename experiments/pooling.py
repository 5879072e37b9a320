"""From the store's cells (arm × device × daypart) to per-arm counts, pooled or per segment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daypart.experiments.store.base import ExperimentCounts


@dataclass(slots=True)
class ArmTotals:
    visitors: int = 0
    conversions: int = 0
    revenue: float = 0.0
    revenue_sq: float = 0.0


def arm_totals(
    counts: ExperimentCounts,
    arms: Sequence[str],
    goal: str,
    segment: tuple[str, str] | None = None,
) -> list[ArmTotals]:
    """Totals per arm (in ``arms`` order) on ``goal``; only one (device, daypart) segment
    when given. Cells of arms no longer in the rules are left out."""
    index = {name: i for i, name in enumerate(arms)}
    totals = [ArmTotals() for _ in arms]
    for (arm, device, daypart), cell in counts.cells.items():
        i = index.get(arm)
        if i is None or (segment is not None and segment != (device, daypart)):
            continue
        total = totals[i]
        total.visitors += cell.exposures
        total.conversions += cell.conversions.get(goal, 0)
        total.revenue += cell.revenue.get(goal, 0.0)
        total.revenue_sq += cell.revenue_sq.get(goal, 0.0)
    return totals


def segments_of(counts: ExperimentCounts) -> list[tuple[str, str]]:
    return sorted({(device, daypart) for _, device, daypart in counts.cells})
