"""A rule's ``when`` written back as YAML text, for tools that propose rules.

The inverse of ``load_conditions.read_when``: ``condition_text(c)`` loads as ``c`` again
(tests/rules/test_condition_text.py checks every field). Written as one flow mapping, the
way the examples write conditions: ``{device: desktop, daypart: evening}``. Values are
plain words where YAML reads them back as the same string, double-quoted otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from daypart.rules.model import ALL_DAYS, DAY_NAMES, DEVICES, WEEKDAYS, WEEKEND, Condition

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Words YAML 1.1 or 1.2 would read as something other than a string.
_SPECIAL = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
# Line separators YAML may fold, the BOM, surrogates and what YAML does not call printable.
_ESCAPED = frozenset("\u2028\u2029\ufeff") | {chr(c) for c in range(0xD800, 0xE000)}


def scalar_text(value: str) -> str:
    """``evening`` as is; ``"/booking/**"``, ``"*"`` or ``"yes"`` double-quoted."""
    if _PLAIN.fullmatch(value) and value.lower() not in _SPECIAL:
        return value
    return '"' + "".join(_quoted_char(char) for char in value) + '"'


def _quoted_char(char: str) -> str:
    """One character inside a YAML double-quoted scalar: printable ones as themselves,
    the rest (controls, line separators, the BOM) escaped. A rule file can hold such values
    through escapes, and they must come back the same."""
    if char in '"\\':
        return "\\" + char
    code = ord(char)
    if 0x20 <= code <= 0x7E or (0xA0 <= code <= 0xFFFD and char not in _ESCAPED) or code > 0xFFFF:
        return char
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _one_or_list(values: Iterable[str]) -> str:
    items = [scalar_text(value) for value in values]
    return items[0] if len(items) == 1 else f"[{', '.join(items)}]"


def _days_text(days: frozenset[int]) -> str:
    for name, group in (("all", ALL_DAYS), ("weekdays", WEEKDAYS), ("weekend", WEEKEND)):
        if days == group:
            return name
    return _one_or_list(DAY_NAMES[day] for day in sorted(days))


def _matchers_text(matchers: Mapping[str, frozenset[str]]) -> str:
    entries = (f"{scalar_text(name)}: {_one_or_list(sorted(v))}" for name, v in matchers.items())
    return "{" + ", ".join(entries) + "}"


def condition_text(when: Condition, daypart_order: Sequence[str] = ()) -> str:
    """``when`` as a YAML flow mapping. ``daypart_order``: the file's daypart names, so a
    list of dayparts reads in the file's order (else alphabetical)."""
    parts: list[str] = []
    if when.device is not None:
        parts.append(f"device: {_one_or_list(d for d in DEVICES if d in when.device)}")
    if when.daypart is not None:
        rank = {name: i for i, name in enumerate(daypart_order)}
        ordered = sorted(when.daypart, key=lambda name: (rank.get(name, len(rank)), name))
        parts.append(f"daypart: {_one_or_list(ordered)}")
    if when.days is not None:
        parts.append(f"days: {_days_text(when.days)}")
    if when.path is not None:
        parts.append(f"path: {_one_or_list(when.path)}")
    if when.method is not None:
        parts.append(f"method: {_one_or_list(sorted(when.method))}")
    for kind, matchers in (("query", when.query), ("header", when.header), ("cookie", when.cookie)):
        if matchers:
            parts.append(f"{kind}: {_matchers_text(matchers)}")
    if when.visitor is not None:
        parts.append(f"visitor: {when.visitor}")
    return "{" + ", ".join(parts) + "}"
