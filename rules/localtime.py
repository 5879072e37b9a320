"""Visitor-local time: which IANA zone a request is in, and what minute of the week it is.

Converting an epoch to local time costs about a microsecond; a site serves thousands of
requests in the same minute and zone, so each zone's answer is kept until the next local
minute boundary. Zone offsets change only at whole minutes in the tz database, so a cached
(weekday, minute) stays right until that boundary, DST transitions included.

Zone names come from rule files (``site.timezone``) and from visitors (a cookie or header
named in ``site.timezone_from``), and both go through ``zone_named``. It accepts the
canonical IANA names that ``zoneinfo.available_timezones()`` lists and nothing else:
ZoneInfo would also open tzdata's ``right/...`` variants, whose transitions count leap
seconds (``right/Europe/Amsterdam`` still reads 02:00 when Amsterdam's clocks already show
03:00, for 27 seconds around every DST change), ``posix/...`` duplicates, the machine's
``localtime`` link, and any other file under the tz path that happens to be a TZif file.
The list of names is read once, on first use (about 50 ms), so requests pay a set lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Clock = Callable[[], float]  # seconds since the epoch, like time.time

# IANA names are ASCII letters, digits, "/", "_", "-", "+"; bounding the length keeps
# hostile cookie values from reaching the filesystem lookups inside ZoneInfo.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
_MAX_ZONE_NAME = 40
_MAX_CACHED_NAMES = 2048
# Listed by available_timezones() on Debian-like systems, but a link to whatever zone the
# machine is set to, not an IANA name: the same rule file would mean different things on
# different servers.
_NOT_IANA = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True, slots=True)
class LocalMinute:
    """A minute of the week in one zone: all that rules look at."""

    zone: ZoneInfo
    weekday: int  # Monday is 0
    minute: int  # minutes since local midnight

    @property
    def hhmm(self) -> str:
        return f"{self.minute // 60:02d}:{self.minute % 60:02d}"


_zones: dict[str, ZoneInfo | None] = {}


@cache
def zone_names() -> frozenset[str]:
    """The canonical IANA zone names this machine has (read once; about 600 names)."""
    names = available_timezones() - _NOT_IANA
    return frozenset(name for name in names if not name.startswith(("right/", "posix/")))


def zone_named(name: str) -> ZoneInfo | None:
    """The zone for a canonical IANA name, or None for anything else (never raises).

    Cheap enough for values visitors send: a dict lookup when seen before; else a length
    check and a set lookup before ZoneInfo is asked, and the answer is kept (bounded).
    """
    if len(name) > _MAX_ZONE_NAME:
        return None  # never kept: the cache is bounded in entries, so in bytes only so
    found = _zones.get(name)
    if found is not None or name in _zones:
        return found
    zone: ZoneInfo | None = None
    if _ZONE_NAME.fullmatch(name) and name in zone_names():
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone = None
    if len(_zones) >= _MAX_CACHED_NAMES:
        _zones.clear()  # hostile traffic with random names must not grow memory
    _zones[name] = zone
    return zone


def minute_at(epoch: float, zone: ZoneInfo) -> tuple[LocalMinute, float]:
    """The local minute at ``epoch`` and the epoch at which it ends."""
    local = datetime.fromtimestamp(epoch, zone)
    into_minute = local.second + local.microsecond / 1_000_000
    return LocalMinute(zone, local.weekday(), local.hour * 60 + local.minute), (
        epoch - into_minute + 60.0
    )


class MinuteCache:
    """Per zone, the current local minute, recomputed only when a minute boundary passes."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[ZoneInfo, tuple[float, float, LocalMinute]] = {}

    def minute(self, epoch: float, zone: ZoneInfo) -> LocalMinute:
        entry = self._entries.get(zone)
        if entry is not None and entry[0] <= epoch < entry[1]:
            return entry[2]
        local, until = minute_at(epoch, zone)
        if len(self._entries) >= _MAX_CACHED_NAMES:
            self._entries.clear()
        self._entries[zone] = (until - 60.0, until, local)
        return local
