"""Edits to a rule file's text that leave every other line as the marketer wrote it.

``daypart propose`` changes a few lines: it inserts a rule before another, changes what a
rule serves, and ends a rule's experiment. Re-serialising the YAML would lose comments,
quoting, alignment and key order everywhere else, so the edits work on lines: the rule is
found where the loader located it (``Rule.location``), its keys where the YAML reader saw
them. A layout these edits cannot handle safely (a rule written as a flow mapping, a value
on the next line) raises ``LayoutError`` naming the rule, and nothing is edited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from daypart.rules.model import Rule
from daypart.rules.yaml_source import Entry, Map, Scalar, Seq, read_yaml

_ITEM = re.compile(r"( *)- +")  # a block list item whose mapping starts on the dash's line


class LayoutError(Exception):
    """The rule is written in a way the line edits cannot change safely."""


class RuleText:
    """A rule file's lines and the edits planned on them, applied by ``text()``."""

    def __init__(self, text: str, source: str) -> None:
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.lines = text.splitlines()
        self.trailing_newline = text.endswith(("\n", "\r"))
        self._inserted: dict[int, list[str]] = {}  # index of a line -> lines to put before it
        self._replaced: dict[int, str] = {}
        tree, _ = read_yaml(text, source)
        self._items: dict[tuple[int, int], Map] = {}
        rules = tree.get("rules") if isinstance(tree, Map) else None
        if isinstance(rules, Seq):
            for item in rules.items:
                if isinstance(item, Map):
                    self._items[(item.line, item.column)] = item

    def text(self) -> str:
        out: list[str] = []
        for index, line in enumerate(self.lines):
            out.extend(self._inserted.get(index, ()))
            out.append(self._replaced.get(index, line))
        out.extend(self._inserted.get(len(self.lines), ()))
        text = self.newline.join(out)
        return text + self.newline if self.trailing_newline else text

    def copy(self) -> RuleText:
        clone = RuleText.__new__(RuleText)
        clone.newline, clone.lines, clone.trailing_newline = (
            self.newline,
            self.lines,
            self.trailing_newline,
        )
        clone._inserted = {key: list(value) for key, value in self._inserted.items()}
        clone._replaced = dict(self._replaced)
        clone._items = self._items
        return clone

    # --- where a rule is ------------------------------------------------------------------

    def _item(self, rule: Rule) -> tuple[Map, str]:
        """The rule's mapping and the text before its first key (``"  - "``)."""
        location = rule.location
        item = None if location is None else self._items.get((location.line, location.column))
        if location is None or item is None:
            raise LayoutError(f"rule '{rule.name}' is not an item of the rules list")
        prefix = self.lines[location.line - 1][: location.column - 1]
        if not _ITEM.fullmatch(prefix):
            raise LayoutError(
                f"rule '{rule.name}' is not written as a block list item ('- name: ...')"
            )
        return item, prefix

    def _own_line(self, rule: Rule, key: str) -> tuple[int, str]:
        """The index of the line holding ``key: value`` of the rule, and the text before the
        key; the value must be a scalar on that line, and the key the line's first."""
        item, prefix = self._item(rule)
        if self.lines[item.line - 1][item.column - 1] == "{":
            raise LayoutError(
                f"rule '{rule.name}' is written as a flow mapping {{...}}, whose keys the line "
                "edits cannot change"
            )
        entry: Entry | None = item.entry(key)
        if entry is None:
            raise LayoutError(f"rule '{rule.name}' has no {key}")
        if not isinstance(entry.value, Scalar) or entry.value.line != entry.key.line:
            raise LayoutError(f"the {key} of rule '{rule.name}' is not on the line of its key")
        index = entry.key.line - 1
        before = self.lines[index][: entry.key.column - 1]
        if before.strip() and before != prefix:
            raise LayoutError(f"the {key} of rule '{rule.name}' shares its line with another key")
        return index, before

    # --- edits ----------------------------------------------------------------------------

    def insert_rule_before(
        self,
        rule: Rule,
        comment: Sequence[str],
        name: str,
        when: str,
        serve: str,
    ) -> None:
        """A new rule (``when`` as YAML text) right above ``rule`` and the comment lines
        directly above it (they describe ``rule``), with ``comment`` above the new one."""
        _, prefix = self._item(rule)
        assert rule.location is not None  # _item checked it
        index = rule.location.line - 1
        while index > 0 and self.lines[index - 1].lstrip().startswith("#"):
            index -= 1
        dash = prefix[: prefix.index("-")]
        keys = " " * len(prefix)
        block = [f"{dash}# {line}".rstrip() for line in comment]
        block += [f"{prefix}name: {name}", f"{keys}when: {when}", f"{keys}serve: {serve}"]
        self._inserted.setdefault(index, []).extend(block)

    def comment_above(self, rule: Rule, comment: Sequence[str]) -> None:
        """Comment lines directly above ``rule`` (below any already inserted there)."""
        _, prefix = self._item(rule)
        assert rule.location is not None
        dash = prefix[: prefix.index("-")]
        lines = [f"{dash}# {line}".rstrip() for line in comment]
        self._inserted.setdefault(rule.location.line - 1, []).extend(lines)

    def set_serve(self, rule: Rule, variant: str) -> None:
        index, before = self._own_line(rule, "serve")
        self._replaced[index] = f"{before}serve: {variant}"

    def end_experiment(self, rule: Rule, note: str) -> None:
        """The rule's ``experiment:`` line becomes a comment saying it ended."""
        index, before = self._own_line(rule, "experiment")
        if before.strip():
            raise LayoutError(
                f"the experiment of rule '{rule.name}' is its first key; move name: first"
            )
        self._replaced[index] = f"{before}# experiment: {rule.experiment}  ({note})"
