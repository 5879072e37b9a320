"""daypart's exception tree.

    DaypartError
    ├── RulesError            a rule file could not be loaded (carries every Problem found)
    ├── StoreError            the store failed (translated from redis-py errors)
    │   └── StoreUnavailable  the store cannot be reached right now
    └── ExperimentError       misuse of the experiments API (unknown experiment, bad action)

Statistics misuse raises the built-in ``ValueError``, as SciPy users expect.
The tree lives in the lowest layer (rules) so every package can raise from it
without importing upwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a rule file, printed as ``file:line:col: message``."""

    file: str
    line: int
    column: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


class DaypartError(Exception):
    """Base class of every error daypart raises on purpose."""


class RulesError(DaypartError):
    """A rule file failed to load; ``problems`` lists every error found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("RulesError needs at least one problem")
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(DaypartError):
    """The store failed to carry out an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (connection refused, timeout, failover in progress)."""


class ExperimentError(DaypartError):
    """An experiments API was used wrongly (unknown experiment, action not allowed now)."""
