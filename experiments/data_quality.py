"""Counts that disagree with themselves: what a store holds after it lost data.

When Redis is flushed or restarts without persistence, returning visitors still carry
their exposure marks in the cookie, so their conversions are counted in cells whose
exposures are gone: a cell can hold more conversions than visitors. Such a cell cannot be
analysed (no posterior has more successes than trials) and must not steer a rollout. It
is left out of every analysis, named in a warning on the board, the page, the API and
the evaluator's log, and the gates hold while any cell is inconsistent.
"""

from __future__ import annotations

from collections.abc import Sequence

from daypart.experiments.store.base import CellKey, ExperimentCounts


def counts_problem(visitors: int, conversions: int) -> str | None:
    """Why ``conversions`` out of ``visitors`` cannot come from real visitors, or None."""
    if visitors < 0 or conversions < 0:
        return f"negative counts ({conversions} conversions, {visitors} visitors)"
    if conversions > visitors:
        return f"{conversions} conversions exceed {visitors} visitors"
    return None


def split_consistent(
    counts: ExperimentCounts, arms: Sequence[str], goal: str
) -> tuple[ExperimentCounts, tuple[str, ...]]:
    """The cells that can be analysed, and a warning in words for each that cannot.
    Cells of arms not in ``arms`` are left as they are (reports leave them out anyway)."""
    known = set(arms)
    bad: dict[CellKey, str] = {}
    for key, cell in counts.cells.items():
        if key[0] in known:
            problem = counts_problem(cell.exposures, cell.conversions.get(goal, 0))
            if problem is not None:
                bad[key] = problem
    if not bad:
        return counts, ()
    kept = {key: cell for key, cell in counts.cells.items() if key not in bad}
    warnings = tuple(
        f"inconsistent data in {arm} on {device} × {daypart}"
        f"{f' × {channel}' if channel else ''}: {problem}; left out of the analysis, and the "
        "gates hold (did the store lose data? returning visitors' conversions were counted "
        "without their exposures)"
        for (arm, device, daypart, channel), problem in sorted(bad.items())
    )
    return ExperimentCounts(counts.experiment, kept), warnings
