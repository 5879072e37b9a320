"""From the store's cells (arm × device × daypart × channel) to one ``ArmCounts`` per arm,
pooled over segments, for one device × daypart segment (pooled over channels), for one
channel, or for one device × daypart × channel cell."""

from __future__ import annotations

from collections.abc import Sequence

from daypart.experiments.stats.inputs import ArmCounts
from daypart.experiments.store.base import ExperimentCounts


def arm_totals(
    counts: ExperimentCounts,
    arms: Sequence[str],
    goal: str,
    segment: tuple[str, str] | None = None,
    channel: str | None = None,
) -> list[ArmCounts]:
    """Totals per arm (in ``arms`` order) on ``goal``; only one (device, daypart) segment
    and only one channel when given. Cells of arms no longer in the rules are left out."""
    index = {name: i for i, name in enumerate(arms)}
    sums = [[0, 0, 0.0, 0.0] for _ in arms]
    for (arm, device, daypart, cell_channel), cell in counts.cells.items():
        i = index.get(arm)
        if i is None or (segment is not None and segment != (device, daypart)):
            continue
        if channel is not None and channel != cell_channel:
            continue
        total = sums[i]
        total[0] += cell.exposures
        total[1] += cell.conversions.get(goal, 0)
        total[2] += cell.revenue.get(goal, 0.0)
        total[3] += cell.revenue_sq.get(goal, 0.0)
    return [ArmCounts(int(v), int(c), float(r), float(q)) for v, c, r, q in sums]


def segments_of(counts: ExperimentCounts) -> list[tuple[str, str]]:
    """The (device, daypart) segments with cells, pooled over channels."""
    return sorted({(device, daypart) for _, device, daypart, _ in counts.cells})


def channels_of(counts: ExperimentCounts) -> list[str]:
    """The channels with cells, or none at all when no cell has a channel (rules without
    channels): then "" is no channel, not a channel of its own. With channels, "" holds
    what was counted before the rules declared them."""
    channels = sorted({channel for *_, channel in counts.cells})
    return [] if channels in ([], [""]) else channels


def channel_segments_of(counts: ExperimentCounts) -> list[tuple[str, str, str]]:
    """The (device, daypart, channel) cells with counts, when any cell has a channel."""
    if not channels_of(counts):
        return []
    return sorted({(device, daypart, channel) for _, device, daypart, channel in counts.cells})
