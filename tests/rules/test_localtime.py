from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

import pytest

from daypart.rules import localtime
from daypart.rules.localtime import MinuteCache, minute_at, zone_named, zone_names

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("zone", "before", "after", "minute_before", "minute_after"),
    [
        # Amsterdam springs forward: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        (AMSTERDAM, utc(2026, 3, 29, 0, 59, 30), utc(2026, 3, 29, 1, 0, 10), 119, 180),
        # ... and falls back: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        (AMSTERDAM, utc(2026, 10, 25, 0, 59, 30), utc(2026, 10, 25, 1, 0, 10), 179, 120),
        # Sydney falls back in April: 03:00 AEDT becomes 02:00 AEST at 16:00 UTC.
        (SYDNEY, utc(2026, 4, 4, 15, 59, 30), utc(2026, 4, 4, 16, 0, 10), 179, 120),
        # ... and springs forward in October: 02:00 AEST becomes 03:00 AEDT.
        (SYDNEY, utc(2026, 10, 3, 15, 59, 30), utc(2026, 10, 3, 16, 0, 10), 119, 180),
    ],
)
def test_dst_transitions_through_the_minute_cache(
    zone: ZoneInfo, before: float, after: float, minute_before: int, minute_after: int
) -> None:
    cache = MinuteCache()
    assert cache.minute(before, zone).minute == minute_before
    assert cache.minute(after, zone).minute == minute_after
    assert cache.minute(after, zone).weekday == 6  # both transitions fall on a Sunday locally


def test_cache_matches_direct_conversion_every_13_seconds_across_a_transition() -> None:
    cache = MinuteCache()
    start = utc(2026, 10, 25, 0, 30)
    for step in range(0, 3600, 13):
        epoch = start + step
        assert cache.minute(epoch, AMSTERDAM) == minute_at(epoch, AMSTERDAM)[0]


def test_minute_boundary_is_exact() -> None:
    cache = MinuteCache()
    assert cache.minute(utc(2026, 1, 5, 16, 29, 59), AMSTERDAM).hhmm == "17:29"
    assert cache.minute(utc(2026, 1, 5, 16, 30, 0), AMSTERDAM).hhmm == "17:30"
    assert cache.minute(utc(2026, 1, 5, 16, 30, 0), AMSTERDAM).weekday == 0


@pytest.mark.parametrize(
    "name",
    ["", "Europe/Amsterdm", "../../etc/passwd", "Europe/" + "x" * 100, "Mars/Olympus", "\x00"],
)
def test_invalid_zone_names_are_ignored(name: str) -> None:
    assert zone_named(name) is None


def test_valid_zone_names() -> None:
    assert zone_named("America/Argentina/Buenos_Aires") == ZoneInfo(
        "America/Argentina/Buenos_Aires"
    )
    assert zone_named("UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize(
    "name",
    [
        "right/Europe/Amsterdam",  # leap-second variant: an hour off around DST changes
        "posix/Europe/Amsterdam",
        "localtime",  # the machine's own zone, under a name that is no IANA name
        "europe/amsterdam",  # not the canonical spelling
        "Europe/Amsterdam/",
    ],
)
def test_only_canonical_iana_names(name: str) -> None:
    assert zone_named(name) is None


def test_canonical_names_are_the_available_ones() -> None:
    names = zone_names()
    assert "Europe/Amsterdam" in names
    assert not any(name.startswith(("right/", "posix/")) for name in names)
    assert names <= available_timezones()
    assert zone_names() is names  # read once


def test_zone_lookups_are_cached_and_bounded() -> None:
    # Visitors choose these names: each new one costs a set lookup, and the cache of
    # answers stays bounded however many different names arrive.
    for i in range(5000):
        assert zone_named(f"Mars/Crater_{i}") is None
    assert len(localtime._zones) <= localtime._MAX_CACHED_NAMES
    assert zone_named("Europe/Amsterdam") is zone_named("Europe/Amsterdam")
