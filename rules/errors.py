"""daypart's exception tree. Each error lives with its concern; the root lives here, in
the lowest layer, so that every package can derive from it without importing upwards.

    DaypartError                     every error daypart raises on purpose
    ├── RulesError                   a rule file could not be loaded (carries every Problem)
    ├── ExperimentError              daypart.experiments.errors
    │   ├── ExperimentMisuse         unknown experiment, goal, action or arm
    │   ├── InvalidTransition        the action is not allowed in the current state
    │   └── StateConflict            the state changed meanwhile; retry
    └── StoreError                   daypart.experiments.store.errors
        └── StoreUnavailable         the store cannot be reached right now

Statistics misuse raises the built-in ``ValueError``, as SciPy users expect.

``ExperimentError``, ``StoreError`` and ``StoreUnavailable`` were importable from here
before they moved to their own packages; those names still resolve (with a
``DeprecationWarning``), looked up by name when first used, so that this lowest layer
never imports the layers above it.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from typing import Any, Literal

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


MOVED = {
    "ExperimentError": "daypart.experiments.errors",
    "StoreError": "daypart.experiments.store.errors",
    "StoreUnavailable": "daypart.experiments.store.errors",
}


def moved(name: str, importer: str) -> Any:
    """A name that moved out of this module, with a warning that says where to."""
    home = MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {importer!r} has no attribute {name!r}")
    warnings.warn(
        f"{importer}.{name} moved to {home}.{name}; import it from there",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(home), name)


def __getattr__(name: str) -> Any:
    return moved(name, __name__)
