"""Response header edits that must add to what the app set, never replace it."""

from __future__ import annotations

from collections.abc import Iterable


def merge_vary(existing: str | None, wanted: Iterable[str]) -> str:
    """``Vary`` with ``wanted`` added (case-insensitively, no duplicates); ``*`` stays ``*``."""
    tokens = [t.strip() for t in (existing or "").split(",") if t.strip()]
    if "*" in tokens:
        return "*"
    seen = {t.lower() for t in tokens}
    for name in wanted:
        if name.lower() not in seen:
            tokens.append(name)
            seen.add(name.lower())
    return ", ".join(tokens)


def make_private(existing: str | None) -> str:
    """``Cache-Control`` that keeps shared caches from storing one visitor's variant.

    The app's own directives (``max-age``, ``no-store``, ...) are kept; ``public`` and
    ``s-maxage`` are removed because they contradict ``private``.
    """
    directives = [d.strip() for d in (existing or "").split(",") if d.strip()]
    kept = [d for d in directives if d.lower() != "public" and not d.lower().startswith("s-maxage")]
    if not any(d.lower() == "private" or d.lower().startswith("private=") for d in kept):
        kept.insert(0, "private")
    return ", ".join(kept)
