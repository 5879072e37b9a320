"""Rule files built to hurt the loader: each ends in a ``RulesError`` with positions, in
bounded time, and ``daypart check`` says exactly what the server would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daypart.rules import yaml_source
from daypart.rules.errors import RulesError
from daypart.rules.lint import check_file
from daypart.rules.loader import load_rules, parse_rules
from daypart.rules.yaml_source import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

HEAD = "version: 1\nvariants: {a: {}}\n"


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="f.yaml")
    return [str(problem) for problem in caught.value.problems]


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + "rules: " + "[" * 5000 + "]" * 5000,
            f"f.yaml:3:{8 + MAX_DEPTH}: found '[' nested {MAX_DEPTH + 1} levels deep, over "
            f"the limit of {MAX_DEPTH}; expected a flatter file",
        ),
        (
            "{" * 5000,
            f"f.yaml:1:{MAX_DEPTH + 1}: found '{{' nested {MAX_DEPTH + 1} levels deep, over "
            f"the limit of {MAX_DEPTH}; expected a flatter file",
        ),
        (
            "".join(" " * i + f"k{i}:\n" for i in range(100)),
            # The key on line 32 is the 33rd level: the top mapping is the first.
            f"f.yaml:{MAX_DEPTH}:{MAX_DEPTH}: found nesting {MAX_DEPTH + 1} levels "
            f"deep, over the limit of {MAX_DEPTH}; expected a flatter file",
        ),
        (
            "".join("  " * i + "-\n" for i in range(100)),
            f"f.yaml:{MAX_DEPTH + 1}:{2 * MAX_DEPTH + 1}: found nesting {MAX_DEPTH + 1} levels "
            f"deep, over the limit of {MAX_DEPTH}; expected a flatter file",
        ),
    ],
    ids=["flow-lists", "unclosed-flow-maps", "block-maps", "block-lists"],
)
def test_deep_nesting_is_a_rules_error(text: str, expected: str) -> None:
    # These raised RecursionError (after seconds of scanning, for the flow ones).
    assert problems(text) == [expected]


def test_the_nesting_rules_need_is_allowed() -> None:
    # The deepest place in the rule language: experiments > name > rollout > stage >
    # audience > header > name > list of values.
    parse_rules(
        HEAD
        + "goals: {g: {beacon: true}}\n"
        + "rules: [{name: r, serve: a, experiment: e}]\n"
        + "experiments:\n  e:\n    arms: {control: a, b: a}\n    goal: g\n"
        + "    rollout: [{audience: {header: {X-Channel: [a, b]}}}, {traffic: 50%}]\n"
    )


# --- size and aliases -------------------------------------------------------------------------


def test_file_size_limit() -> None:
    text = HEAD + "rules: []\n" + "#" * MAX_FILE_BYTES
    over = len(text) - MAX_FILE_BYTES
    assert problems(text) == [
        f"f.yaml:1:1: found a file of {len(text):,} bytes, {over:,} over the limit of "
        f"{MAX_FILE_BYTES:,} bytes; expected a smaller rule file"
    ]


def test_load_rules_does_not_read_a_huge_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    with path.open("wb") as file:
        file.write(b"version: 1\n")
        file.truncate(50 * MAX_FILE_BYTES)  # sparse: cheap to make, large to read
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    (problem,) = caught.value.problems
    assert problem.message.startswith(f"found a file of {50 * MAX_FILE_BYTES:,} bytes")


def alias_bomb(rules: int, items: int) -> str:
    """``rules`` rules that alias one rule whose ``when`` lists ``items`` unknown devices."""
    devices = ", ".join(["x"] * items)
    return (
        HEAD
        + f"rules:\n  - &r {{name: r, serve: a, when: {{device: [{devices}]}}}}\n"
        + "  - *r\n" * (rules - 1)
    )


def test_alias_expansion_limit() -> None:
    text = alias_bomb(1000, 1000)  # 10 KB; it took 4 s and 226 MB to load
    assert len(text) < 11_000
    (problem,) = problems(text)
    # Counted as the composer goes: the 1,000 values of the list, the rule around them,
    # then each alias counts the whole rule again.
    assert problem.startswith("f.yaml:")
    assert ": aliases expand the file to 1,009,009 values, 759,009 over the limit of " in problem
    assert problem.endswith(f"{MAX_NODES:,}; expected fewer or smaller aliases")


def test_billion_laughs() -> None:
    text = "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
    )
    (problem,) = problems(text)
    # Ten levels of tenfold (with the keys and lists around them), in a 600-byte file.
    assert problem == (
        "f.yaml:7:15: aliases expand the file to 12,345,679,023 values, 12,345,429,023 over "
        f"the limit of {MAX_NODES:,}; expected fewer or smaller aliases"
    )


def test_too_many_values_written_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # At the real limit the file takes seconds to compose; the check is the same.
    monkeypatch.setattr(yaml_source, "MAX_NODES", 100)
    assert problems(HEAD + "rules: [" + "x, " * 200 + "]\n") == [
        "f.yaml:3:282: found more than 100 values, over the limit of 100; expected a "
        "smaller rule file"
    ]


def load_seconds(text: str) -> float:
    start = time.perf_counter()
    with pytest.raises(RulesError):
        parse_rules(text)
    return time.perf_counter() - start


def test_an_aliased_node_is_validated_once() -> None:
    # 200 rules naming one list of 1,000 bad devices (200,000 values once expanded, under
    # the limit): reading it once per rule took 200 times as long as one rule does.
    many = alias_bomb(200, 1000)
    one = alias_bomb(1, 1000)
    # The same 1,000 problems at the same places, and the rule's name is now a duplicate.
    assert [p for p in problems(many) if "duplicate rule name" not in p] == problems(one)
    # Composing the 200 aliases costs a little; validating them again would cost 200x.
    assert min(load_seconds(many) for _ in range(3)) < 10 * min(load_seconds(one) for _ in range(3))


# --- what the server would reject later -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'version: 1\nvariants:\n  a: {headers: {X-Offer: "€uro"}}\n',
            "f.yaml:3:26: found '€' (U+20AC) at character 1, outside Latin-1; expected a "
            "header value in Latin-1 (percent-encode other text)",
        ),
        (
            'version: 1\nvariants:\n  a: {headers: {X-Offer: "a\\x7fb"}}\n',
            "f.yaml:3:26: found a control character in a header value; expected one line of text",
        ),
        (
            HEAD + "rules:\n  - {name: r, serve: a, when: {header: {X-Lang: [de, Ελ]}}}\n",
            "f.yaml:4:54: found 'Ε' (U+0395) at character 1, outside Latin-1; no header value "
            "can contain it, so this never matches",
        ),
        (
            HEAD + "rules:\n  - {name: r, serve: a, when: {cookie: {lang: Ελ}}}\n",
            "f.yaml:4:47: found 'Ε' (U+0395) at character 1, outside Latin-1; no cookie value "
            "can contain it, so this never matches",
        ),
        (
            'version: 1\nvariants:\n  a: {rewrite: "/x\\ud800{path}"}\n',
            "f.yaml:3:16: found the escape \\ud800, half of a surrogate pair; expected a "
            "character (write it as itself, or as \\U followed by 8 hex digits)",
        ),
        (
            "version: 1\nsite: {timezone: right/Europe/Amsterdam}\n",
            "f.yaml:2:18: unknown timezone 'right/Europe/Amsterdam'; expected the canonical "
            "name Europe/Amsterdam",
        ),
        (
            "version: 1\nsite: {timezone: localtime}\n",
            "f.yaml:2:18: unknown timezone 'localtime'; expected an IANA name such as "
            "Europe/Amsterdam",
        ),
        (
            "version: 1\nsite: {paths: [/**/**/**/**/**/x]}\n",
            "f.yaml:2:16: found 5 '**' in the glob, 1 over the limit of 4; expected fewer "
            "('**' already spans any number of segments)",
        ),
        (
            f"version: 1\ngoals: {{g: {{path: /{'a' * 300}}}}}\n",
            "f.yaml:2:19: found a glob of 301 characters, 45 over the limit of 256; expected a "
            "shorter glob",
        ),
    ],
    ids=[
        "header-value-not-latin-1",
        "header-value-del",
        "header-matcher-not-latin-1",
        "cookie-matcher-not-latin-1",
        "lone-surrogate",
        "right-zone",
        "localtime-zone",
        "too-many-deep-wildcards",
        "glob-too-long",
    ],
)
def test_the_loader_rejects_what_the_server_would_fail_on(
    text: str, expected: str, tmp_path: Path
) -> None:
    found = problems(text)
    assert expected in found, found
    # `daypart check` reads the file through the same loader, so it says the same.
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert check_file(path) == caught.value.problems


def test_query_values_may_be_any_text() -> None:
    # Query strings are percent-encoded UTF-8: any text can arrive.
    ruleset = parse_rules(HEAD + "rules:\n  - {name: r, serve: a, when: {query: {q: Ελ}}}\n")
    assert ruleset.rules[0].when.query == {"q": frozenset({"Ελ"})}


def test_arm_weights_must_have_a_finite_sum() -> None:
    # Each weight is finite; assigning visitors divided by their sum, which was not.
    text = (
        HEAD
        + "goals: {g: {beacon: true}}\n"
        + "rules: [{name: r, serve: a, experiment: e}]\n"
        + "experiments:\n  e:\n    arms: {control: {variant: a, weight: 1e308}, "
        + "b: {variant: a, weight: 1e308}}\n    goal: g\n"
    )
    assert problems(text) == [
        "f.yaml:7:11: found arm weights whose sum is too large to compute; expected smaller weights"
    ]
