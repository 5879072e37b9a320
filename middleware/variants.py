"""A variant compiled for the request path: what it changes in the request the app sees
(path rewrite, request headers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from daypart.rules.model import Variant

_REWRITE_CACHE_SIZE = 4096
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True)
class CompiledVariant:
    variant: Variant
    rewrite: tuple[str, ...] | None  # the template split at "{path}"
    headers: tuple[tuple[bytes, bytes], ...]
    header_names: frozenset[bytes]
    changes_request: bool  # a rewrite or request headers: the app gets a changed scope
    # path -> (rewritten path, raw_path); the rule set's lifetime, bounded
    rewrites: dict[str, tuple[str, bytes]] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, variant: Variant) -> CompiledVariant:
        headers = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in variant.headers.items()
        )
        return cls(
            variant,
            None if variant.rewrite is None else tuple(variant.rewrite.split("{path}")),
            headers,
            frozenset(name for name, _ in headers),
            variant.rewrite is not None or bool(headers),
        )

    def _rewrite(self, path: str) -> tuple[str, bytes]:
        # Sites have few distinct paths per variant: remember them (bounded).
        cache = self.rewrites
        found = cache.get(path)
        if found is None:
            rewritten = self.rewritten_path(path)
            found = (rewritten, quote(rewritten).encode("ascii"))
            if len(cache) >= _REWRITE_CACHE_SIZE:
                cache.clear()
            cache[path] = found
        return found

    def rewritten_path(self, path: str) -> str:
        assert self.rewrite is not None  # callers check changes_request first
        # "/booking{path}" on "/" must give "/booking/", and never "//x".
        return _SLASHES.sub("/", path.join(self.rewrite))

    def apply(self, scope: dict[str, object]) -> dict[str, object]:
        """The scope the app sees; ``scope`` is the caller's own copy, changed in place."""
        if self.rewrite is not None:
            scope["path"], scope["raw_path"] = self._rewrite(str(scope["path"]))
        if self.headers:
            original = scope["headers"]
            assert isinstance(original, list | tuple)
            scope["headers"] = [
                (name, value) for name, value in original if name not in self.header_names
            ] + list(self.headers)
        return scope
