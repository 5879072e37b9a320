from __future__ import annotations

import textwrap
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daypart.rules.errors import Problem, RulesError
from daypart.rules.loader import load_rules, parse_rules
from daypart.rules.model import (
    ALL_DAYS,
    WEEKDAYS,
    WEEKEND,
    Arm,
    Audience,
    ChannelSource,
    Condition,
    Gates,
    Location,
    RuleSet,
    Site,
    Stage,
    Thresholds,
    TimezoneSource,
)
from daypart.rules.parse_time import parse_clock, parse_days, parse_duration

BROKEN = Path(__file__).parent / "broken"
EXAMPLES = files("daypart.rules") / "examples"


def rules(text: str) -> RuleSet:
    return parse_rules(textwrap.dedent(text), source="rules.yaml")


def errors(text: str | bytes) -> list[str]:
    if isinstance(text, str):
        text = textwrap.dedent(text)
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="rules.yaml")
    return [str(problem) for problem in caught.value.problems]


# A valid skeleton the smaller tests add to.
HEAD = """\
version: 1
variants:
  inspiration: {rewrite: "/inspiration{path}"}
  booking: {rewrite: "/booking{path}"}
"""


def with_head(text: str) -> str:
    return HEAD + textwrap.dedent(text)


# --- the broken corpus ---------------------------------------------------------------------


def broken_files() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


def test_corpus_is_complete() -> None:
    names = broken_files()
    assert len(names) >= 35
    for path in names:
        assert path.with_suffix(".expected").is_file(), path.name


@pytest.mark.parametrize("path", broken_files(), ids=lambda path: path.stem)
def test_broken_file_reports_expected_problems(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        parse_rules(path.read_bytes(), source=path.name)
    problems = caught.value.problems
    assert "".join(f"{problem}\n" for problem in problems) == expected
    assert all(problem.severity == "error" for problem in problems)
    positions = [(problem.line, problem.column) for problem in problems]
    assert positions == sorted(positions)
    assert str(caught.value) == expected.rstrip("\n")


def test_load_rules_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules: {}\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:8: expected a list, found a mapping"
    ]


def test_unreadable_file_is_a_rules_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(RulesError) as caught:
        load_rules(missing)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    (problem,) = caught.value.problems
    assert problem == Problem(
        str(missing), 1, 1, "cannot read the rule file: No such file or directory"
    )


# --- reading YAML -----------------------------------------------------------------------------


def test_every_problem_is_reported_in_file_order() -> None:
    found = errors(
        """\
        version: 1
        rules:
          - name: a
            serve: nowhere
            when: {device: phone}
          - name: b
            serve: nothing
        variants: {booking: {}}
        """
    )
    assert found == [
        "rules.yaml:4:12: undefined variant 'nowhere'; defined variants: booking",
        "rules.yaml:5:20: unknown device 'phone'; expected one of mobile, tablet, desktop, bot",
        "rules.yaml:7:12: undefined variant 'nothing'; defined variants: booking",
    ]


def test_every_duplicate_key_is_reported() -> None:
    found = errors("version: 1\nvariants: {a: {}, a: {}}\nvariants: {}\n")
    assert found == [
        "rules.yaml:2:19: duplicate key 'a'; first given on line 2",
        "rules.yaml:3:1: duplicate key 'variants'; first given on line 2",
    ]


def test_text_and_bytes_with_byte_order_mark_load() -> None:
    text = "version: 1\n"
    assert parse_rules("\ufeff" + text).version == 1
    assert parse_rules(("\ufeff" + text).encode("utf-8")).version == 1


def test_nul_byte_means_binary() -> None:
    assert errors(b"version: 1\n\x00\x01") == [
        "rules.yaml:2:1: found a NUL byte, so this is a binary file; expected YAML text"
    ]


def test_control_character_is_refused_with_its_position() -> None:
    assert errors("version: 1\nsite: \x07\n") == [
        "rules.yaml:2:7: invalid character U+0007; expected printable text"
    ]


def test_document_of_only_null_is_empty() -> None:
    assert errors("---\n") == [
        "rules.yaml:1:1: found an empty file; expected a mapping starting with version: 1"
    ]


def test_tags_are_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    found = errors(f'version: 1\nsite: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert found[0].startswith("rules.yaml:2:7: unsupported tag '!!python/object/apply:os.system'")
    assert not marker.exists()


def test_anchors_and_merge_keys_share_definitions() -> None:
    ruleset = rules(
        """\
        version: 1
        variants:
          booking: &booking {rewrite: "/booking{path}"}
          offer:
            <<: *booking
            headers: {X-Offer: autumn10}
        rules:
          - name: everyone
            serve: offer
        """
    )
    assert ruleset.variants["offer"].rewrite == "/booking{path}"
    assert ruleset.variants["offer"].headers == {"x-offer": "autumn10"}


def test_recursive_alias_is_refused() -> None:
    found = errors("version: 1\nvariants: &v {a: *v}\n")
    assert "alias that contains itself" in found[0]


def test_yaml_1_1_document_keeps_times_as_written() -> None:
    ruleset = rules(
        """\
        %YAML 1.1
        ---
        version: 1
        dayparts:
          evening: {from: 19:00, to: 23:30}
        """
    )
    assert ruleset.dayparts["evening"].start == 19 * 60


def problems_of(data: str | bytes) -> list[Problem] | None:
    """The problems of a rule file, or None when it loads."""
    try:
        parse_rules(data)
    except RulesError as exc:
        return exc.problems
    return None


@given(st.text(max_size=200))
def test_any_text_loads_or_raises_rules_error(text: str) -> None:
    problems = problems_of(text)
    assert problems is None or all(p.line >= 1 and p.column >= 1 for p in problems)


@given(st.binary(max_size=200))
def test_any_bytes_load_or_raise_rules_error(data: bytes) -> None:
    problems = problems_of(data)
    assert problems is None or all(p.line >= 1 and p.column >= 1 for p in problems)


@given(
    st.lists(
        st.sampled_from(
            [
                "version: 1",
                "rules:",
                "  - name: r",
                "    serve: a",
                "\t",
                "variants: {a: {}}",
                "  when: {device: [",
                "- ",
                ": x",
                "&a *a",
                "dayparts: {d: {from: '9:00'}}",
                "<<: *a",
                "'",
                "{",
                "]",
            ]
        ),
        max_size=12,
    )
)
def test_rule_like_fragments_load_or_raise_rules_error(lines: list[str]) -> None:
    problems = problems_of("\n".join(lines))
    assert problems is None or all(p.line >= 1 and p.column >= 1 for p in problems)


# --- the examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["travel.yaml", "minimal.yaml"])
def test_examples_load(name: str) -> None:
    ruleset = parse_rules((EXAMPLES / name).read_bytes(), source=name)
    assert ruleset.version == 1
    assert ruleset.catch_all is ruleset.rules[-1]


def test_travel_example() -> None:
    path = Path(str(EXAMPLES / "travel.yaml"))
    ruleset = load_rules(path)
    assert ruleset.source == str(path)
    assert ruleset.site.timezone == "Europe/Amsterdam"
    assert ruleset.site.timezone_from == (
        TimezoneSource("cookie", "tz"),
        TimezoneSource("header", "cf-timezone"),
    )
    assert list(ruleset.dayparts) == [
        "morning-commute",
        "lunch",
        "train_home",
        "evening",
        "night",
        "weekend",
    ]
    assert set(ruleset.variants) == {"inspiration", "inspiration-video", "booking", "booking-offer"}
    assert ruleset.goals["booked"].value_header == "x-order-value"
    assert ruleset.goals["shared"].beacon
    offer = ruleset.experiments["evening-offer"]
    assert [stage.traffic for stage in offer.rollout] == [1.0, 0.05, 0.25, 0.5]
    assert offer.rollout[0].audience == Audience(header={"x-channel": frozenset({"callcenter"})})
    grow = Thresholds(prob_worse_than_control_below=0.2, expected_relative_loss_below=0.05)
    ship = Thresholds(prob_beat_control=0.997, expected_relative_loss_below=0.01)
    assert offer.gates == Gates(300, grow, ship, 0.95, 24 * 3600.0)
    assert offer.budget is not None
    assert (offer.budget.unit, offer.budget.amount, offer.budget.on_budget) == (
        "conversions",
        300.0,
        "pause",
    )
    assert ruleset.default_variant is ruleset.variants["booking"]
    assert 8 <= len(ruleset.rules) <= 12
    assert ruleset.site.channel_from == (
        ChannelSource("query", "utm_source"),
        ChannelSource("header", "x-channel"),
    )
    assert ruleset.site.channels == ("newsletter", "instagram", "pinterest", "callcenter")


# --- channels -------------------------------------------------------------------------------


def test_channels_keep_their_sources_in_order_and_their_names() -> None:
    site = rules(
        with_head(
            """\
            site:
              channel_from: [header:X-Channel, query:utm_source, cookie:Channel]
              channels: [newsletter, ads, call_centre]
            rules:
              - {name: everyone, serve: booking}
            """
        )
    ).site
    # Header names as ASGI carries them (lower case); query and cookie names as written.
    assert site.channel_from == (
        ChannelSource("header", "x-channel"),
        ChannelSource("query", "utm_source"),
        ChannelSource("cookie", "Channel"),
    )
    assert site.channels == ("newsletter", "ads", "call_centre")


def test_rules_without_channels_have_no_channel_dimension() -> None:
    site = rules(with_head("rules:\n  - {name: everyone, serve: booking}\n")).site
    assert (site.channel_from, site.channels) == ((), ())
    assert site == Site()


def test_channels_at_their_limit_load_and_one_more_does_not() -> None:
    names = ", ".join(f"partner{i}" for i in range(32))
    text = f"site: {{channel_from: query:utm_source, channels: [{names}]}}\n"
    text += "rules:\n  - {name: everyone, serve: booking}\n"
    assert len(rules(with_head(text)).site.channels) == 32
    assert errors(with_head(text.replace("]}", ", partner32]}"))) == [
        "rules.yaml:5:50: found 33 channels; expected at most 32 (each is a counter per arm, "
        "device and daypart: group the rest, they count as other)"
    ]


def test_a_long_channel_name_is_refused() -> None:
    name = "a" * 33
    text = f"site: {{channel_from: query:utm_source, channels: [ok, {name}]}}\n"
    assert errors(with_head(text)) == [
        f"rules.yaml:5:55: channel name '{name}' is 33 characters long; expected at most 32"
    ]


# --- every field lands in the model -----------------------------------------------------------

FULL = """\
version: 1
site:
  timezone: America/New_York
  timezone_from: header:X-Visitor-TZ
  paths: ["/", "/trips/**"]
dayparts:
  late: {days: [fri, sat], from: "22:00", to: "24:00"}
variants:
  plain: {}
  trips: {rewrite: "/trips{path}", headers: {X-Mode: Trips, X-Count: 3}}
goals:
  signup: {method: post, path: "/signup/*", status: 201, value_header: X-Value, beacon: true}
rules:
  - name: everything
    when:
      device: [Mobile, tablet]
      daypart: late
      days: weekend
      path: /trips/**
      method: [get, HEAD]
      query: {utm_source: [mail, 2024]}
      header: {X-Channel: "*"}
      cookie: {Member: gold}
      visitor: Returning
    serve: plain
    experiment: trip-test
  - name: rest
    serve: plain
experiments:
  trip-test:
    arms:
      a: trips
      b: {variant: plain, weight: 3}
    control: b
    goal: signup
    salt: s1
    rollout:
      - {audience: {cookie: {beta: "1"}, query: {preview: ["*"]}}, traffic: 50%}
      - {traffic: 0.1}
      - traffic: "100%"
    gates:
      min_visitors_per_arm: 50
      advance_when: {prob_beat_control: 0.99, expected_loss_below: 0.0005}
      rollback_when: {prob_worse_than_control: 0.8}
      min_stage_duration: 1h30m
"""


def test_every_field_lands_in_the_model() -> None:
    ruleset = rules(FULL)
    assert ruleset.site.timezone == "America/New_York"
    assert ruleset.site.timezone_from == (TimezoneSource("header", "x-visitor-tz"),)
    assert ruleset.site.paths == ("/", "/trips/**")
    late = ruleset.dayparts["late"]
    assert (late.days, late.start, late.end) == (frozenset({4, 5}), 22 * 60, 24 * 60)
    assert late.location == Location("rules.yaml", 7, 3)
    assert ruleset.variants["plain"].rewrite is None
    assert ruleset.variants["plain"].headers == {}
    assert ruleset.variants["trips"].headers == {"x-mode": "Trips", "x-count": "3"}
    goal = ruleset.goals["signup"]
    assert (goal.method, goal.path, goal.status, goal.value_header, goal.beacon) == (
        "POST",
        "/signup/*",
        "201",
        "x-value",
        True,
    )
    rule = ruleset.rules[0]
    assert rule.location == Location("rules.yaml", 14, 5)
    assert rule.when == Condition(
        device=frozenset({"mobile", "tablet"}),
        daypart=frozenset({"late"}),
        days=WEEKEND,
        path=("/trips/**",),
        method=frozenset({"GET", "HEAD"}),
        query={"utm_source": frozenset({"mail", "2024"})},
        header={"x-channel": frozenset({"*"})},
        cookie={"Member": frozenset({"gold"})},
        visitor="returning",
    )
    assert rule.experiment == "trip-test"
    assert ruleset.rules[1].is_catch_all
    experiment = ruleset.experiments["trip-test"]
    assert experiment.arms == (
        Arm("b", "plain", 3.0, Location("rules.yaml", 33, 7)),
        Arm("a", "trips", 1.0, Location("rules.yaml", 32, 7)),
    )
    assert experiment.control.name == "b"
    assert (experiment.goal, experiment.salt) == ("signup", "s1")
    assert experiment.rollout == (
        Stage(
            0.5,
            Audience(cookie={"beta": frozenset({"1"})}, query={"preview": frozenset({"*"})}),
            Location("rules.yaml", 38, 9),
        ),
        Stage(0.1, None, Location("rules.yaml", 39, 9)),
        Stage(1.0, None, Location("rules.yaml", 40, 9)),
    )
    legacy = Thresholds(prob_beat_control=0.99, expected_loss_below=0.0005)
    assert experiment.gates == Gates(50, legacy, legacy, 0.8, 5400.0)


def test_defaults() -> None:
    ruleset = rules(
        with_head(
            """\
            goals:
              booked: {path: /booking/confirm}
            dayparts:
              always: {}
            rules:
              - name: everyone
                serve: booking
                experiment: test
            experiments:
              test:
                arms: {control: booking, challenger: inspiration}
                goal: booked
            """
        )
    )
    assert ruleset.site.timezone == "UTC"
    assert ruleset.site.timezone_from == ()
    assert ruleset.site.paths is None
    always = ruleset.dayparts["always"]
    assert (always.days, always.start, always.end) == (ALL_DAYS, 0, 24 * 60)
    goal = ruleset.goals["booked"]
    assert (goal.method, goal.status, goal.value_header, goal.beacon) == (None, None, None, False)
    experiment = ruleset.experiments["test"]
    assert experiment.salt == "test"
    assert experiment.rollout == (Stage(),)
    assert experiment.gates == Gates()
    assert [arm.name for arm in experiment.arms] == ["control", "challenger"]
    assert ruleset.rules[0].when == Condition()


def test_experiment_rule_must_serve_the_chosen_control() -> None:
    text = with_head(
        """\
        goals: {shared: {beacon: true}}
        rules:
          - name: everyone
            serve: SERVE
            experiment: test
        experiments:
          test:
            arms: {a: booking, b: inspiration}
            control: b
            goal: shared
        """
    )
    assert rules(text.replace("SERVE", "inspiration")).experiments["test"].control.name == "b"
    (found,) = errors(text.replace("SERVE", "booking"))
    assert found.startswith("rules.yaml:8:12: rule 'everyone' serves 'booking', but experiment")
    assert found.endswith("expected serve: inspiration (what visitors outside the experiment see)")


def test_a_bad_definition_still_counts_as_defined() -> None:
    # One typo, one message: the rule serving the broken variant is not also "undefined".
    found = errors(
        """\
        version: 1
        variants:
          booking: {rewrite: booking}
        rules:
          - {name: everyone, serve: booking}
        """
    )
    assert len(found) == 1
    assert "invalid rewrite 'booking'" in found[0]


# --- days, times, durations, shares -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("weekdays", WEEKDAYS),
        ("weekend", WEEKEND),
        ("all", ALL_DAYS),
        ("mon", frozenset({0})),
        ("Monday", frozenset({0})),
        ("SUN", frozenset({6})),
        ("mon-fri", WEEKDAYS),
        ("fri-mon", frozenset({4, 5, 6, 0})),
        ("sat - sunday", WEEKEND),
        ("wed-wed", frozenset({2})),
        ("[mon, wed-thu]", frozenset({0, 2, 3})),
        ("[weekend, fri]", frozenset({4, 5, 6})),
    ],
)
def test_days_syntax(spec: str, days: frozenset[int]) -> None:
    ruleset = rules(f"version: 1\ndayparts:\n  d: {{days: {spec}}}\n")
    assert ruleset.dayparts["d"].days == days


def test_days_in_when() -> None:
    ruleset = rules(with_head("rules:\n  - {name: r, when: {days: [sat, sun]}, serve: booking}\n"))
    assert ruleset.rules[0].when.days == WEEKEND


@pytest.mark.parametrize("word", ["thurs", "mon-xyz", "", "weekends", "mon-fri-sat"])
def test_bad_days(word: str) -> None:
    with pytest.raises(ValueError, match="unknown day"):
        parse_days(word)


@given(st.integers(0, 24 * 60))
def test_clock_round_trip(minute: int) -> None:
    assert parse_clock(f"{minute // 60:02d}:{minute % 60:02d}") == minute


@pytest.mark.parametrize("text", ["24:01", "25:00", "7pm", "12", "12:5", "-1:00", "12:60", "1:2:3"])
def test_bad_clock(text: str) -> None:
    with pytest.raises(ValueError, match="expected HH:MM from 00:00 to 24:00"):
        parse_clock(text)


def test_from_24_00_is_refused() -> None:
    (found,) = errors('version: 1\ndayparts:\n  d: {from: "24:00", to: "06:00"}\n')
    assert found == "rules.yaml:3:13: invalid start '24:00'; expected HH:MM from 00:00 to 23:59"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86400), ("2d", 172800), ("90s", 90), ("1h30m", 5400), ("3600", 3600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_duration_in_seconds_as_a_number() -> None:
    text = with_head(
        """\
        goals: {g: {beacon: true}}
        rules: [{name: r, serve: booking, experiment: e}]
        experiments:
          e:
            arms: {a: booking, b: inspiration}
            goal: g
            gates: {min_stage_duration: 7200}
        """
    )
    assert rules(text).experiments["e"].gates.min_stage_seconds == 7200.0


@pytest.mark.parametrize("text", ["1 week", "-5", "h", "5x", "nan", "inf"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


STAGE = with_head(
    """\
    goals: {g: {beacon: true}}
    rules: [{name: r, serve: booking, experiment: e}]
    experiments:
      e:
        arms: {a: booking, b: inspiration}
        goal: g
        rollout: [{traffic: TRAFFIC}]
    """
)


@pytest.mark.parametrize(
    ("traffic", "share"),
    [("5%", 0.05), ('"5%"', 0.05), ("12.5%", 0.125), ("0.05", 0.05), ("1", 1.0), ("100%", 1.0)],
)
def test_traffic_shares(traffic: str, share: float) -> None:
    stage = rules(STAGE.replace("TRAFFIC", traffic)).experiments["e"].rollout[0]
    assert stage.traffic == pytest.approx(share)


@pytest.mark.parametrize("traffic", ["0", "0%", "101%", "5", "-5%", "lots", "true", "[5%]"])
def test_bad_traffic(traffic: str) -> None:
    (found,) = errors(STAGE.replace("TRAFFIC", traffic))
    assert "expected a share above 0% and at most 100%, such as 5% or 0.05" in found


def test_audience_stages_may_repeat_then_open_traffic_grows() -> None:
    text = STAGE.replace(
        "rollout: [{traffic: TRAFFIC}]",
        "rollout:\n"
        "      - {audience: {header: {X-Channel: callcenter}}, traffic: 50%}\n"
        "      - {audience: {header: {X-Channel: callcenter}}}\n"
        "      - {audience: {cookie: {beta: '1'}}, traffic: 10%}\n"
        "      - {traffic: 5%}\n"
        "      - {traffic: 5%}\n",
    )
    rollout = rules(text).experiments["e"].rollout
    assert [stage.traffic for stage in rollout] == [0.5, 1.0, 0.1, 0.05, 0.05]


# --- windows and names --------------------------------------------------------------------------


def test_midnight_crossing_window() -> None:
    ruleset = rules('version: 1\ndayparts:\n  night: {days: fri, from: "23:00", to: "02:00"}\n')
    night = ruleset.dayparts["night"]
    assert night.crosses_midnight
    assert night.contains(4, 23 * 60)  # Friday 23:00
    assert night.contains(5, 60)  # Saturday 01:00, still Friday's night
    assert not night.contains(5, 2 * 60)  # Saturday 02:00: end is exclusive
    assert not night.contains(4, 60)  # Friday 01:00 belongs to Thursday's night
    assert not night.contains(6, 60)


@pytest.mark.parametrize(
    ("minute", "inside"),
    [(17 * 60 - 1, False), (17 * 60, True), (18 * 60 + 29, True), (18 * 60 + 30, False)],
)
def test_window_boundaries(minute: int, inside: bool) -> None:
    ruleset = rules('version: 1\ndayparts:\n  t: {days: weekdays, from: "17:00", to: "18:30"}\n')
    assert ruleset.dayparts["t"].contains(0, minute) is inside
    assert not ruleset.dayparts["t"].contains(5, minute)


def test_window_to_end_of_day() -> None:
    ruleset = rules('version: 1\ndayparts:\n  late: {from: "22:00", to: "24:00"}\n')
    late = ruleset.dayparts["late"]
    assert not late.crosses_midnight
    assert late.contains(0, 24 * 60 - 1)
    assert not late.contains(1, 0)


def test_header_names_are_lower_cased_everywhere() -> None:
    ruleset = rules(FULL)
    assert ruleset.site.timezone_from[0].name == "x-visitor-tz"
    assert set(ruleset.rules[0].when.header) == {"x-channel"}
    assert set(ruleset.variants["trips"].headers) == {"x-mode", "x-count"}
    assert ruleset.goals["signup"].value_header == "x-value"
    assert ruleset.rules[0].when.cookie == {"Member": frozenset({"gold"})}  # cookies keep case


def test_header_names_differing_only_in_case_clash() -> None:
    found = errors(
        with_head("rules:\n  - {name: r, when: {header: {X-A: '1', x-a: '2'}}, serve: booking}\n")
    )
    assert found == [
        "rules.yaml:6:41: duplicate header 'x-a'; header names ignore case",
    ]


@pytest.mark.parametrize(
    ("status", "stored"), [("2xx", "2xx"), ("3XX", "3xx"), ("201", "201"), ('"404"', "404")]
)
def test_status(status: str, stored: str) -> None:
    ruleset = rules(f"version: 1\ngoals:\n  g: {{path: /x, status: {status}}}\n")
    assert ruleset.goals["g"].status == stored


@pytest.mark.parametrize("status", ["6xx", "99", "2x", "600", "true", "2.5"])
def test_bad_status(status: str) -> None:
    (found,) = errors(f"version: 1\ngoals:\n  g: {{path: /x, status: {status}}}\n")
    assert "a class 1xx to 5xx or a code from 100 to 599" in found


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        ("/x{path", "unbalanced brace in rewrite '/x{path'; expected {path} or none"),
        ("/x/{}", "unknown placeholder '{}' in rewrite; expected only {path}"),
    ],
)
def test_bad_rewrites(rewrite: str, message: str) -> None:
    (found,) = errors(f'version: 1\nvariants:\n  v: {{rewrite: "{rewrite}"}}\n')
    assert found == f"rules.yaml:3:16: {message}"


def test_unknown_timezone_suggests_the_closest_zone() -> None:
    (found,) = errors("version: 1\nsite: {timezone: America/New_Yrok}\n")
    assert found.endswith(
        "unknown timezone 'America/New_Yrok'; expected an IANA name such as America/New_York"
    )


def test_when_must_be_a_mapping() -> None:
    (found,) = errors(with_head("rules:\n  - {name: r, when: mobile, serve: booking}\n"))
    assert found == "rules.yaml:6:21: expected a mapping, found the string 'mobile'"


def test_empty_list_is_refused() -> None:
    (found,) = errors(with_head("rules:\n  - {name: r, when: {device: []}, serve: booking}\n"))
    assert found == "rules.yaml:6:30: found an empty list; expected at least one device"


def test_rule_without_name() -> None:
    (found,) = errors(with_head("rules:\n  - {serve: booking}\n"))
    assert found == (
        "rules.yaml:6:5: missing key 'name' in rule; expected a name such as evening-planners-book"
    )


def test_missing_space_after_colon_gets_a_hint() -> None:
    (found,) = errors(with_head("rules:\n  - {name: r, when: {device:mobile}, serve: booking}\n"))
    assert found.endswith("(a space is missing after ':')")


def test_misspelled_section_is_one_message() -> None:
    found = errors(
        """\
        version: 1
        variant:
          booking: {}
        rules:
          - {name: everyone, serve: booking}
        """
    )
    assert found == [
        "rules.yaml:2:1: unknown key 'variant' at the top level; expected one of version, site, "
        "dayparts, variants, goals, rules, experiments"
    ]


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        (
            "{advance_when: {expected_loss_below: 0}}",
            "invalid expected loss 0; expected a number between 0 and 1 (exclusive), such as 0.002",
        ),
        (
            "{rollback_when: {prob_worse_than_control: 1}}",
            "invalid probability 1; expected a number between 0 and 1 (exclusive), such as 0.95",
        ),
        (
            "{advance_when: {prob_beat_control: high}}",
            "expected a number between 0 and 1 (exclusive), such as 0.95, found the string 'high'",
        ),
        (
            "{advance_when: {prob_beat: 0.9}}",
            "unknown key 'prob_beat' in advance_when; expected one of prob_beat_control, "
            "expected_loss_below, expected_relative_loss_below",
        ),
        (
            "{min_visitors_per_arm: 2.5}",
            "expected a whole number of at least 1, found the number 2.5",
        ),
        (
            "{min_stage_duration: true}",
            "expected a number with a unit s, m, h or d such as 30m, "
            "24h or 2d, or seconds, found the boolean true",
        ),
    ],
)
def test_bad_gates(gates: str, message: str) -> None:
    text = STAGE.replace("rollout: [{traffic: TRAFFIC}]", f"gates: {gates}")
    (found,) = errors(text)
    assert found.split(": ", 1)[1] == message
