"""What the statistics are computed from: one typed input per kind of data.

``ArmCounts`` is one arm's sufficient statistics: visitors, conversions, and the sum and
sum of squares of the conversions' values. The conversion analysis reads the first two,
the revenue analysis all four; reports build one per arm, pooled or per segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ArmCounts:
    visitors: int
    conversions: int
    revenue: float = 0.0
    revenue_sq: float = 0.0

    def check(self) -> None:
        """Raise ``ValueError`` naming what cannot come from real data."""
        visitors, conversions = self.visitors, self.conversions
        revenue, revenue_sq = self.revenue, self.revenue_sq
        for name, count in (("visitors", visitors), ("conversions", conversions)):
            if isinstance(count, bool) or not isinstance(count, int | np.integer):
                raise ValueError(f"{name} must be an integer, got {count!r}")
            if count < 0:
                raise ValueError(f"{name} must not be negative, got {count}")
        if conversions > visitors:
            raise ValueError(f"{conversions} conversions exceed {visitors} visitors")
        for name, value in (("revenue", revenue), ("revenue_sq", revenue_sq)):
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if revenue_sq < 0:
            raise ValueError(f"revenue_sq is a sum of squares; got {revenue_sq}")
        if conversions == 0 and (revenue != 0 or revenue_sq != 0):
            raise ValueError("revenue without conversions")
        # Cauchy–Schwarz: (Σv)² ≤ c Σv², up to rounding in the stored sums.
        if revenue * revenue > conversions * revenue_sq * (1 + 1e-9) + 1e-9:
            raise ValueError(
                f"inconsistent sums: revenue {revenue} cannot come from "
                f"{conversions} values whose squares sum to {revenue_sq}"
            )

    @property
    def consistent(self) -> bool:
        try:
            self.check()
        except ValueError:
            return False
        return True

    @property
    def pair(self) -> tuple[int, int]:
        """``(conversions, visitors)``, what ``analyze`` takes per arm."""
        return (self.conversions, self.visitors)
