"""A variant compiled for the request path: what it changes in the request the app sees
(path rewrite, request headers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from daypart.middleware.bounded import ByteBudgetCache, str_bytes
from daypart.rules.model import Variant

# Rewritten paths kept per variant, in bytes (path, rewritten path, raw path and the
# entry): about 4,000 paths of 60 characters. A path longer than a real page's is
# rewritten on every request instead of pushing out the site's own paths.
REWRITE_CACHE_BYTES = 1 << 20
_MAX_CACHED_REWRITE = 2048  # bytes of one entry
_PAIR = 56  # the (rewritten path, raw path) tuple
_SLASHES = re.compile(r"/{2,}")


@dataclass(frozen=True, slots=True)
class CompiledVariant:
    variant: Variant
    rewrite: tuple[str, ...] | None  # the template split at "{path}"
    headers: tuple[tuple[bytes, bytes], ...]
    header_names: frozenset[bytes]
    changes_request: bool  # a rewrite or request headers: the app gets a changed scope
    # path -> (rewritten path, raw_path); the rule set's lifetime, bounded in bytes
    rewrites: ByteBudgetCache[str, tuple[str, bytes]] = field(
        default_factory=lambda: ByteBudgetCache(REWRITE_CACHE_BYTES, _MAX_CACHED_REWRITE),
        compare=False,
    )

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
        # Sites have few distinct paths per variant: remember them (bounded in bytes).
        cache = self.rewrites
        found = cache.get(path)
        if found is None:
            rewritten = self.rewritten_path(path)
            # surrogateescape: a server may hand over undecodable bytes as lone surrogates
            raw = quote(rewritten, errors="surrogateescape").encode("ascii")
            found = (rewritten, raw)
            cache.remember(
                path, found, str_bytes(path) + str_bytes(rewritten) + str_bytes(raw) + _PAIR
            )
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
