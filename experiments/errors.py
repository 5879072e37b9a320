"""What the experiments API raises, split by what the caller should do about it.

    DaypartError                     daypart.rules.errors
    ├── ExperimentError              anything about an experiment (catch this for all)
    │   ├── ExperimentMisuse         a mistake in the call: unknown experiment, goal,
    │   │                            action or arm; fix the call
    │   ├── InvalidTransition        the action is not allowed in the current state
    │   │                            (pause a completed experiment); nothing changed
    │   └── StateConflict            someone else changed the state meanwhile; retry
    └── StoreError                   daypart.experiments.store.errors
        └── StoreUnavailable

Every ``ExperimentError`` carries ``experiment`` (the name, when there is one) and
``operation`` (what was attempted: "advance", "convert", ...), as httpx's errors carry
their request.
"""

from __future__ import annotations

from daypart.rules.errors import DaypartError


class ExperimentError(DaypartError):
    """Base class of the experiments API's errors."""

    def __init__(
        self, message: str, *, experiment: str | None = None, operation: str | None = None
    ) -> None:
        super().__init__(message)
        self.experiment = experiment
        self.operation = operation


class ExperimentMisuse(ExperimentError):
    """The call names something that does not exist or passes what cannot be used."""


class InvalidTransition(ExperimentError):
    """The rollout action is not allowed in the experiment's current state."""


class StateConflict(ExperimentError):
    """The stored rollout state changed while this action was being decided; retry."""
