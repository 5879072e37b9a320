"""Typed reads from the YAML tree that record a problem instead of raising.

The loader wants every mistake in the file, not the first, so each helper returns
``None`` when the value is unusable and leaves a message naming what was found and what
was expected at the node's position.

YAML aliases make one node appear in many places (``*rule`` a thousand times over, each
naming a list of a thousand items). The reader functions that walk a collection are
wrapped in ``once_per_node``: the first reading of a node is remembered and later ones
return it, so the loader's work follows the file as written, not as expanded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar, cast

from daypart.rules.errors import Problem
from daypart.rules.model import Location
from daypart.rules.yaml_source import Map, Scalar, Seq, YNode

NAME = re.compile(r"[a-z][a-z0-9_-]*")
NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter"
# RFC 9110 token characters: what an HTTP header name (or method) may contain.
TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
TOKEN_RULE = "a name without spaces, quotes or any of ()<>@,;:/[]?={}"


MAX_SHOWN = 80  # characters of a value quoted in a message


def shown(text: str) -> str:
    """A value as quoted in a message: a long one is cut, so a message stays one line."""
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def latin1_problem(text: str) -> str | None:
    """What keeps ``text`` from being an HTTP header value (Latin-1 bytes), or None."""
    for index, char in enumerate(text):
        if ord(char) > 0xFF:
            return f"found '{char}' (U+{ord(char):04X}) at character {index + 1}, outside Latin-1"
    return None


def found(node: YNode) -> str:
    """How a value reads in "found ..." messages."""
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    value = node.value
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {node.text}"
    if isinstance(value, int | float):
        return f"the number {shown(node.text)}"
    return f"the string '{shown(node.text)}'"


def one_of(names: Iterable[str]) -> str:
    return ", ".join(names)


P = ParamSpec("P")
T = TypeVar("T")


class Reader:
    """Collects the problems of one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        # (reader function, id(node), other arguments) -> (result, first problem it found)
        self.memo: dict[tuple[object, ...], tuple[object, Problem | None]] = {}

    def location(self, node: YNode) -> Location:
        return Location(self.source, node.line, node.column)

    def error(self, node: YNode, message: str) -> None:
        self.problems.append(Problem(self.source, node.line, node.column, message))

    def mapping(self, node: YNode) -> Map | None:
        if isinstance(node, Map):
            return node
        self.error(node, f"expected a mapping, found {found(node)}")
        return None

    def sequence(self, node: YNode) -> Seq | None:
        if isinstance(node, Seq):
            return node
        self.error(node, f"expected a list, found {found(node)}")
        return None

    def string(self, node: YNode, expected: str = "a string") -> str | None:
        if isinstance(node, Scalar) and isinstance(node.value, str) and node.text:
            return node.value
        self.error(node, f"expected {expected}, found {found(node)}")
        return None

    def text(self, node: YNode, expected: str = "a string") -> str | None:
        """A value compared as text (header, query, cookie values): numbers read as written."""
        if isinstance(node, Scalar) and node.value is not None and node.text:
            return node.text
        self.error(node, f"expected {expected}, found {found(node)}")
        return None

    def boolean(self, node: YNode) -> bool | None:
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return node.value
        self.error(node, f"expected true or false, found {found(node)}")
        return None

    def number(self, node: YNode, expected: str = "a number") -> float | None:
        if (
            isinstance(node, Scalar)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return float(node.value)
        self.error(node, f"expected {expected}, found {found(node)}")
        return None

    def items(self, node: YNode, what: str) -> tuple[YNode, ...]:
        """A value given as one item or a list of items (``device: mobile`` or a list)."""
        if isinstance(node, Seq):
            if not node.items:
                self.error(node, f"found an empty list; expected at least one {what}")
            return node.items
        if isinstance(node, Map):
            self.error(node, f"expected a {what} or a list of them, found a mapping")
            return ()
        return (node,)

    def keys(self, node: Map, allowed: tuple[str, ...], where: str) -> None:
        _keys(self, node, allowed, where)

    def require(self, node: Map, key: str, owner: str, expected: str) -> YNode | None:
        value = node.get(key)
        if value is None:
            self.error(node, f"missing key '{key}' in {owner}; expected {expected}")
        return value

    def name(self, key: Scalar, kind: str) -> bool:
        if NAME.fullmatch(key.text):
            return True
        self.error(key, f"invalid {kind} name '{shown(key.text)}'; expected {NAME_RULE}")
        return False


def once_per_node(
    read: Callable[Concatenate[Reader, P], T],
) -> Callable[Concatenate[Reader, P], T]:
    """``read(r, node, *args)`` computed once per node (and arguments) in a file.

    A repeated call returns the first result. If the first call found problems, one of
    them is recorded again (the loader drops duplicates), so callers that compare
    ``len(r.problems)`` before and after still see that the value was bad. The node, and
    any other argument that is not a string or a tuple (the list of references), lives as
    long as the reader, so its ``id`` identifies it.
    """

    @functools.wraps(read)
    def reader(r: Reader, /, *args: P.args, **kwargs: P.kwargs) -> T:
        node, *rest = args
        key = (
            read,
            id(node),
            *(a if isinstance(a, str | tuple) else id(a) for a in rest),
            *kwargs.items(),
        )
        known = r.memo.get(key)
        if known is not None:
            result, problem = known
            if problem is not None:
                r.problems.append(problem)
            return cast(T, result)
        before = len(r.problems)
        result = read(r, *args, **kwargs)
        r.memo[key] = (result, r.problems[before] if len(r.problems) > before else None)
        return result

    return reader


@once_per_node
def _keys(r: Reader, node: Map, allowed: tuple[str, ...], where: str) -> None:
    for entry in node:
        if entry.name not in allowed:
            # "{daypart:lunch}" reads as one key: YAML needs a space after the colon.
            hint = " (a space is missing after ':')" if ":" in entry.name else ""
            r.error(
                entry.key,
                f"unknown key '{shown(entry.name)}' {where}; expected one of "
                f"{one_of(allowed)}{hint}",
            )


@dataclass(frozen=True, slots=True)
class Reference:
    """A name used in one place and defined in another, checked once everything is read."""

    kind: str  # "variant", "daypart", "goal", "experiment"
    name: str
    node: YNode
