"""Rule files (YAML) to a ``RuleSet``, or a ``RulesError`` listing every mistake in them.

Reading happens in two passes. The first reads each section on its own and records the
names it uses elsewhere (a rule's variant, a when's daypart, ...); the second checks those
names against what the file defines. Sections may come in any order, and a definition
with a mistake in it still counts as defined, so one typo yields one message, not a
cascade.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from daypart.rules.errors import Problem, RulesError
from daypart.rules.load_conditions import read_when
from daypart.rules.load_definitions import read_daypart, read_goal, read_site, read_variant
from daypart.rules.load_experiments import read_experiments, read_holdout
from daypart.rules.model import Experiment, Goal, Rule, RuleSet, Site
from daypart.rules.reading import Reader, Reference, found, one_of, shown
from daypart.rules.yaml_source import (
    MAX_FILE_BYTES,
    Map,
    Scalar,
    YamlSourceError,
    YNode,
    file_size_problem,
    read_yaml,
)

SUPPORTED_VERSION = 1
TOP_KEYS = ("version", "site", "dayparts", "variants", "goals", "rules", "experiments")
RULE_KEYS = ("name", "when", "serve", "experiment", "holdout")
# Which top-level section defines each kind of name.
_SECTION_OF = {
    "daypart": "dayparts",
    "variant": "variants",
    "goal": "goals",
    "experiment": "experiments",
}

_MAX_LISTED = 20  # names listed in an "undefined ..." message

T = TypeVar("T")


def parse_rules(text: str | bytes, source: str = "<rules>") -> RuleSet:
    """The rule set in ``text``; ``source`` names the file in messages.

    Raises ``RulesError`` with every problem found, in file order, and nothing else: a
    server reloading its rules keeps the last good set on a ``RulesError``, so whatever
    the file holds must end there (see ``yaml_source`` for the size limits).
    """
    try:
        return _parse(text, source)
    except RulesError:
        raise
    except Exception as exc:
        # Not reached by any file we know of (the fuzz tests look for one); if a bug in the
        # loader or in ruamel.yaml lets something through, the server still lives on.
        message = (
            f"could not read the file: {type(exc).__name__}: {shown(str(exc))} "
            "(a bug in daypart; please report it with the file)"
        )
        raise RulesError([Problem(source, 1, 1, message)]) from exc


def _parse(text: str | bytes, source: str) -> RuleSet:
    reader = Reader(source)
    try:
        tree, problems = read_yaml(text, source)
    except YamlSourceError as exc:
        raise RulesError([exc.problem]) from exc
    reader.problems.extend(problems)
    if tree is None or (isinstance(tree, Scalar) and tree.value is None):
        message = (
            f"found an empty file; expected a mapping starting with version: {SUPPORTED_VERSION}"
        )
        raise RulesError([Problem(source, 1, 1, message)])
    top = reader.mapping(tree)
    ruleset = None if top is None else _Loader(reader, top).load()
    if ruleset is None or reader.problems:
        raise RulesError(_in_file_order(reader.problems))
    return ruleset


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """The rule set in the file at ``path``.

    A file that cannot be read raises ``RulesError`` too (a site reloading its rules
    keeps the last good set on any ``RulesError``); the ``OSError`` is its cause.
    """
    name = os.fspath(path)
    try:
        with Path(name).open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # a huge file is not read whole
            size = os.fstat(file.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RulesError([Problem(name, 1, 1, f"cannot read the rule file: {reason}")]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise RulesError([file_size_problem(name, max(size, len(data)))])
    return parse_rules(data, source=name)


def _defined(kind: str, names: set[str]) -> str:
    plural = f"{kind}s"
    if not names:
        return f"no {plural} are defined"
    listed = sorted(names)
    more = len(listed) - _MAX_LISTED
    if more > 0:
        return f"defined {plural}: {one_of(listed[:_MAX_LISTED])} and {more} more"
    return f"defined {plural}: {one_of(listed)}"


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))  # an aliased node can repeat a message
    return sorted(unique, key=lambda p: (p.line, p.column))


class _Loader:
    def __init__(self, reader: Reader, top: Map) -> None:
        self.r = reader
        self.top = top
        self.refs: list[Reference] = []
        # The names each section defines, valid or not; None if the section is unreadable
        # (then references to it are not checked: the section's own error says enough).
        self.defined: dict[str, set[str] | None] = {}

    def load(self) -> RuleSet | None:
        r, top = self.r, self.top
        r.keys(top, TOP_KEYS, "at the top level")
        version = self._version()
        site_node = top.get("site")
        site = Site() if site_node is None else read_site(r, site_node)
        dayparts = self._section("dayparts", "daypart", read_daypart)
        variants = self._section("variants", "variant", read_variant)
        goals = self._section("goals", "goal", read_goal)
        experiments: dict[str, Experiment] = {}
        experiments_node = top.get("experiments")
        if experiments_node is None:
            self.defined["experiment"] = set()
        else:
            experiments, self.defined["experiment"] = read_experiments(
                r, experiments_node, self.refs
            )
        rules = self._rules()
        self._check_references()
        self._check_experiment_rules(rules, experiments)
        self._check_budgets(experiments, goals)
        if r.problems or version is None or site is None:
            return None
        return RuleSet(
            version=version,
            site=site,
            dayparts=dayparts,
            variants=variants,
            goals=goals,
            rules=tuple(rule for rule, _ in rules),
            experiments=experiments,
            source=r.source,
        )

    def _version(self) -> int | None:
        node = self.top.get("version")
        if node is None:
            self.r.error(
                self.top, f"missing key 'version'; expected version: {SUPPORTED_VERSION} at the top"
            )
            return None
        if isinstance(node, Scalar) and isinstance(node.value, int) and node.value is not True:
            if node.value == SUPPORTED_VERSION:
                return SUPPORTED_VERSION
            self.r.error(
                node, f"unsupported version {node.text}; expected {SUPPORTED_VERSION}, the only one"
            )
            return None
        self.r.error(node, f"expected version {SUPPORTED_VERSION}, found {found(node)}")
        return None

    # --- named sections (dayparts, variants, goals) ---------------------------------------

    def _section(
        self, key: str, kind: str, read: Callable[[Reader, Scalar, YNode], T | None]
    ) -> dict[str, T]:
        """A mapping of named definitions; records the names even when a definition is bad."""
        node = self.top.get(key)
        if node is None:
            self.defined[kind] = set()
            return {}
        mapping = self.r.mapping(node)
        if mapping is None:
            self.defined[kind] = None
            return {}
        self.defined[kind] = {entry.name for entry in mapping}
        definitions: dict[str, T] = {}
        for entry in mapping:
            if self.r.name(entry.key, kind):
                definition = read(self.r, entry.key, entry.value)
                if definition is not None:
                    definitions[entry.name] = definition
        return definitions

    # --- rules ------------------------------------------------------------------------------

    def _rules(self) -> list[tuple[Rule, Map]]:
        node = self.top.get("rules")
        if node is None:
            return []
        items = self.r.sequence(node)
        if items is None:
            return []
        rules: list[tuple[Rule, Map]] = []
        names: dict[str, Scalar] = {}
        for item in items.items:
            mapping = self.r.mapping(item)
            if mapping is None:
                continue
            rule = self._rule(mapping, names)
            if rule is not None:
                rules.append((rule, mapping))
        return rules

    def _rule(self, mapping: Map, names: dict[str, Scalar]) -> Rule | None:
        r = self.r
        before = len(r.problems)
        r.keys(mapping, RULE_KEYS, "in rule")
        name: str | None = None
        name_node = r.require(mapping, "name", "rule", "a name such as evening-planners-book")
        if name_node is not None:
            name = r.string(name_node, "a rule name")
            if name is not None and isinstance(name_node, Scalar) and r.name(name_node, "rule"):
                first = names.get(name)
                if first is not None:
                    r.error(
                        name_node, f"duplicate rule name '{name}'; first used on line {first.line}"
                    )
                else:
                    names[name] = name_node
        what = "rule" if name is None else f"rule '{name}'"
        serve: str | None = None
        serve_node = r.require(mapping, "serve", what, "the name of the variant to serve")
        if serve_node is not None:
            serve = r.string(serve_node, "a variant name")
            if serve is not None:
                self.refs.append(Reference("variant", serve, serve_node))
        when_node = mapping.get("when")
        when = None if when_node is None else read_when(r, when_node, self.refs)
        experiment: str | None = None
        experiment_node = mapping.get("experiment")
        if experiment_node is not None:
            experiment = r.string(experiment_node, "an experiment name")
            if experiment is not None:
                self.refs.append(Reference("experiment", experiment, experiment_node))
        holdout_node = mapping.get("holdout")
        holdout = None if holdout_node is None else read_holdout(r, holdout_node)
        if len(r.problems) > before or name is None or serve is None:
            return None
        location = r.location(mapping)
        if holdout_node is not None and (when is None or when.is_empty):
            # The catch-all serves the default variant: it is what held-out visitors see.
            r.error(
                holdout_node,
                f"rule '{name}' is the catch-all: it serves the default variant, which is "
                "what held-out visitors see; expected no holdout here (site.holdout sets "
                "the share for the other rules)",
            )
            return None
        if when is None:
            return Rule(name, serve, experiment=experiment, location=location, holdout=holdout)
        return Rule(
            name, serve, when=when, experiment=experiment, location=location, holdout=holdout
        )

    # --- across sections --------------------------------------------------------------------

    def _check_references(self) -> None:
        if any(entry.name not in TOP_KEYS for entry in self.top):
            # A misspelled section ("variant:") is already reported; calling every name it
            # defines undefined as well would bury that one message.
            for kind, key in _SECTION_OF.items():
                if self.top.get(key) is None:
                    self.defined[kind] = None
        expected: dict[str, str] = {}  # per kind, built once: a file may define thousands
        for ref in self.refs:
            names = self.defined.get(ref.kind)
            if names is None or ref.name in names:
                continue
            if ref.kind not in expected:
                expected[ref.kind] = _defined(ref.kind, names)
            self.r.error(
                ref.node, f"undefined {ref.kind} '{shown(ref.name)}'; {expected[ref.kind]}"
            )

    def _check_experiment_rules(
        self, rules: list[tuple[Rule, Map]], experiments: dict[str, Experiment]
    ) -> None:
        # Visitors outside the experiment (not yet in the rollout, bots, DNT) see what the
        # rule serves, so it must be the control: otherwise the control arm's numbers would
        # describe a page that most visitors never see.
        for rule, mapping in rules:
            experiment = experiments.get(rule.experiment or "")
            if experiment is None:
                continue
            control = experiment.control
            if rule.serve != control.variant:
                self.r.error(
                    mapping.get("serve") or mapping,
                    f"rule '{rule.name}' serves '{rule.serve}', but experiment "
                    f"'{experiment.name}' has control arm '{control.name}' serving "
                    f"'{control.variant}'; expected serve: {control.variant} (what visitors "
                    "outside the experiment see)",
                )

    def _check_budgets(self, experiments: dict[str, Experiment], goals: dict[str, Goal]) -> None:
        # Spend in money is the spend in conversions at the observed value per conversion:
        # a goal that never carries a value would leave a revenue budget forever unreached.
        for experiment in experiments.values():
            budget, goal = experiment.budget, goals.get(experiment.goal)
            if budget is None or budget.unit != "revenue" or goal is None:
                continue
            if goal.value_header is None and not goal.beacon and budget.location is not None:
                where = budget.location
                self.r.problems.append(
                    Problem(
                        where.file,
                        where.line,
                        where.column,
                        f"a revenue budget needs goal '{goal.name}' to carry values; expected "
                        "value_header on the goal (or a beacon goal, whose beacon sends the "
                        "value), or budget: {conversions: N}",
                    )
                )
