"""Path globs as marketers write them: ``*`` stays within one path segment, ``**`` crosses
segments, ``?`` is one character. Compiled once to a regular expression."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts))


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str]:
    """Any of ``patterns`` as one regular expression: one regex call per path, however
    many globs a rule or a setting lists."""
    return re.compile("|".join(f"(?:{compile_glob(p).pattern})" for p in patterns))


def literal_prefix(pattern: str) -> str:
    """What every path the glob matches starts with (the text before its first wildcard)."""
    return re.split(r"[*?]", pattern, maxsplit=1)[0]


def glob_matches(pattern: str, path: str) -> bool:
    return compile_glob(pattern).fullmatch(path) is not None
