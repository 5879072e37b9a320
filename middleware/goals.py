"""Goals compiled for the request path, and the one check of a conversion's value.

A goal with a path counts when a response to a matching request has a matching status;
its value comes from a response header. Beacon goals (no path) never match responses.
Values from anywhere (header, beacon body, ``convert()``) pass ``checked_value``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from daypart.rules.glob import compile_glob
from daypart.rules.model import Goal

MAX_VALUE = 1e12
"""Values beyond this in size are refused: no real order is that large, and sums of such
values would lose the cents of every other order."""


_TOO_LARGE = "must be a finite number below 1e12 in size"  # MAX_VALUE


def checked_value(value: object) -> float | str:
    """The value as a float, or what it must be ("must be a number", ...)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    try:
        number = float(value)
    except OverflowError:  # an int with thousands of digits
        return _TOO_LARGE
    if not math.isfinite(number) or abs(number) > MAX_VALUE:
        return _TOO_LARGE
    return number


def value_from_header(raw: str | None) -> float | None:
    """A value from a response header; garbage, NaN and absurd values count as no value."""
    if raw is None:
        return None
    try:
        value = float(raw.strip()[:32])
    except ValueError:
        return None
    checked = checked_value(value)
    return checked if isinstance(checked, float) else None


@dataclass(frozen=True, slots=True)
class CompiledGoal:
    goal: Goal
    method: str | None
    path: re.Pattern[str] | None
    status_class: int | None  # 2 for "2xx"
    status_code: int | None
    value_header: bytes | None  # lower-case, as raw response headers are compared

    @classmethod
    def build(cls, goal: Goal) -> CompiledGoal:
        status_class = status_code = None
        if goal.status is not None:
            if goal.status.endswith("xx"):
                status_class = int(goal.status[0])
            else:
                status_code = int(goal.status)
        return cls(
            goal,
            goal.method,
            None if goal.path is None else compile_glob(goal.path),
            status_class,
            status_code,
            None if goal.value_header is None else goal.value_header.lower().encode("latin-1"),
        )

    def matches_request(self, method: str, path: str) -> bool:
        if self.path is None:
            return False  # beacon-only goals never match responses
        if self.method is not None and method != self.method:
            return False
        return self.path.fullmatch(path) is not None

    def matches_status(self, status: int) -> bool:
        if self.status_code is not None:
            return status == self.status_code
        if self.status_class is not None:
            return status // 100 == self.status_class
        return 200 <= status < 400  # no status given: any success or redirect

    def value(self, headers: list[tuple[bytes, bytes]]) -> float | None:
        if self.value_header is None:
            return None
        raw = next((v for n, v in headers if n == self.value_header), None)
        return None if raw is None else value_from_header(raw.decode("latin-1"))
