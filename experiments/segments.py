"""A segment: where a visitor was when first exposed, as a key, a name and in words.

The store keys its cells by arm and then device, daypart and channel. A segment is the
cell's device and daypart, and its channel where it was counted with one: where the rules
declare channels (``site.channels``) a segment is ``("desktop", "evening", "newsletter")``,
without them ``("desktop", "evening")`` exactly as before channels existed (and so are the
cells counted before the rules declared channels). Everything that groups cells by
segment, names a segment or writes it in a sentence goes through these helpers.

A bandit's weights stay per device × daypart (``device_daypart_of``): a day's counts per
segment, which its report needs, are kept pooled over channels to bound the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from daypart.experiments.store.base import CellKey

SEGMENT_FIELDS: tuple[str, ...] = ("device", "daypart", "channel")
"""A segment's fields, in the order they follow the arm in a cell key; ``channel`` only
where the rules declare channels."""

DEVICE_DAYPART: tuple[str, ...] = SEGMENT_FIELDS[:2]
"""The fields every segment has, and all a bandit's per-segment weights are keyed by."""

SegmentKey = tuple[str, ...]
"""A segment's values in ``SEGMENT_FIELDS`` order: ``("desktop", "evening")`` or
``("desktop", "evening", "newsletter")``."""

NO_DAYPART = "other"  # the daypart of a local time that no daypart contains

_WORDS = {"device": "on {}", "daypart": "in the {}", "channel": "from {}"}

_T = TypeVar("_T")


def segment_of(cell: CellKey) -> SegmentKey:
    """The segment a cell of the store counts (its key without the arm, and without the
    channel when it has none)."""
    return cell[1:4] if cell[3] else cell[1:3]


def device_daypart_of(cell: CellKey) -> SegmentKey:
    """The device × daypart a cell counts, pooled over channels: a bandit's segment."""
    return cell[1:3]


def segment_fields(segment: SegmentKey) -> dict[str, str]:
    """``{"device": "desktop", "daypart": "evening"}`` (and ``"channel"`` when it has one)."""
    if not len(DEVICE_DAYPART) <= len(segment) <= len(SEGMENT_FIELDS):
        raise ValueError(f"segment {segment!r}: expected {', '.join(SEGMENT_FIELDS)}")
    return dict(zip(SEGMENT_FIELDS, segment, strict=False))


def segment_from_fields(data: Mapping[str, Any]) -> SegmentKey:
    """The segment ``segment_fields`` wrote: device and daypart, the channel if given."""
    key = tuple(str(data[name]) for name in DEVICE_DAYPART)
    channel = data.get("channel")
    return (*key, str(channel)) if channel else key


def segment_name(segment: SegmentKey) -> str:
    """``"desktop × evening"``, ``"desktop × evening × newsletter"``: as the reports and
    pages name a segment."""
    return " × ".join(segment)


def segment_words(segment: SegmentKey) -> str:
    """``"on desktop in the evening"`` (``"... from newsletter"``): a segment inside a
    sentence."""
    parts = []
    for field, value in segment_fields(segment).items():
        if field == "daypart" and value == NO_DAYPART:
            parts.append("outside every daypart")
        else:
            parts.append(_WORDS.get(field, field + " {}").format(value))
    return " ".join(parts)


def decision_in(decisions: Mapping[SegmentKey, _T], segment: SegmentKey) -> _T | None:
    """What ``decisions`` decided for ``segment``: its own, else (for a segment with a
    channel) its device × daypart's — decided before the rules declared channels, it
    applies to every channel of it."""
    found = decisions.get(segment)
    if found is None and len(segment) > len(DEVICE_DAYPART):
        return decisions.get(segment[: len(DEVICE_DAYPART)])
    return found


def served_decisions(
    decisions: Mapping[SegmentKey, _T], channels: tuple[str, ...]
) -> Mapping[SegmentKey, _T]:
    """``decisions`` as the request path looks them up, in one dict lookup by the
    request's segment: with ``channels`` (every channel a request can count in), a device ×
    daypart decision is copied to each of its channels without a decision of its own.
    Without channels a channel's decision matches no request: its device × daypart
    learns again, pooled over channels."""
    if not channels or all(len(key) > len(DEVICE_DAYPART) for key in decisions):
        return decisions
    served = dict(decisions)
    for key, decided in decisions.items():
        if len(key) == len(DEVICE_DAYPART):
            for channel in channels:
                served.setdefault((*key, channel), decided)
    return served
