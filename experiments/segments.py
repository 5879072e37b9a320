"""A segment: where a visitor was when first exposed, as a key, a name and in words.

The store keys its cells by arm and then the segment's fields (today device and daypart).
Everything that groups cells by segment, names a segment or writes it in a sentence goes
through these helpers, so a new dimension (a channel) joins in one place:
``SEGMENT_FIELDS`` and the words for it.
"""

from __future__ import annotations

from daypart.experiments.store.base import CellKey

SEGMENT_FIELDS: tuple[str, ...] = ("device", "daypart")
"""The segment's fields, in the order they follow the arm in a cell key."""

SegmentKey = tuple[str, ...]
"""A segment's values in ``SEGMENT_FIELDS`` order: ``("desktop", "evening")``."""

NO_DAYPART = "other"  # the daypart of a local time that no daypart contains

_WORDS = {"device": "on {}", "daypart": "in the {}", "channel": "from {}"}


def segment_of(cell: CellKey) -> SegmentKey:
    """The segment a cell of the store counts (its key without the arm)."""
    return tuple(cell[1 : 1 + len(SEGMENT_FIELDS)])


def segment_fields(segment: SegmentKey) -> dict[str, str]:
    """``{"device": "desktop", "daypart": "evening"}``."""
    return dict(zip(SEGMENT_FIELDS, segment, strict=True))


def segment_name(segment: SegmentKey) -> str:
    """``"desktop × evening"``: as the reports and pages name a segment."""
    return " × ".join(segment)


def segment_words(segment: SegmentKey) -> str:
    """``"on desktop in the evening"``: a segment inside a sentence."""
    parts = []
    for field, value in segment_fields(segment).items():
        if field == "daypart" and value == NO_DAYPART:
            parts.append("outside every daypart")
        else:
            parts.append(_WORDS.get(field, field + " {}").format(value))
    return " ".join(parts)
