"""What the store raises: redis-py's (and the memory store's) failures, translated.

    DaypartError                     daypart.rules.errors
    └── StoreError                   the store failed to carry out an operation
        └── StoreUnavailable         it cannot be reached right now (retry later)

``operation`` names what was being done ("recording 500 records", "reading counts"), so
a caller can log it without parsing the message.
"""

from __future__ import annotations

from daypart.rules.errors import DaypartError


class StoreError(DaypartError):
    """The store failed to carry out an operation."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class StoreUnavailable(StoreError):
    """The store cannot be reached (connection refused, timeout, failover in progress)."""
