"""Typed reads from the YAML tree that record a problem instead of raising.

The loader wants every mistake in the file, not the first, so each helper returns
``None`` when the value is unusable and leaves a message naming what was found and what
was expected at the node's position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from daypart.rules.errors import Problem
from daypart.rules.model import Location
from daypart.rules.yaml_source import Map, Scalar, Seq, YNode

NAME = re.compile(r"[a-z][a-z0-9_-]*")
NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter"
# RFC 9110 token characters: what an HTTP header name (or method) may contain.
TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
TOKEN_RULE = "a name without spaces, quotes or any of ()<>@,;:/[]?={}"


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
        return f"the number {node.text}"
    return f"the string '{node.text}'"


def one_of(names: Iterable[str]) -> str:
    return ", ".join(names)


class Reader:
    """Collects the problems of one file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

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
        for entry in node:
            if entry.name not in allowed:
                # "{daypart:lunch}" reads as one key: YAML needs a space after the colon.
                hint = " (a space is missing after ':')" if ":" in entry.name else ""
                self.error(
                    entry.key,
                    f"unknown key '{entry.name}' {where}; expected one of {one_of(allowed)}{hint}",
                )

    def require(self, node: Map, key: str, owner: str, expected: str) -> YNode | None:
        value = node.get(key)
        if value is None:
            self.error(node, f"missing key '{key}' in {owner}; expected {expected}")
        return value

    def name(self, key: Scalar, kind: str) -> bool:
        if NAME.fullmatch(key.text):
            return True
        self.error(key, f"invalid {kind} name '{key.text}'; expected {NAME_RULE}")
        return False


@dataclass(frozen=True, slots=True)
class Reference:
    """A name used in one place and defined in another, checked once everything is read."""

    kind: str  # "variant", "daypart", "goal", "experiment"
    name: str
    node: YNode
