"""``redis://``, ``rediss://``, ``redis+cluster://``: the store shared by every worker and host.

Key layout (``daypart:`` is the default prefix; ``{name}`` is the experiment's hash tag,
so all of one experiment's keys live in one Redis Cluster slot and its scripts may touch
several of them):

    daypart:{name}:counts            hash    "arm|device|daypart|exposures" -> int,
                                             "...|conv|goal" -> int,
                                             "...|rev|goal", "...|rev2|goal" -> float;
                                             with channels the daypart part is
                                             "daypart@channel" (older fields: no channel)
    daypart:{name}:seen:<gen>:<shard> hash   de-duplication marks: "visitor" (exposed),
                                             "visitor|goal" (converted); expires with
                                             its generation (see ``VisitorWindow``)
    daypart:{name}:day:<day>         hash    one day's counts per arm: "arm|exposures",
                                             "arm|conv|goal", "arm|rev|goal", ...; <day> is
                                             the site's local date as an ordinal; expires
                                             ``DAILY_RETENTION_DAYS`` (400) after the day
    daypart:{name}:state             hash    version -> int, doc -> JSON (compare-and-set)
    daypart:{name}:audit             stream  rollout transitions, MAXLEN ~ 10000
    daypart:lock:<lock>              string  owner, with PX expiry
    daypart:experiments              set     names of experiments with data

Marks are sharded by CRC32 of the visitor id into small hashes, which Redis keeps in its
compact listpack encoding: about 27 MB per million visitors, against about 125 MB for
one key with a TTL per visitor (``loadtests/bench_store.py`` measures both).

Writes that must be atomic are Lua scripts (``lua/*.lua``, package data), called by SHA
and loaded again when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH). Every
redis-py error is translated: connection trouble to ``StoreUnavailable``, anything else
to ``StoreError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from importlib.resources import files
from typing import Any, TypeAlias, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import exceptions as rx
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.typing import EncodableT, FieldT

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
    Record,
    RecordResult,
    Store,
    VisitorWindow,
    audit_fields,
    daily_range,
    encode_state,
    lock_millis,
    parse_options,
    revenue_value,
)
from daypart.experiments.store.errors import StoreError, StoreUnavailable
from daypart.rules.localtime import Clock

Client: TypeAlias = "Redis | RedisCluster"

# Joins a cell's daypart and channel in a counts field ("arm|device|daypart@channel|...");
# fields without it are a cell without a channel, as every field written before channels.
# Names never contain it (the rule language's names are [a-z][a-z0-9_-]*).
CHANNEL_MARK = "@"

# Marks of one generation spread over this many hashes, each small enough for the compact
# listpack encoding (up to 512 entries by default: ~4M visitors per generation). Fewer
# shards save key overhead, more keep lookups short; 8192 measured best of 4096..16384.
SEEN_SHARDS = 8192
_OWN_OPTIONS = ("prefix", "visitor_ttl", "clock")
# Short timeouts: an outage should cost the background tasks a second or two per attempt,
# never a hang (the site keeps serving; records wait in the recorder's buffer).
_CLIENT_DEFAULTS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
}
_UNAVAILABLE = (
    rx.ConnectionError,  # includes BusyLoadingError (a restarted Redis loading its data)
    rx.TimeoutError,
    rx.ClusterError,  # includes ClusterDownError: retries over a changing cluster ran out
    rx.SlotNotCoveredError,
    rx.TryAgainError,
    rx.MasterDownError,
    rx.ReadOnlyError,  # a replica promoted or demoted mid-failover
    OSError,  # includes the built-in TimeoutError
)


def _retry() -> Retry:
    # Not redis-py's default of ten retries with backoff up to a second each: the recorder
    # retries whole batches itself. One quick retry still rides over a pooled connection
    # the server closed while it sat idle, or a restart.
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), retries=1)


class _Script:
    """A Lua script from the package data, with the SHA1 Redis will know it by."""

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = (files("daypart.experiments.store") / "lua" / f"{name}.lua").read_text(
            encoding="utf-8"
        )
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


_RECORD = _Script("record")
_SET_STATE = _Script("set_state")
_ACQUIRE_LOCK = _Script("acquire_lock")
_RELEASE_LOCK = _Script("release_lock")


def _text(value: str | bytes) -> str:
    # Tolerates a client built with decode_responses=False as well.
    return value.decode() if isinstance(value, bytes) else value


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# A day's hash holds the arm's fields ("arm|exposures", "arm|conv|goal", ...: at most three
# parts) and the cells' ("arm|device|daypart|exposures", ...: four or five).
_ARM_FIELD_PARTS = 3


def _set_counter(cell: Cell, kind: str, goal: list[str], value: str) -> None:
    """One field of a counts hash (``...|exposures``, ``...|conv|GOAL``, ...) into a cell."""
    if kind == "exposures":
        cell.exposures = int(value)
    elif kind == "conv":
        cell.conversions[goal[0]] = int(value)
    elif kind == "rev":
        cell.revenue[goal[0]] = float(value)
    elif kind == "rev2":
        cell.revenue_sq[goal[0]] = float(value)


def _day_expiry_millis(day: int) -> int:
    """When a day's counts expire: ``DAILY_RETENTION_DAYS`` after the day (as UTC)."""
    epoch_day = day - _EPOCH_ORDINAL
    return (epoch_day + 1 + DAILY_RETENTION_DAYS) * 86_400_000


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class RedisStore(Store):
    """The store over a ``redis.asyncio`` client (standalone or cluster). The store owns
    the client: ``close()`` closes it."""

    def __init__(
        self,
        client: Client,
        *,
        prefix: str = DEFAULT_PREFIX,
        visitor_ttl: float = DEFAULT_VISITOR_TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.window = VisitorWindow(visitor_ttl)
        # Only the generation of de-duplication marks follows this clock (so tests can move
        # it); lock expiry and audit ids follow the Redis server's clock.
        self.clock = clock
        self._registry = f"{prefix}experiments"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """``redis://[[user]:password@]host[:port][/db][?option=value&...]``; also
        ``rediss://`` (TLS) and ``redis+cluster://`` / ``rediss+cluster://``.

        The store's own options (``prefix``, ``visitor_ttl``, ``clock``) come from the URL
        query or from keywords (keywords win); every other option goes to redis-py
        (``socket_timeout=5``, ``max_connections=50``, ...)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
            raise StoreError(f"not a Redis URL: {url!r}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        own_query = {name: value for name, value in query if name in _OWN_OPTIONS}
        own_keywords = {name: value for name, value in options.items() if name in _OWN_OPTIONS}
        own = parse_options(url, own_query, own_keywords, _OWN_OPTIONS)
        client_options = {
            "retry": _retry(),
            **_CLIENT_DEFAULTS,
            **{name: value for name, value in options.items() if name not in _OWN_OPTIONS},
            "decode_responses": True,
        }
        client_url = urlunsplit(
            (
                scheme.removesuffix("+cluster"),
                parts.netloc,
                parts.path,
                urlencode([(name, value) for name, value in query if name not in _OWN_OPTIONS]),
                parts.fragment,
            )
        )
        client: Client
        try:
            if scheme.endswith("+cluster"):
                client = RedisCluster.from_url(client_url, **client_options)
            else:
                client = Redis.from_url(client_url, **client_options)
                pool = client.connection_pool
                # redis-py takes unknown options silently and fails on first connect;
                # building one (unconnected) connection now names the typo at start-up.
                pool.connection_class(**pool.connection_kwargs)
        except (TypeError, ValueError, rx.RedisError, rx.RedisClusterException) as exc:
            raise StoreError(f"cannot use {url!r}: {exc}") from exc
        return cls(client, **own)

    # -- keys ---------------------------------------------------------------------------

    def _key(self, experiment: str, kind: str) -> str:
        return f"{self.prefix}{{{experiment}}}:{kind}"

    def _day_key(self, experiment: str, day: int) -> str:
        return f"{self.prefix}{{{experiment}}}:day:{day}"

    def _lock_key(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis unavailable while {doing}: {exc}") from exc
        except (rx.RedisError, rx.RedisClusterException) as exc:
            raise StoreError(f"Redis failed while {doing}: {exc}") from exc

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)
        except rx.NoScriptError:
            await self.client.script_load(script.source)
            return await self.client.evalsha(script.sha, len(keys), *keys, *args)

    # -- counting -------------------------------------------------------------------------

    async def record(self, records: Sequence[Record]) -> RecordResult:
        if not records:
            return RecordResult(0, 0)
        window = self.window
        now = self.clock()
        live = window.live(now)
        expire_at = int(window.expires_at(live[0]) * 1000)
        # One script call per experiment: its records are atomic with their marks, and
        # all its keys share the experiment's slot.
        calls: dict[str, tuple[list[str], list[str | int]]] = {}
        for record in records:
            seen = self._key(record.experiment, "seen")
            call = calls.get(record.experiment)
            if call is None:
                call = calls[record.experiment] = (
                    [self._key(record.experiment, "counts")],
                    [len(live), expire_at],
                )
            keys, args = call
            shard = zlib.crc32(record.visitor.encode()) % SEEN_SHARDS
            keys.extend(f"{seen}:{generation}:{shard}" for generation in live)
            segment = record.segment
            cell = f"{record.arm}|{segment.device}|{segment.daypart}"
            if segment.channel:
                cell += CHANNEL_MARK + segment.channel
            if isinstance(record, Conversion):
                value = revenue_value(record.value)
                args += ("c", cell, record.visitor, record.goal)
                args += ("", "") if value is None else (repr(value), repr(value * value))
            else:
                args += ("x", cell, record.visitor, "", "", "")
            if record.day is None:
                keys.append(self._key(record.experiment, "day:none"))  # never written
                args += (record.arm, "")
            else:
                keys.append(self._day_key(record.experiment, record.day))
                args += (record.arm, _day_expiry_millis(record.day))
        with self._errors("recording"):
            counted = await self._record(list(calls.values()), sorted(calls))
        return RecordResult(counted=counted, duplicates=len(records) - counted)

    async def _record(
        self, calls: list[tuple[list[str], list[str | int]]], names: list[str]
    ) -> int:
        # One round trip: every script call and the registry update in one pipeline (not a
        # transaction: each script is atomic by itself, and a failed batch is retried
        # whole, harmlessly, thanks to the marks).
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            # execute_command: cluster pipelines block the evalsha() helper, not EVALSHA
            pipe.execute_command("EVALSHA", _RECORD.sha, len(keys), *keys, *args)
        pipe.sadd(self._registry, *names)
        results = await pipe.execute(raise_on_error=False)
        counted = 0
        missing: list[tuple[list[str], list[str | int]]] = []
        for call, result in zip(calls, results, strict=False):
            if isinstance(result, rx.NoScriptError):
                missing.append(call)  # nothing of this call ran
            elif isinstance(result, BaseException):
                raise result
            else:
                counted += int(result)
        if isinstance(results[-1], BaseException):
            raise results[-1]
        for keys, args in missing:
            counted += int(await self._run(_RECORD, keys, args))
        return counted

    async def counts(self, experiment: str) -> ExperimentCounts:
        with self._errors("reading counts"):
            raw = await self.client.hgetall(self._key(experiment, "counts"))
        counts = ExperimentCounts(experiment)
        cells = counts.cells
        for raw_field, raw_value in raw.items():
            arm, device, daypart, kind, *goal = _text(raw_field).split("|")
            daypart, _, channel = daypart.partition(CHANNEL_MARK)  # none in older fields
            key = (arm, device, daypart, channel)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = Cell()
            _set_counter(cell, kind, goal, _text(raw_value))
        return counts

    async def _day_hashes(
        self, experiment: str, first_day: int, last_day: int
    ) -> list[tuple[int, dict[Any, Any]]]:
        days = daily_range(first_day, last_day)
        with self._errors("reading daily counts"):
            pipe = self.client.pipeline(transaction=False)
            for day in days:
                pipe.hgetall(self._day_key(experiment, day))
            raws = await pipe.execute()
        return [(day, raw) for day, raw in zip(days, raws, strict=True) if raw]

    async def daily(self, experiment: str, first_day: int, last_day: int) -> DailyCounts:
        found: DailyCounts = {}
        for day, raw in await self._day_hashes(experiment, first_day, last_day):
            arms: dict[str, Cell] = {}
            for raw_field, raw_value in raw.items():
                parts = _text(raw_field).split("|")
                if len(parts) > _ARM_FIELD_PARTS:  # a cell's: daily_cells
                    continue
                arm, kind, *goal = parts
                _set_counter(arms.setdefault(arm, Cell()), kind, goal, _text(raw_value))
            found[day] = arms
        return found

    async def daily_cells(self, experiment: str, first_day: int, last_day: int) -> DailyCells:
        found: DailyCells = {}
        for day, raw in await self._day_hashes(experiment, first_day, last_day):
            cells: dict[CellKey, Cell] = {}
            for raw_field, raw_value in raw.items():
                parts = _text(raw_field).split("|")
                if len(parts) <= _ARM_FIELD_PARTS:  # an arm's: daily
                    continue
                arm, device, daypart, kind, *goal = parts
                key = (arm, device, daypart, "")  # channels pooled: see record.lua
                _set_counter(cells.setdefault(key, Cell()), kind, goal, _text(raw_value))
            if cells:  # days counted before cells were: none
                found[day] = cells
        return found

    async def experiments(self) -> list[str]:
        with self._errors("listing experiments"):
            names = await self.client.smembers(self._registry)
        return sorted(_text(name) for name in names)

    # -- rollout state, audit log, locks -------------------------------------------------

    async def get_state(self, experiment: str) -> Mapping[str, Any] | None:
        with self._errors("reading a rollout state"):
            document = await self.client.hget(self._key(experiment, "state"), "doc")
        if document is None:
            return None
        state: Mapping[str, Any] = json.loads(_text(document))
        return state

    async def set_state(
        self, experiment: str, state: Mapping[str, Any], *, expected_version: int | None
    ) -> bool:
        version, document = encode_state(state)
        expected = "" if expected_version is None else str(expected_version)
        with self._errors("writing a rollout state"):
            written = await self._run(
                _SET_STATE, [self._key(experiment, "state")], [expected, version, document]
            )
            if written:
                await self.client.sadd(self._registry, experiment)
        return bool(written)

    async def append_audit(self, experiment: str, entry: Mapping[str, str]) -> str:
        fields = audit_fields(entry)
        with self._errors("appending to the audit log"):
            pipe = self.client.pipeline(transaction=False)
            payload = cast("dict[FieldT, EncodableT]", fields)  # redis-py's dict is invariant
            pipe.xadd(
                self._key(experiment, "audit"), payload, maxlen=AUDIT_MAXLEN, approximate=True
            )
            pipe.sadd(self._registry, experiment)
            entry_id, _ = await pipe.execute()
        return _text(entry_id)

    async def audit(self, experiment: str, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        if count <= 0:
            return []
        with self._errors("reading the audit log"):
            newest = await self.client.xrevrange(self._key(experiment, "audit"), count=count)
        return [
            (_text(entry_id), {_text(k): _text(v) for k, v in fields.items()})
            for entry_id, fields in reversed(newest or [])
            if entry_id is not None and fields is not None
        ]

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        millis = lock_millis(ttl_seconds)
        with self._errors("taking a lock"):
            taken = await self._run(_ACQUIRE_LOCK, [self._lock_key(name)], [owner, millis])
        return bool(taken)

    async def release_lock(self, name: str, owner: str) -> None:
        with self._errors("releasing a lock"):
            await self._run(_RELEASE_LOCK, [self._lock_key(name)], [owner])

    # -- housekeeping ----------------------------------------------------------------------

    async def ping(self) -> None:
        with self._errors("pinging"):
            await self.client.ping()

    async def reset(self, experiment: str) -> None:
        fixed = [self._key(experiment, kind) for kind in ("counts", "state", "audit")]
        with self._errors("resetting an experiment"):
            await self.client.srem(self._registry, experiment)
            await self.client.unlink(*fixed)
            for kind in ("seen", "day"):
                pattern = _glob_escape(self._key(experiment, kind)) + ":*"
                batch: list[str] = []
                async for key in self.client.scan_iter(match=pattern, count=1000):
                    batch.append(_text(key))
                    if len(batch) >= 1000:
                        await self.client.unlink(*batch)
                        batch.clear()
                if batch:
                    await self.client.unlink(*batch)

    async def close(self) -> None:
        with self._errors("closing"):
            await self.client.aclose()
