from __future__ import annotations

import importlib
import textwrap
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daypart.rules.lint import check_file, daypart_minutes, lint
from daypart.rules.loader import parse_rules
from daypart.rules.model import MINUTES_PER_DAY, Daypart, Rule, RuleSet, Site, Variant

EXAMPLES = files("daypart.rules") / "examples"
# The module, not the function daypart.rules re-exports under the same name.
lint_module = importlib.import_module("daypart.rules.lint")

HEAD = """\
version: 1
dayparts:
  evening:      {from: "19:00", to: "23:30"}
  late-evening: {from: "21:00", to: "23:00"}
  night:        {from: "23:00", to: "06:00"}
  small-hours:  {from: "01:00", to: "04:00"}
  workdays:     {days: weekdays}
  friday-night: {days: fri, from: "22:00", to: "02:00"}
variants:
  a: {}
  b: {}
"""


def warnings_for(rules: str, head: str = HEAD) -> list[str]:
    ruleset = parse_rules(head + textwrap.dedent(rules), source="rules.yaml")
    problems = lint(ruleset)
    assert all(problem.severity == "warning" for problem in problems)
    return [problem.message for problem in problems]


def shadow_warnings(first: str, second: str) -> list[str]:
    """Warnings about two rules ``{first}`` then ``{second}`` (when mappings) + a catch-all,
    ignoring the unused-daypart ones."""
    found = warnings_for(
        f"""\
        rules:
          - {{name: first, when: {first}, serve: a}}
          - {{name: second, when: {second}, serve: a}}
          - {{name: rest, serve: b}}
        """
    )
    return [message for message in found if not message.startswith("daypart")]


SHADOWED = (
    "rule 'second' is shadowed by rule 'first' (line 13), which matches every request it "
    "matches; expected it above 'first', or a narrower 'first'"
)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{device: mobile}", "{device: mobile}"),
        ("{device: [mobile, tablet]}", "{device: tablet}"),
        ("{device: mobile}", "{device: mobile, daypart: evening}"),
        ("{daypart: evening}", "{daypart: late-evening}"),  # 19:00-23:30 covers 21:00-23:00
        ("{daypart: night}", "{daypart: small-hours}"),  # across midnight
        ("{daypart: [evening, night]}", "{daypart: [late-evening, small-hours]}"),
        ("{daypart: night}", "{daypart: friday-night, days: sat}"),  # Sat 00:00-02:00
        ("{days: weekdays}", "{days: mon}"),
        ("{days: weekdays}", "{daypart: workdays}"),
        ("{daypart: workdays}", "{days: [tue, wed]}"),
        ("{path: /booking/**}", "{path: [/booking/*, /booking/x/**]}"),
        ("{path: /booking/*}", "{path: /booking/confirm}"),
        ("{path: [/a, /b]}", "{path: /a}"),
        ("{method: [GET, HEAD]}", "{method: get}"),
        ("{query: {utm_source: [mail, ads]}}", "{query: {utm_source: mail, utm_medium: x}}"),
        ("{header: {X-Channel: '*'}}", "{header: {x-channel: callcenter}}"),
        ("{cookie: {member: '*'}}", "{cookie: {member: '*'}}"),
        ("{visitor: new}", "{visitor: new, device: bot}"),
    ],
)
def test_shadowed_rules(first: str, second: str) -> None:
    assert shadow_warnings(first, second) == [SHADOWED]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{device: mobile}", "{device: [mobile, tablet]}"),
        ("{device: mobile}", "{path: /x}"),
        ("{device: [mobile, tablet, desktop]}", "{path: /x}"),  # bots still reach it
        ("{daypart: late-evening}", "{daypart: evening}"),
        ("{daypart: evening}", "{daypart: night}"),
        ("{daypart: evening}", "{days: mon}"),
        ("{days: mon}", "{daypart: friday-night}"),  # it spills into Saturday
        ("{path: /booking/*}", "{path: /booking/**}"),
        ("{path: /booking/*}", "{path: /booking/a/b}"),
        ("{path: /a}", "{path: [/a, /b]}"),
        ("{path: /a/**}", "{device: mobile}"),
        ("{method: GET}", "{method: [GET, POST]}"),
        ("{query: {utm_source: mail}}", "{query: {utm_source: [mail, ads]}}"),
        ("{query: {utm_source: mail}}", "{query: {utm_source: '*'}}"),
        ("{query: {utm_source: mail}}", "{header: {utm_source: mail}}"),
        ("{cookie: {member: gold}}", "{device: mobile}"),
        ("{visitor: new}", "{visitor: returning}"),
        ("{visitor: new}", "{device: mobile}"),
    ],
)
def test_rules_not_shadowed(first: str, second: str) -> None:
    assert shadow_warnings(first, second) == []


@pytest.mark.parametrize(
    "everything", ["{device: [mobile, tablet, desktop, bot]}", "{path: /**}", "{path: '**'}"]
)
def test_a_rule_matching_everything_shadows_all_after_it(everything: str) -> None:
    found = shadow_warnings(everything, "{path: /booking/*}")
    assert found == [SHADOWED, SHADOWED.replace("'second'", "'rest'")]


def test_rules_after_the_catch_all_are_unreachable() -> None:
    found = warnings_for(
        """\
        rules:
          - {name: everyone, serve: a}
          - {name: phones, when: {device: mobile}, serve: b}
          - {name: evenings, when: {daypart: [evening, late-evening, night, small-hours,
                                             workdays, friday-night]}, serve: b}
        """
    )
    assert found == [
        "rule 'phones' is unreachable: it comes after the catch-all rule 'everyone' (line 13); "
        "expected the catch-all last",
        "rule 'evenings' is unreachable: it comes after the catch-all rule 'everyone' (line 13); "
        "expected the catch-all last",
    ]


def test_rule_whose_daypart_misses_its_days_never_matches() -> None:
    found = warnings_for(
        """\
        rules:
          - {name: weekend-work, when: {daypart: workdays, days: weekend}, serve: a}
          - {name: rest, serve: b}
        """
    )
    assert found[-1] == (
        "rule 'weekend-work' never matches: its daypart and days have no minute in common; "
        "expected a daypart on one of its days"
    )


def test_missing_catch_all() -> None:
    ruleset = parse_rules(
        HEAD + "rules:\n  - {name: phones, when: {device: mobile}, serve: a}\n", source="r.yaml"
    )
    catch_all = [p for p in lint(ruleset) if "catch-all" in p.message]
    assert [str(p) for p in catch_all] == [
        "r.yaml:13:5: warning: no catch-all rule: requests no rule matches pass through "
        "unchanged; expected a last rule without when, serving the default variant"
    ]


def test_no_rules_at_all_points_at_the_start() -> None:
    (problem,) = lint(parse_rules("version: 1\n", source="r.yaml"))
    assert (problem.line, problem.column, problem.severity) == (1, 1, "warning")
    assert problem.message.startswith("no catch-all rule")


EXPERIMENTS = """\
goals:
  booked: {path: /booking/confirm}
  shared: {beacon: true}
experiments:
  offer:
    arms: {control: a, offer: b}
    goal: booked
  other:
    arms: {control: a, other: b}
    goal: booked
"""


def test_experiments_and_goals_that_nothing_uses() -> None:
    found = warnings_for(
        """\
        rules:
          - {name: phones, when: {device: mobile}, serve: a, experiment: offer}
          - {name: tablets, when: {device: tablet}, serve: a, experiment: offer}
          - {name: rest, serve: a}
        """,
        head=HEAD + EXPERIMENTS,
    )
    assert [m for m in found if not m.startswith("daypart")] == [
        "goal 'shared' is used by no experiment, so its conversions count nowhere; expected an "
        "experiment with goal: shared",
        "experiment 'other' is run by no rule; expected a rule with experiment: other",
        "experiment 'offer' is also run by rule 'phones' (line 23); expected one rule per "
        "experiment, so that its visitors are one population",
    ]


def test_unused_dayparts() -> None:
    found = warnings_for(
        """\
        rules:
          - {name: evenings, when: {daypart: [evening, late-evening]}, serve: a}
          - {name: rest, serve: b}
        """
    )
    assert found == [
        f"daypart '{name}' is used by no rule; expected a rule with daypart: {name} "
        "(unused, it only labels report segments)"
        for name in ("night", "small-hours", "workdays", "friday-night")
    ]


@pytest.mark.parametrize("name", ["travel.yaml", "minimal.yaml"])
def test_examples_are_clean(name: str) -> None:
    assert check_file(Path(str(EXAMPLES / name))) == []


def test_check_file_returns_load_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n  - {name: r, serve: nowhere}\n", encoding="utf-8")
    (problem,) = check_file(path)
    assert problem.severity == "error"
    assert str(problem) == f"{path}:3:22: undefined variant 'nowhere'; no variants are defined"


def test_check_file_returns_warnings(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nvariants: {a: {}}\nrules: [{name: r, when: {device: bot}, serve: a}]\n"
    )
    (problem,) = check_file(path)
    assert str(problem).startswith(f"{path}:3:9: warning: no catch-all rule")


def test_rule_sets_built_in_code_lint_without_locations() -> None:
    ruleset = RuleSet(
        version=1,
        site=Site(),
        dayparts={},
        variants={"a": Variant("a")},
        goals={},
        rules=(Rule("everyone", "a"), Rule("late", "a")),
        experiments={},
        source="<code>",
    )
    (problem,) = lint(ruleset)
    assert str(problem) == (
        "<code>:1:1: warning: rule 'late' is unreachable: it comes after the catch-all rule "
        "'everyone'; expected the catch-all last"
    )


@given(
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, MINUTES_PER_DAY - 1),
    end=st.integers(1, MINUTES_PER_DAY),
    weekday=st.integers(0, 6),
    minute=st.integers(0, MINUTES_PER_DAY - 1),
)
def test_daypart_minutes_agree_with_contains(
    days: frozenset[int], start: int, end: int, weekday: int, minute: int
) -> None:
    daypart = Daypart("d", days, start, end)
    bits = daypart_minutes(daypart)
    assert bool(bits >> (weekday * MINUTES_PER_DAY + minute) & 1) is daypart.contains(
        weekday, minute
    )


def test_shadow_search_stops_at_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each rule is compared with every rule above it: tens of thousands of rules (a file
    # under the size limit can hold them) would keep `daypart check` busy for hours.
    monkeypatch.setattr(lint_module, "_MAX_PAIRS", 1000)
    rules = "".join(
        f"  - {{name: r{i}, serve: a, when: {{query: {{q: v{i}}}}}}}\n" for i in range(100)
    )
    ruleset = parse_rules("version: 1\nvariants: {a: {}}\nrules:\n" + rules, source="r.yaml")
    (stop,) = [p for p in lint(ruleset) if "comparisons" in p.message]
    # Rule r45 brings the comparisons past 1,000 (0 + 1 + ... + 45 = 1,035).
    assert str(stop) == (
        "r.yaml:49:5: warning: shadowed rules are not looked for from rule 'r45' on: "
        "comparing each rule with those above it reached the limit of 1,000 comparisons; "
        "expected fewer rules"
    )


CHANNELS_HEAD = """\
version: 1
site:
  channel_from: [query:utm_source, header:X-Channel]
  channels: [newsletter, callcenter]
variants:
  a: {}
  b: {}
"""


def test_a_rule_on_an_unlisted_channel_value_is_flagged() -> None:
    found = warnings_for(
        """\
        rules:
          - {name: social, when: {query: {utm_source: [Instagram, NewsLetter]}}, serve: a}
          - {name: campaign, when: {query: {utm_campaign: spring}}, serve: a}
          - {name: any-channel, when: {header: {X-Channel: "*"}}, serve: a}
          - {name: everyone, serve: b}
        """,
        CHANNELS_HEAD,
    )
    # NewsLetter is listed (values are compared lower-cased); "*" and other names are fine.
    assert found == [
        "rule 'social' picks visitors by query utm_source=Instagram, a channel source, but "
        "site.channels does not list 'instagram': they are counted in channel other; "
        "expected it in channels to see them apart"
    ]


def test_an_audience_on_an_unlisted_channel_value_is_flagged() -> None:
    found = warnings_for(
        """\
        goals:
          g: {beacon: true}
        rules:
          - {name: everyone, serve: a, experiment: e}
        experiments:
          e:
            arms: {control: a, treat: b}
            goal: g
            rollout:
              - {audience: {header: {X-Channel: [callcenter, partner]}}}
              - {traffic: 10%}
        """,
        CHANNELS_HEAD,
    )
    assert found == [
        "experiment 'e' stage 1 picks visitors by header x-channel=partner, a channel "
        "source, but site.channels does not list 'partner': they are counted in channel "
        "other; expected it in channels to see them apart"
    ]


def test_without_channels_channel_like_rules_are_not_flagged() -> None:
    head = CHANNELS_HEAD.replace(
        "  channel_from: [query:utm_source, header:X-Channel]\n  channels: [newsletter, "
        "callcenter]\n",
        "  timezone: UTC\n",
    )
    rules = """\
        rules:
          - {name: social, when: {query: {utm_source: instagram}}, serve: a}
          - {name: everyone, serve: b}
        """
    assert warnings_for(rules, head) == []
    assert len(warnings_for(rules, CHANNELS_HEAD)) == 1
