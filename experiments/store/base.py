"""The store contract: what daypart keeps between requests, workers and hosts.

Two implementations honour it identically (the same contract tests run against both):
``MemoryStore`` (``memory://``, in-process) and ``RedisStore`` (``redis://``,
``rediss://``, ``redis+cluster://``). Algorithms receive a store; they never build one.
The store knows nothing about statistics: it counts, and hands the counts back.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from daypart.experiments.store.errors import StoreError

DEFAULT_PREFIX = "daypart:"
DEFAULT_VISITOR_TTL_SECONDS = 90 * 24 * 3600
AUDIT_MAXLEN = 10_000  # entries kept per experiment (Redis trims approximately)
DAILY_RETENTION_DAYS = 400
"""Per-day counts are kept this many days after their day (then Redis expires them and the
memory store drops them): more than a year of daily history per experiment, bounded."""


@dataclass(frozen=True, slots=True)
class Segment:
    """Where a visitor was when first exposed: the unit of per-segment statistics."""

    device: str  # mobile | tablet | desktop (bots are never counted)
    daypart: str  # the first daypart (file order) containing the local time, else "other"
    # The channel (``site.channel_from``): a listed channel, "other" or "direct"; "" when
    # the rules declare no channels, and for everything counted before they did.
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Exposure:
    """A visitor's first exposure to an experiment arm; counted once per visitor."""

    experiment: str
    arm: str
    segment: Segment
    visitor: str
    day: int | None = None  # the site's local date (``date.toordinal()``): daily counts


@dataclass(frozen=True, slots=True)
class Conversion:
    """A visitor reached a goal; counted once per (experiment, goal, visitor)."""

    experiment: str
    arm: str
    segment: Segment
    visitor: str
    goal: str
    value: float | None = None
    day: int | None = None  # the site's local date (``date.toordinal()``): daily counts


Record = Exposure | Conversion


@dataclass(slots=True)
class Cell:
    """The counters of one (arm, device, daypart, channel) for one experiment."""

    exposures: int = 0
    conversions: dict[str, int] = field(default_factory=dict)  # goal -> count
    revenue: dict[str, float] = field(default_factory=dict)  # goal -> sum of values
    revenue_sq: dict[str, float] = field(default_factory=dict)  # goal -> sum of squares


CellKey = tuple[str, str, str, str]  # (arm, device, daypart, channel); channel "" if none
DailyCounts = dict[int, dict[str, Cell]]  # day (date ordinal) -> arm -> that day's counters
# day (date ordinal) -> (arm, device, daypart, "") -> that day's exposures and conversions
# (channels pooled, no revenue): what a bandit's report needs where its weights differ by
# segment (device × daypart).
DailyCells = dict[int, dict[CellKey, Cell]]


@dataclass(slots=True)
class ExperimentCounts:
    experiment: str
    cells: dict[CellKey, Cell] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What a ``record`` call did: how many records changed a counter, and how many were
    duplicates the store refused (a second exposure or conversion of the same visitor)."""

    counted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class VisitorWindow:
    """How long a store remembers that a visitor's record was counted.

    Both stores keep those de-duplication marks in *generations* of ``ttl / generations``
    seconds each, and forget a whole generation at once: in Redis one hash per
    generation and shard replaces one key per visitor, about 4.5x less memory (see
    ``loadtests/bench_store.py``). So a mark lives at least ``ttl`` and at most
    ``ttl + period`` seconds after the record that wrote it. Every worker must use the
    same ``ttl``, or they number the generations differently.
    """

    ttl: float = DEFAULT_VISITOR_TTL_SECONDS
    generations: int = 3

    def __post_init__(self) -> None:
        if not (self.ttl > 0 and math.isfinite(self.ttl)) or self.generations < 1:
            raise ValueError(
                f"visitor TTL must be a positive, finite number of seconds; got {self.ttl!r}"
            )

    @property
    def period(self) -> float:
        return self.ttl / self.generations

    def current(self, now: float) -> int:
        return int(now // self.period)

    def live(self, now: float) -> range:
        """The generations whose marks still count at ``now``, newest first."""
        current = self.current(now)
        return range(current, current - self.generations - 1, -1)

    def expires_at(self, generation: int) -> float:
        """When a generation's marks are forgotten (epoch seconds)."""
        return (generation + 1) * self.period + self.ttl


# -- shared by both implementations, so they cannot drift apart ---------------------------


def daily_range(first_day: int, last_day: int) -> range:
    """The days a ``daily`` call reads: at most ``DAILY_RETENTION_DAYS``, the newest."""
    first_day = max(first_day, last_day - DAILY_RETENTION_DAYS + 1)
    return range(first_day, last_day + 1)


def add_to_cell(cell: Cell, record: Record) -> None:
    """Count one record in ``cell`` (both stores' per-day counters, the memory store's
    segment counters)."""
    if not isinstance(record, Conversion):
        cell.exposures += 1
        return
    goal = record.goal
    cell.conversions[goal] = cell.conversions.get(goal, 0) + 1
    value = revenue_value(record.value)
    if value is not None:
        cell.revenue[goal] = cell.revenue.get(goal, 0.0) + value
        cell.revenue_sq[goal] = cell.revenue_sq.get(goal, 0.0) + value * value


def revenue_value(value: float | None) -> float | None:
    """The value a conversion adds to revenue: None when absent, or not a finite number
    whose square is finite too (a garbled value header must not poison the sums)."""
    if value is None or not math.isfinite(value) or not math.isfinite(value * value):
        return None
    return float(value)


def parse_options(
    url: str, query: Mapping[str, str], options: Mapping[str, Any], known: Sequence[str]
) -> dict[str, Any]:
    """A store's own options: from the URL's ``query``, overridden by keyword ``options``;
    converted to their types, unknown names refused (``url`` names the culprit)."""
    merged: dict[str, Any] = {**query, **options}
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise StoreError(
            f"unknown store option {', '.join(unknown)} in {url!r}; expected {', '.join(known)}"
        )
    if "visitor_ttl" in merged:
        try:
            merged["visitor_ttl"] = float(merged["visitor_ttl"])
            VisitorWindow(merged["visitor_ttl"])
        except (TypeError, ValueError) as exc:
            raise StoreError(f"store option visitor_ttl: {exc}") from exc
    if "prefix" in merged and not isinstance(merged["prefix"], str):
        raise StoreError(f"store option prefix must be a string, got {merged['prefix']!r}")
    if "clock" in merged and not callable(merged["clock"]):
        raise StoreError("store option clock must be a callable returning epoch seconds")
    return merged


def encode_state(state: Mapping[str, Any]) -> tuple[int, str]:
    """The state's ``version`` and its JSON, as both stores keep it."""
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"a rollout state needs an int 'version', got {version!r}")
    return version, json.dumps(dict(state), sort_keys=True, separators=(",", ":"))


def audit_fields(entry: Mapping[str, str]) -> dict[str, str]:
    if not entry:
        raise ValueError("an audit entry needs at least one field")
    return {str(key): str(value) for key, value in entry.items()}


def lock_millis(ttl_seconds: float) -> int:
    if not ttl_seconds > 0:
        raise ValueError(f"a lock needs a positive TTL, got {ttl_seconds!r}")
    return max(1, round(ttl_seconds * 1000))


class Store(ABC):
    """Abstract store. All methods are coroutines; none is called on the request path
    except through the buffered recorder."""

    prefix: str

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Self:
        """Build a store from its URL; ``store_from_url`` calls this for the scheme's class.
        Raises ``StoreError`` for options the store does not know."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a URL")

    @abstractmethod
    async def record(self, records: Sequence[Record]) -> RecordResult:
        """Apply records in order; each is atomic with its de-duplication. Raises
        ``StoreUnavailable`` when nothing could be applied (the caller retries the batch;
        applying a record twice is harmless because of the de-duplication keys)."""

    @abstractmethod
    async def counts(self, experiment: str) -> ExperimentCounts: ...

    @abstractmethod
    async def daily(self, experiment: str, first_day: int, last_day: int) -> DailyCounts:
        """Counts per day and arm for the days ``first_day``..``last_day`` (date ordinals,
        both included) that have any; at most ``DAILY_RETENTION_DAYS`` days are kept.
        Records without a ``day`` are counted in ``counts`` only."""

    @abstractmethod
    async def daily_cells(self, experiment: str, first_day: int, last_day: int) -> DailyCells:
        """Exposures and conversions per day, arm and segment (device × daypart; the
        key's channel is always "": channels are pooled, so they cannot multiply a day's
        counters) for the days ``first_day``..``last_day`` that have any, kept like
        ``daily``'s. Revenue is left out: only the weight periods' analysis reads them."""

    @abstractmethod
    async def experiments(self) -> list[str]:
        """Names of experiments with any counts or state, sorted."""

    @abstractmethod
    async def get_state(self, experiment: str) -> Mapping[str, Any] | None:
        """The rollout state document last written, or None."""

    @abstractmethod
    async def set_state(
        self, experiment: str, state: Mapping[str, Any], *, expected_version: int | None
    ) -> bool:
        """Write ``state`` (JSON-serialisable, must contain an int ``version``) only if the
        stored version equals ``expected_version`` (None: only if no state exists yet).
        Returns False when another writer got there first."""

    @abstractmethod
    async def append_audit(self, experiment: str, entry: Mapping[str, str]) -> str:
        """Append to the experiment's audit log; returns the entry id."""

    @abstractmethod
    async def audit(self, experiment: str, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """The newest ``count`` audit entries, oldest first."""

    @abstractmethod
    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew (same owner) a lock that expires by itself."""

    @abstractmethod
    async def release_lock(self, name: str, owner: str) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the store cannot be reached."""

    @abstractmethod
    async def reset(self, experiment: str) -> None:
        """Delete every counter, state and audit entry of one experiment."""

    @abstractmethod
    async def close(self) -> None: ...
