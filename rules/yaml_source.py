"""YAML text to a small tree of nodes that remember their line and column.

ruamel.yaml composes the document into its node graph; nothing is ever *constructed*
(no tags are turned into Python objects), so a rule file cannot make the loader run
code, and every scalar, key and collection keeps the position the messages point at.
Composing (rather than loading into ``CommentedMap``) also lets us report every
duplicate key instead of stopping at the first.

Limits
------
A rule file is read on start-up and on every reload, and whatever it holds must turn into
either a rule set or a ``RulesError`` in bounded time and memory. Three limits see to it;
each is reported as a problem at the position where it is crossed, naming the limit and how
far over it the file is:

``MAX_FILE_BYTES`` (2 MiB)
    the size of the file. Reading YAML costs about 5 s per MB (pure-Python ruamel); a
    realistic rule file with 1,400 rules and experiments is 1 MB.
``MAX_NODES`` (250,000)
    values (scalars, lists and mappings, keys included) once every alias is expanded, so
    ``*name`` counts as the whole value it names. A realistic 1 MB file has about 125,000.
    Without it, a few kilobytes of nested aliases ("billion laughs") stand for more values
    than memory holds. Aliased values are still read only once (the tree shares them, and
    the loader validates a shared node once), so the limit bounds the work of whatever
    walks the expanded tree, merges (``<<: *defaults``) included.
``MAX_DEPTH`` (32)
    nesting of lists and mappings. The rule language needs 9 (counting the values at the
    leaves); more would exhaust Python's recursion limit in the YAML composer
    (``[[[[...`` 5,000 deep), and the scanner's work per token grows with the open
    ``[``/``{`` levels.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, StreamMark, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import RoundTripScanner

from daypart.rules.errors import Problem

Value = str | int | float | bool | None

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 250_000
MAX_DEPTH = 32

_CORE = "tag:yaml.org,2002:"
_MERGE = _CORE + "merge"
# Tags whose values we understand. Anything else (``!!python/object``, ``!custom``) is
# refused rather than silently read as a string.
_KNOWN_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1 spellings, for %YAML 1.1 files


@dataclass(frozen=True, slots=True)
class Scalar:
    value: Value
    text: str  # the scalar as written (without quotes)
    line: int  # 1-based, like every position here
    column: int


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[YNode, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Entry:
    key: Scalar
    value: YNode

    @property
    def name(self) -> str:
        return self.key.text


class Map:
    """A mapping in file order, with lookup by key text."""

    __slots__ = ("_index", "column", "entries", "line")

    def __init__(self, entries: tuple[Entry, ...], line: int, column: int) -> None:
        self.entries = entries
        self.line = line
        self.column = column
        self._index = {entry.name: entry for entry in entries}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, key: str) -> Entry | None:
        return self._index.get(key)

    def get(self, key: str) -> YNode | None:
        found = self._index.get(key)
        return None if found is None else found.value


YNode = Scalar | Seq | Map


class YamlSourceError(Exception):
    """The text is not a YAML document we can read at all; carries the one problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def decode(data: str | bytes, source: str) -> str:
    """The text of a rule file; binary or non-UTF-8 content is refused with a position."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            byte = data[exc.start]
            message = f"found byte 0x{byte:02x}, which is not UTF-8; expected a UTF-8 text file"
            raise YamlSourceError(Problem(source, line, column, message)) from exc
    else:
        text = data.removeprefix("\ufeff")
    nul = text.find("\x00")
    if nul >= 0:
        line, column = _position(text, nul)
        message = "found a NUL byte, so this is a binary file; expected YAML text"
        raise YamlSourceError(Problem(source, line, column, message))
    return text


def _syntax_problem(exc: YAMLError, text: str, source: str) -> Problem:
    if isinstance(exc, ReaderError):
        line, column = _position(text, exc.position)
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        return Problem(source, line, column, f"invalid character {shown}; expected printable text")
    if not isinstance(exc, MarkedYAMLError):
        return Problem(source, 1, 1, f"invalid YAML: {exc}")
    mark = exc.problem_mark or exc.context_mark
    line, column = (1, 1) if mark is None else (mark.line + 1, mark.column + 1)
    problem = str(exc.problem or exc.context or "syntax error")
    if "'\\t'" in problem:
        return Problem(source, line, column, "found a tab; expected spaces for indentation")
    if exc.context and exc.problem:
        problem = f"{problem} ({exc.context})"
    return Problem(source, line, column, f"invalid YAML: {problem}")


def _integer(text: str) -> int:
    cleaned = text.replace("_", "")
    sign = -1 if cleaned.startswith("-") else 1
    digits = cleaned.lstrip("+-")
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(digits, 0)
    return sign * int(digits, 10)  # YAML 1.2: a leading zero is not octal


def _scalar_value(tag: str, text: str) -> Value:
    if tag == _CORE + "null":
        return None
    if tag == _CORE + "bool":
        return text.lower() in _TRUE
    try:
        if tag == _CORE + "int":
            return _integer(text)
        if tag == _CORE + "float":
            return float(text.replace("_", "").replace(".inf", "inf").replace(".nan", "nan"))
    except ValueError:
        # e.g. YAML 1.1 sexagesimal "17:00" under a %YAML 1.1 directive: keep the text,
        # which is what the marketer meant.
        return text
    return text


class _Builder:
    """Turns ruamel nodes into ``YNode``s, sharing aliased nodes and collecting problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self._done: dict[int, YNode] = {}
        self._active: set[int] = set()

    def _problem(self, node: Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.source, mark.line + 1, mark.column + 1, message))

    def build(self, node: Node) -> YNode:
        key = id(node)
        done = self._done.get(key)
        if done is not None:
            return done
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if key in self._active:
            self._problem(node, "found an alias that contains itself; expected a finite value")
            return Scalar(None, "", line, column)
        tag = str(node.tag)
        if tag not in _KNOWN_TAGS:
            shown = tag.replace(_CORE, "!!", 1) if tag.startswith(_CORE) else tag
            self._problem(node, f"unsupported tag '{shown}'; expected plain YAML")
        self._active.add(key)
        try:
            built: YNode
            if isinstance(node, MappingNode):
                built = self._mapping(node, line, column)
            elif isinstance(node, SequenceNode):
                built = Seq(tuple(self.build(item) for item in node.value), line, column)
            else:
                text = str(node.value)
                if not text.isascii():
                    self._check_encodable(node, text)
                built = Scalar(_scalar_value(tag, text), text, line, column)
        finally:
            self._active.discard(key)
        self._done[key] = built
        return built

    def _check_encodable(self, node: Node, text: str) -> None:
        # A double-quoted "\ud800" is a lone surrogate: no encoding can write it, so the
        # server would fail on it (hashing a salt, encoding a rewritten path).
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(text[exc.start])
            self._problem(
                node,
                f"found the escape \\u{code:04x}, half of a surrogate pair; expected a "
                "character (write it as itself, or as \\U followed by 8 hex digits)",
            )

    def _key(self, node: Node) -> Scalar | None:
        if not isinstance(node, ScalarNode):
            self._problem(node, "found a complex key; expected a plain name")
            return None
        built = self.build(node)
        return built if isinstance(built, Scalar) else None

    def _merged(self, node: Node) -> list[Entry]:
        # "<<: *defaults" (or a list of them): entries to use where not given explicitly.
        built = self.build(node)
        sources = built.items if isinstance(built, Seq) else (built,)
        entries: list[Entry] = []
        for item in sources:
            if isinstance(item, Map):
                entries.extend(item.entries)
            else:
                self._problem(node, "found '<<' with something other than a mapping to merge")
        return entries

    def _mapping(self, node: MappingNode, line: int, column: int) -> Map:
        entries: dict[str, Entry] = {}
        merged: list[Entry] = []
        for key_node, value_node in node.value:
            if str(key_node.tag) == _MERGE:
                merged.extend(self._merged(value_node))
                continue
            key = self._key(key_node)
            value = self.build(value_node)
            if key is None:
                continue
            first = entries.get(key.text)
            if first is not None:
                self.problems.append(
                    Problem(
                        self.source,
                        key.line,
                        key.column,
                        f"duplicate key '{key.text}'; first given on line {first.key.line}",
                    )
                )
                continue
            entries[key.text] = Entry(key, value)
        for entry in merged:
            entries.setdefault(entry.name, entry)
        return Map(tuple(entries.values()), line, column)


class _LimitedComposer(Composer):
    """ruamel's composer, counting depth and values (aliases expanded) as it goes.

    Exceeding the depth stops composing at once (the composer recurses per level); too many
    values written out stops it too. Values that only aliases add cost nothing to compose
    (an alias is the node it names), so for them composing goes on, to report the total.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # redefining an anchor is legal YAML
        self.levels = 0
        self.written = 0  # values as written in the file
        self.expanded = 0  # values with every alias expanded
        self.crossed: Problem | None = None  # where the expanded count passed MAX_NODES
        self.source = "<rules>"
        self._sizes: dict[int, int] = {}  # id(anchored node) -> values, aliases expanded
        self._events: Any = None

    def _limit(self, mark: StreamMark, message: str) -> _LimitExceeded:
        return _LimitExceeded(Problem(self.source, mark.line + 1, mark.column + 1, message))

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Runs once per value of the file: kept lean (a realistic 1 MB file has 125,000).
        if self._events is None:
            self._events = self.parser  # a property that looks the parser up every time
        event = self._events.peek_event()
        if type(event) is AliasEvent:
            node = super().compose_node(parent, index)
            # A node still being composed (an alias inside its own anchor) counts as one;
            # the builder reports the cycle.
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return node
        self.levels += 1
        if self.levels > MAX_DEPTH:
            raise self._limit(
                event.start_mark,
                f"found nesting {self.levels} levels deep, over the limit of {MAX_DEPTH}; "
                "expected a flatter file",
            )
        self.written += 1
        if self.written > MAX_NODES:
            raise self._limit(
                event.start_mark,
                f"found more than {MAX_NODES:,} values, over the limit of {MAX_NODES:,}; "
                "expected a smaller rule file",
            )
        before = self.expanded
        node = super().compose_node(parent, index)
        self.levels -= 1
        self._count(1, event.start_mark)
        if event.anchor is not None:  # only anchored nodes are ever named again
            self._sizes[id(node)] = self.expanded - before
        return node

    def _count(self, size: int, mark: StreamMark) -> None:
        self.expanded += size
        if self.expanded > MAX_NODES and self.crossed is None:
            self.crossed = Problem(self.source, mark.line + 1, mark.column + 1, "")


class _LimitedScanner(RoundTripScanner):
    """ruamel's scanner, refusing flow collections (``[``, ``{``) nested too deep.

    Checked here and not only in the composer: the scanner does work proportional to the
    open flow levels for every token, and reads ahead of the composer, so ``[[[[...``
    would cost time quadratic in the file's size before the composer saw the depth.
    """

    def fetch_flow_collection_start(self, token_class: Any, to_push: str) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            mark = self.reader.get_mark()
            message = (
                f"found '{to_push}' nested {len(self.flow_context) + 1} levels deep, over the "
                f"limit of {MAX_DEPTH}; expected a flatter file"
            )
            raise _LimitExceeded(Problem("", mark.line + 1, mark.column + 1, message))
        super().fetch_flow_collection_start(token_class, to_push)


class _LimitExceeded(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _size_problem(data: str | bytes, source: str) -> Problem | None:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size <= MAX_FILE_BYTES:
        return None
    return file_size_problem(source, size)


def file_size_problem(source: str, size: int) -> Problem:
    return Problem(
        source,
        1,
        1,
        f"found a file of {size:,} bytes, {size - MAX_FILE_BYTES:,} over the limit of "
        f"{MAX_FILE_BYTES:,} bytes; expected a smaller rule file",
    )


def _compose(text: str, source: str) -> tuple[Node | None, _LimitedComposer]:
    yaml = YAML(typ="rt")
    yaml.Composer = _LimitedComposer
    yaml.Scanner = _LimitedScanner
    composer = cast(_LimitedComposer, yaml.composer)
    composer.source = source
    with warnings.catch_warnings():
        # Redefining an anchor is legal YAML; ruamel before 0.19 warns about it regardless
        # of warn_double_anchors. (The filter is process-wide for a moment; rule files
        # load rarely.)
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        return cast(Node | None, yaml.compose(io.StringIO(text))), composer


def read_yaml(data: str | bytes, source: str) -> tuple[YNode | None, list[Problem]]:
    """The document's tree (None for an empty document) and the problems found in it.

    Raises ``YamlSourceError`` when the text cannot be read as YAML at all, or exceeds a
    limit (see the module's docstring).
    """
    too_big = _size_problem(data, source)
    if too_big is not None:
        raise YamlSourceError(too_big)
    text = decode(data, source)
    try:
        root, composer = _compose(text, source)
    except YAMLError as exc:
        raise YamlSourceError(_syntax_problem(exc, text, source)) from exc
    except _LimitExceeded as exc:
        raise YamlSourceError(replace(exc.problem, file=source)) from exc
    except RecursionError as exc:  # only if called with most of the stack already used
        message = "found nesting too deep to read; expected a flatter file"
        raise YamlSourceError(Problem(source, 1, 1, message)) from exc
    if composer.crossed is not None:
        crossed, total = composer.crossed, composer.expanded
        message = (
            f"aliases expand the file to {total:,} values, {total - MAX_NODES:,} over the "
            f"limit of {MAX_NODES:,}; expected fewer or smaller aliases"
        )
        raise YamlSourceError(Problem(source, crossed.line, crossed.column, message))
    if root is None:
        return None, []
    builder = _Builder(source)
    tree = builder.build(root)
    return tree, builder.problems
