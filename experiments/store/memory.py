"""``memory://``: the in-process store, for development, tests and single-process sites.

It is the Redis store's twin: the same de-duplication (marks kept in generations, see
``VisitorWindow``), the same compare-and-set, audit ids shaped like Redis stream ids,
locks that expire. Nothing is shared between processes and nothing survives a restart.
No method awaits anything, so each one is atomic on the event loop.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from daypart.experiments.store.base import (
    AUDIT_MAXLEN,
    DAILY_RETENTION_DAYS,
    DEFAULT_PREFIX,
    DEFAULT_VISITOR_TTL_SECONDS,
    Cell,
    CellKey,
    Conversion,
    DailyCells,
    DailyCounts,
    ExperimentCounts,
    Exposure,
    Record,
    RecordResult,
    Store,
    VisitorWindow,
    add_to_cell,
    audit_fields,
    daily_range,
    encode_state,
    lock_millis,
    parse_options,
)
from daypart.rules.localtime import Clock

AuditEntry = tuple[str, dict[str, str]]


def _copy(cell: Cell) -> Cell:
    return Cell(cell.exposures, dict(cell.conversions), dict(cell.revenue), dict(cell.revenue_sq))


class MemoryStore(Store):
    def __init__(
        self,
        prefix: str = DEFAULT_PREFIX,
        visitor_ttl: float = DEFAULT_VISITOR_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self.prefix = prefix  # kept for parity with Redis; instances never share anything
        self.window = VisitorWindow(visitor_ttl)
        self.clock = clock
        self._names: set[str] = set()
        self._cells: dict[str, dict[CellKey, Cell]] = {}
        self._daily: dict[str, DailyCounts] = {}
        self._daily_cells: dict[str, DailyCells] = {}
        self._seen: dict[str, dict[int, set[str]]] = {}  # experiment -> generation -> marks
        self._states: dict[str, tuple[int, str]] = {}  # version, JSON as Redis keeps it
        self._audit: dict[str, deque[AuditEntry]] = {}
        self._audit_last: dict[str, tuple[int, int]] = {}
        self._locks: dict[str, tuple[str, float]] = {}  # owner, expiry

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        return cls(**parse_options(url, query, options, ("prefix", "visitor_ttl", "clock")))

    async def record(self, records: Sequence[Record]) -> RecordResult:
        live = self.window.live(self.clock())
        counted = 0
        # Per experiment, looked up once per batch: (the current generation's marks, the
        # older live generations' marks, the segment counters). A batch is mostly one
        # experiment's exposures, so the per-record work is two set probes and a counter.
        targets: dict[str, tuple[set[str], tuple[set[str], ...], dict[CellKey, Cell]]] = {}
        for record in records:
            name = record.experiment
            target = targets.get(name)
            if target is None:
                target = targets[name] = self._target(name, live)
            current, older, cells = target
            if type(record) is Exposure:
                mark = record.visitor
            else:
                assert isinstance(record, Conversion)
                mark = f"{record.visitor}|{record.goal}"
            if mark in current or any(mark in marks for marks in older):
                continue
            current.add(mark)
            counted += 1
            segment = record.segment
            key = (record.arm, segment.device, segment.daypart, segment.channel)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = Cell()
            add_to_cell(cell, record)
            if record.day is not None:
                self._count_day(name, record, key)
        return RecordResult(counted=counted, duplicates=len(records) - counted)

    def _target(
        self, name: str, live: range
    ) -> tuple[set[str], tuple[set[str], ...], dict[CellKey, Cell]]:
        self._names.add(name)
        generations = self._seen.get(name)
        if generations is None:
            generations = self._seen[name] = {}
        elif generations and min(generations) < live[-1]:
            # What Redis does by key expiry: drop whole generations nobody looks at.
            for old in [g for g in generations if g < live[-1]]:
                del generations[old]
        current = generations.setdefault(live[0], set())
        older = tuple(generations[g] for g in live[1:] if g in generations)
        return current, older, self._cells.setdefault(name, {})

    def _count_day(self, experiment: str, record: Record, key: CellKey) -> None:
        assert record.day is not None
        days = self._daily.setdefault(experiment, {})
        by_cell = self._daily_cells.setdefault(experiment, {})
        arms = days.get(record.day)
        if arms is None:
            arms = days[record.day] = {}
            # What Redis does by expiry: days older than the retention go (bounded memory).
            newest = max(days)
            for old in [day for day in days if day <= newest - DAILY_RETENTION_DAYS]:
                del days[old]
                by_cell.pop(old, None)
        add_to_cell(arms.setdefault(record.arm, Cell()), record)
        # Per segment, channels pooled (as Redis keeps it: a day's fields stay few).
        segment = (key[0], key[1], key[2], "")
        cell = by_cell.setdefault(record.day, {}).setdefault(segment, Cell())
        if type(record) is Exposure:
            cell.exposures += 1
        else:
            assert isinstance(record, Conversion)
            cell.conversions[record.goal] = cell.conversions.get(record.goal, 0) + 1

    async def daily(self, experiment: str, first_day: int, last_day: int) -> DailyCounts:
        days = self._daily.get(experiment, {})
        return {
            day: {arm: _copy(cell) for arm, cell in days[day].items()}
            for day in daily_range(first_day, last_day)
            if day in days
        }

    async def daily_cells(self, experiment: str, first_day: int, last_day: int) -> DailyCells:
        days = self._daily_cells.get(experiment, {})
        return {
            day: {key: _copy(cell) for key, cell in days[day].items()}
            for day in daily_range(first_day, last_day)
            if day in days
        }

    async def counts(self, experiment: str) -> ExperimentCounts:
        cells = {key: _copy(cell) for key, cell in self._cells.get(experiment, {}).items()}
        return ExperimentCounts(experiment=experiment, cells=cells)

    async def experiments(self) -> list[str]:
        return sorted(self._names)

    async def get_state(self, experiment: str) -> Mapping[str, Any] | None:
        stored = self._states.get(experiment)
        if stored is None:
            return None
        state: Mapping[str, Any] = json.loads(stored[1])  # a fresh copy, as from Redis
        return state

    async def set_state(
        self, experiment: str, state: Mapping[str, Any], *, expected_version: int | None
    ) -> bool:
        version, document = encode_state(state)
        stored = self._states.get(experiment)
        current = None if stored is None else stored[0]
        if current != expected_version:
            return False
        self._states[experiment] = (version, document)
        self._names.add(experiment)
        return True

    async def append_audit(self, experiment: str, entry: Mapping[str, str]) -> str:
        fields = audit_fields(entry)
        # Stream ids as XADD makes them: milliseconds-sequence, strictly increasing.
        millis = int(self.clock() * 1000)
        last = self._audit_last.get(experiment, (0, -1))
        entry_id = (millis, 0) if millis > last[0] else (last[0], last[1] + 1)
        self._audit_last[experiment] = entry_id
        text_id = f"{entry_id[0]}-{entry_id[1]}"
        log = self._audit.get(experiment)
        if log is None:
            log = self._audit[experiment] = deque(maxlen=AUDIT_MAXLEN)
        log.append((text_id, fields))
        self._names.add(experiment)
        return text_id

    async def audit(self, experiment: str, count: int = 100) -> list[AuditEntry]:
        log = self._audit.get(experiment)
        if not log or count <= 0:
            return []
        return [(entry_id, dict(fields)) for entry_id, fields in list(log)[-count:]]

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        ttl = lock_millis(ttl_seconds) / 1000
        now = self.clock()
        held = self._locks.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._locks[name] = (owner, now + ttl)
        return True

    async def release_lock(self, name: str, owner: str) -> None:
        held = self._locks.get(name)
        if held is not None and held[0] == owner:
            del self._locks[name]

    async def ping(self) -> None:
        return None

    async def reset(self, experiment: str) -> None:
        self._cells.pop(experiment, None)
        self._daily.pop(experiment, None)
        self._daily_cells.pop(experiment, None)
        self._seen.pop(experiment, None)
        self._states.pop(experiment, None)
        self._audit.pop(experiment, None)
        self._audit_last.pop(experiment, None)
        self._names.discard(experiment)

    async def close(self) -> None:
        return None
