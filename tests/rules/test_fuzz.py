"""Mutated rule files load, or fail with problems that point into the file; nothing else.

The examples are mutated the way files get broken in practice (lines lost, doubled or
swapped by an editor, characters mistyped) and the way hostile ones are built (YAML syntax
dropped in anywhere, deep nesting, anchors and aliases). Examples are derandomized (the
suite's hypothesis profile), so a failure here fails everywhere, with the same file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.resources import files

from hypothesis import given, settings
from hypothesis import strategies as st

from daypart.rules.errors import RulesError
from daypart.rules.glob import compile_globs
from daypart.rules.lint import lint
from daypart.rules.loader import parse_rules
from daypart.rules.localtime import zone_named
from daypart.rules.model import RuleSet

EXAMPLES = {
    name: (files("daypart.rules") / "examples" / name).read_text(encoding="utf-8")
    for name in ("travel.yaml", "minimal.yaml")
}

# Characters and snippets that mean something to YAML (or to our reader).
SYNTAX = [
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "?",
    "? ",
    "&a ",
    "*a",
    "&b",
    "*b",
    "!",
    "!!str ",
    "!!python/object:os.system ",
    "|",
    ">",
    "'",
    '"',
    "#",
    "%",
    "@",
    "`",
    "\t",
    " ",
    "  ",
    "\n",
    "\\",
    "\\u",
    '"\\ud800"',
    "\x00",
    "\x85",
    "\u2028",
    "\ufeff",
    "€",
    "<<: *a",
    "<<: [*a, *b]",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "~",
    "null",
    "yes",
    "0x1F",
    "1e400",
    ".nan",
    "-.inf",
    "2024-01-01",
    "17:00",
    "/**/**/**/**/**/x",
]
NESTING = st.sampled_from(["[", "{a: ", "- ", "? "])


@dataclass(frozen=True)
class Mutation:
    kind: str
    at: int  # a line or character index, taken modulo the text's size
    other: int
    text: str
    depth: int

    def apply(self, source: str) -> str:
        lines = source.split("\n")
        line = self.at % len(lines)
        if self.kind == "delete-line":
            del lines[line]
        elif self.kind == "duplicate-line":
            lines.insert(line, lines[line])
        elif self.kind == "swap-lines":
            other = self.other % len(lines)
            lines[line], lines[other] = lines[other], lines[line]
        elif self.kind == "indent-line":
            lines[line] = " " * (self.other % 5) + lines[line].lstrip(" ")
        elif self.kind == "anchor-and-alias":
            # An anchor on one line's value and an alias to it on another.
            lines[line] = lines[line].replace(": ", ": &a ", 1)
            other = self.other % len(lines)
            lines[other] = lines[other].replace(": ", ": *a ", 1) or "x: *a"
        elif self.kind == "alias-fan-out":
            # One anchored value named again and again (each a full copy once expanded).
            lines[line] = lines[line].replace(": ", ": &a ", 1)
            lines.append("extra: [" + ", ".join(["*a"] * (self.other % 200 + 1)) + "]")
        elif self.kind == "deep-nesting":
            opening = self.text * self.depth
            lines.insert(line, f"deep: {opening}x")
        else:
            position = self.at % (len(source) + 1)
            if self.kind == "insert":
                return source[:position] + self.text + source[position:]
            if self.kind == "replace-char":
                return source[:position] + self.text + source[position + 1 :]
            return source[:position] + source[position + 1 :]  # "delete-char"
        return "\n".join(lines)


MUTATIONS = st.builds(
    Mutation,
    kind=st.sampled_from(
        [
            "delete-line",
            "duplicate-line",
            "swap-lines",
            "indent-line",
            "anchor-and-alias",
            "alias-fan-out",
            "deep-nesting",
            "insert",
            "replace-char",
            "delete-char",
        ]
    ),
    at=st.integers(0, 10_000),
    other=st.integers(0, 10_000),
    text=st.one_of(st.sampled_from(SYNTAX), NESTING, st.text(max_size=3)),
    depth=st.sampled_from([3, 31, 33, 200, 3000]),
)


def outcome(text: str) -> RuleSet | RulesError:
    try:
        return parse_rules(text, source="rules.yaml")
    except RulesError as exc:
        return exc


def server_accepts(ruleset: RuleSet) -> None:
    """What the middleware does with a loaded rule set before serving with it (and may
    not fail at: the loader must have refused such a file)."""
    assert zone_named(ruleset.site.timezone) is not None
    globs = [ruleset.site.paths or ()]
    globs += [rule.when.path or () for rule in ruleset.rules]
    globs += [(goal.path,) for goal in ruleset.goals.values() if goal.path is not None]
    for listed in globs:
        if listed:
            compile_globs(listed).fullmatch("/" + "a/" * 100)
    for variant in ruleset.variants.values():
        for name, value in variant.headers.items():
            name.encode("latin-1")
            value.encode("latin-1")
        if variant.rewrite is not None:
            variant.rewrite.encode("utf-8")
    for rule in ruleset.rules:
        for name in [*rule.when.header, *rule.when.cookie]:
            name.encode("latin-1")
    for experiment in ruleset.experiments.values():
        experiment.salt.encode("utf-8")
        assert math.isfinite(sum(arm.weight for arm in experiment.arms))


def check(text: str) -> None:
    result = outcome(text)  # any other exception fails the test
    if isinstance(result, RuleSet):
        lint(result)  # what `daypart check` runs next on a file that loads
        server_accepts(result)
        return
    for problem in result.problems:
        assert problem.file == "rules.yaml"
        assert problem.line >= 1
        assert problem.column >= 1
        assert problem.message
        # The loader's last-resort net caught something: a bug to fix, not an answer.
        assert "a bug in daypart" not in problem.message, problem


@settings(max_examples=150)
@given(
    example=st.sampled_from(sorted(EXAMPLES)),
    mutations=st.lists(MUTATIONS, min_size=1, max_size=4),
)
def test_mutated_examples_load_or_fail_with_positions(
    example: str, mutations: list[Mutation]
) -> None:
    text = EXAMPLES[example]
    for mutation in mutations:
        text = mutation.apply(text)
    check(text)


@settings(max_examples=60)
@given(
    example=st.sampled_from(sorted(EXAMPLES)),
    cut=st.integers(0, 10_000),
    opening=st.sampled_from(["[", "{k: ", "- ", "? ", "&a [", "[*a, ", "{<<: *a, k: "]),
    depth=st.sampled_from([0, 1, 31, 32, 33, 100, 1000, 3000]),
)
def test_examples_cut_and_nested_load_or_fail_with_positions(
    example: str, cut: int, opening: str, depth: int
) -> None:
    # A file truncated anywhere (a half-written save), its tail nested deeply.
    text = EXAMPLES[example]
    position = cut % (len(text) + 1)
    check(text[:position] + opening * depth + text[position:])
