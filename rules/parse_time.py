"""Times, days and durations as marketers write them.

Each parser takes the text from the YAML file and returns the model's value, or raises
``ValueError`` whose message (what was found, what was expected) goes to the user as is.
"""

from __future__ import annotations

import re

from daypart.rules.model import ALL_DAYS, DAY_NAMES, WEEKDAYS, WEEKEND

_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {name: day for names in (DAY_NAMES, _FULL_DAY_NAMES) for day, name in enumerate(names)}
_GROUPS = {"weekdays": WEEKDAYS, "weekend": WEEKEND, "all": ALL_DAYS}
DAYS_EXPECTED = "mon..sun (or monday..sunday), a range such as mon-fri, weekdays, weekend or all"

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_EXPECTED = "a number with a unit s, m, h or d such as 30m, 24h or 2d, or seconds"


def parse_clock(text: str) -> int:
    """``"17:30"`` → 1050 minutes since midnight; ``"24:00"`` (the end of the day) is 1440."""
    match = _CLOCK.fullmatch(text.strip())
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        if minutes < 60 and (hours < 24 or (hours == 24 and minutes == 0)):
            return hours * 60 + minutes
    raise ValueError(f"invalid time '{text}'; expected HH:MM from 00:00 to 24:00")


def _day(text: str) -> int:
    day = _DAYS.get(text.strip().lower())
    if day is None:
        raise ValueError(f"unknown day '{text.strip()}'; expected {DAYS_EXPECTED}")
    return day


def parse_days(text: str) -> frozenset[int]:
    """One day spec: a group, a day name or a range; ranges may wrap (``fri-mon``)."""
    word = text.strip().lower()
    group = _GROUPS.get(word)
    if group is not None:
        return group
    if "-" in word:
        first, _, last = word.partition("-")
        start, end = _day(first), _day(last)
        return frozenset((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset({_day(word)})


def parse_duration(text: str) -> float:
    """``"24h"`` → 86400.0; parts add up (``"1h30m"``); a bare number is seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)
    except ValueError:
        parts = _DURATION_PART.findall(cleaned)
        if not parts or "".join(number + unit for number, unit in parts) != cleaned:
            raise ValueError(f"invalid duration '{text}'; expected {DURATION_EXPECTED}") from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not seconds >= 0 or seconds == float("inf"):  # rejects NaN too
        raise ValueError(f"invalid duration '{text}'; expected {DURATION_EXPECTED}")
    return seconds


def minutes_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
