"""A rule set compiled for the request path. Rebuilt as a whole on every reload and
swapped in one assignment, so a request always sees one consistent rule set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from daypart.experiments.holdout import HoldoutPolicies
from daypart.experiments.policy import ExperimentPolicies
from daypart.middleware.goals import CompiledGoal
from daypart.middleware.variants import CompiledVariant
from daypart.rules.channels import ChannelReader
from daypart.rules.glob import compile_globs
from daypart.rules.localtime import zone_named
from daypart.rules.matcher import Matcher
from daypart.rules.model import RuleSet, Variant

# Headers every request is looked at for, whatever the rules say.
BASE_HEADERS = frozenset({b"user-agent", b"cookie", b"sec-ch-ua-mobile", b"dnt", b"sec-gpc"})


class CompiledRules:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.matcher = Matcher(ruleset)
        zone = zone_named(ruleset.site.timezone)
        if zone is None:  # the loader validated it; only a hand-built RuleSet gets here
            raise ValueError(f"unknown timezone {ruleset.site.timezone!r}")
        self.site_zone = zone
        self._day: tuple[float, float, int] = (0.0, 0.0, 0)  # start, end, ordinal
        self.zone_sources = tuple((s.kind == "cookie", s.name) for s in ruleset.site.timezone_from)
        # None without site.channel_from: the request path then reads no channel at all.
        self.channels = ChannelReader(ruleset.site) if ruleset.site.channel_from else None
        channel_headers = frozenset(
            s.name.encode("latin-1") for s in ruleset.site.channel_from if s.kind == "header"
        )
        self.variants = {name: CompiledVariant.build(v) for name, v in ruleset.variants.items()}
        self.catch_all = ruleset.catch_all
        self.policies = ExperimentPolicies(ruleset)
        # Rule name -> its holdout; empty (falsy) when no holdout is declared, which is
        # all the request path asks then.
        self.holdout_policies = HoldoutPolicies(ruleset)
        self.holdouts = self.holdout_policies.by_rule
        # What a held-out visitor is served when there is no catch-all: the request as it
        # came, but still a response of its own (private), never a shared cache's copy.
        self.unchanged = CompiledVariant.build(Variant(""))
        paths = ruleset.site.paths
        self.pages = None if paths is None else compile_globs(paths)
        self.goals = tuple(CompiledGoal.build(g) for g in ruleset.goals.values())
        self.response_goals = tuple(g for g in self.goals if g.path is not None)
        # Most requests are GETs and most goals are POSTs: skip the path globs early.
        methods = (
            None
            if any(g.method is None for g in self.response_goals)
            else frozenset(g.method for g in self.response_goals)
        )
        self.may_match_goal: Callable[[str], bool] = (
            _never
            if not self.response_goals
            else _always
            if methods is None
            else methods.__contains__
        )
        self.wanted_headers = {
            raw: raw.decode("latin-1")
            for raw in BASE_HEADERS
            | frozenset(name.encode("latin-1") for name in self.matcher.rule_headers)
            | channel_headers
        }

    def site_day(self, epoch: float) -> int:
        """The site's local date at ``epoch`` as an ordinal: the day records are counted in
        for the daily series. Remembers the current day's bounds (one comparison per call
        until midnight)."""
        start, end, day = self._day
        if start <= epoch < end:
            return day
        local = datetime.fromtimestamp(epoch, self.site_zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = (midnight + timedelta(days=1)).replace(tzinfo=None)
        next_midnight = following.replace(tzinfo=self.site_zone)
        self._day = (midnight.timestamp(), next_midnight.timestamp(), local.toordinal())
        return self._day[2]

    def goals_for_request(self, method: str, path: str) -> tuple[CompiledGoal, ...]:
        """The goals waiting for this request's response. The request path asks
        ``may_match_goal(method)`` first (one C call rules out most requests)."""
        return tuple(g for g in self.response_goals if g.matches_request(method, path))


def _never(method: str) -> bool:
    return False


def _always(method: str) -> bool:
    return True
