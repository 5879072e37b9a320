"""What the matcher knows about one request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from daypart.rules.localtime import LocalMinute

_MAX_QUERY_FIELDS = 64
_MAX_QUERY_BYTES = 4096


@dataclass(slots=True)
class Context:
    device: str
    local: LocalMinute
    dayparts: frozenset[str]  # every daypart containing the local minute
    path: str
    method: str = "GET"
    query_string: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    cookies: Mapping[str, str] = field(default_factory=dict)
    new_visitor: bool = True
    _query: dict[str, str] | None = None

    @property
    def query(self) -> Mapping[str, str]:
        # Parsed only when a rule asks: most requests never look at the query.
        if self._query is None:
            if not self.query_string:
                self._query = {}
                return self._query
            # Bounded work for hostile query strings: a prefix is enough for UTM tags.
            raw = self.query_string[:_MAX_QUERY_BYTES].decode("latin-1")
            pairs = parse_qsl(raw, keep_blank_values=True)[:_MAX_QUERY_FIELDS]
            query: dict[str, str] = {}
            for name, value in pairs:
                query.setdefault(name, value)
            self._query = query
        return self._query
