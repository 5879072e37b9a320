"""Path globs as marketers write them: ``*`` stays within one path segment, ``**`` crosses
segments, ``?`` is one character. Compiled once to a regular expression."""

from __future__ import annotations

import re
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


def glob_matches(pattern: str, path: str) -> bool:
    return compile_glob(pattern).fullmatch(path) is not None
