"""The channel a request came through: the optional third segment dimension.

``site.channel_from`` lists where to read it (``query:NAME``, ``header:NAME``,
``cookie:NAME``), and the first source present with a non-empty value wins;
``site.channels`` lists the channels counted. A value is compared case-insensitively
(trimmed and lower-cased); one that names no listed channel counts as ``other``, and a
request with none of the sources counts as ``direct``. So a request's channel is always
one of at most ``MAX_CHANNELS + 2`` names, whatever a visitor sends: hostile values cannot
create counters.
"""

from __future__ import annotations

from daypart.rules.context import Context
from daypart.rules.model import Site

OTHER_CHANNEL = "other"  # a value that names no listed channel
DIRECT_CHANNEL = "direct"  # none of the sources present
RESERVED_CHANNELS = (OTHER_CHANNEL, DIRECT_CHANNEL)
# Every channel is a counter per experiment, arm, device and daypart, and a part of the
# visitor cookie's marks: the list is short, and so are the names.
MAX_CHANNELS = 32
MAX_CHANNEL_NAME = 32
# A longer value cannot be a channel once trimmed: not lower-cased, not looked up.
_MAX_VALUE = 64


class ChannelReader:
    """Reads a request's channel per the site's ``channel_from`` and ``channels``."""

    __slots__ = ("_names", "sources")

    def __init__(self, site: Site) -> None:
        self.sources = tuple((source.kind, source.name) for source in site.channel_from)
        # name -> the same name: a request's channel is the rule set's own string.
        self._names = {name: name for name in site.channels}

    @property
    def names(self) -> tuple[str, ...]:
        """Every channel a request can be counted in: the listed ones, other, direct."""
        return (*self._names, OTHER_CHANNEL, DIRECT_CHANNEL)

    def channel(self, context: Context) -> str:
        for kind, name in self.sources:
            if kind == "query":
                value = context.query.get(name)
            elif kind == "header":
                value = context.headers.get(name)
            else:
                value = context.cookies.get(name)
            if value:
                return self.named(value)
        return DIRECT_CHANNEL

    def named(self, value: str) -> str:
        """The channel a source's value names: a listed channel, else ``other``."""
        if len(value) > _MAX_VALUE:
            return OTHER_CHANNEL
        return self._names.get(value.strip().lower(), OTHER_CHANNEL)
