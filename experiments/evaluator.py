"""The periodic evaluator: one worker at a time (a store lock with expiry) reads the counts,
asks the gates (with the spend, when the experiment has a budget), and moves rollouts
through ``Rollouts`` (compare-and-set + audit log)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from daypart.experiments.bandit import describe, next_period, with_period
from daypart.experiments.business import spend_of
from daypart.experiments.data_quality import split_consistent
from daypart.experiments.errors import ExperimentError
from daypart.experiments.gates import GateDecision, evaluate_gates
from daypart.experiments.pooling import arm_totals
from daypart.experiments.rollout import Rollouts
from daypart.experiments.segment_decisions import (
    look_per_segment,
    new_decisions,
    per_segment,
    undecided_counts,
)
from daypart.experiments.segment_gates import judge_segments
from daypart.experiments.segment_weights import gate_pairs
from daypart.experiments.store.base import ExperimentCounts, Store
from daypart.rules.localtime import Clock
from daypart.rules.model import Experiment, RuleSet

logger = logging.getLogger("daypart.evaluator")

LOCK = "evaluator"


@dataclass(frozen=True, slots=True)
class Evaluation:
    experiment: str
    decision: GateDecision
    applied: bool  # False when the gates said hold, or another writer got there first


class Evaluator:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = time.time,
        lock_seconds: float = 180.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rollouts = Rollouts(store, clock)
        self.lock_seconds = lock_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def run_once(self, ruleset: RuleSet) -> list[Evaluation] | None:
        """Evaluate every experiment; None when another worker holds the lock."""
        if not await self.store.acquire_lock(LOCK, self.owner, self.lock_seconds):
            return None
        evaluations = []
        for experiment in ruleset.experiments.values():
            state = await self.rollouts.ensure_started(experiment)
            names = [arm.name for arm in experiment.arms]
            counts, warnings = split_consistent(
                await self.store.counts(experiment.name), names, experiment.goal
            )
            if warnings:
                logger.warning(
                    "daypart: %s: %d inconsistent cell(s), the gates hold: %s",
                    experiment.name,
                    len(warnings),
                    "; ".join(warnings),
                )
            totals = arm_totals(counts, names, experiment.goal)
            now = self.clock()
            segmented = per_segment(experiment)
            # Per segment, the stages grow on the segments still undecided; pooled over
            # segments by a standardised mix once a bandit's weights differed by segment.
            judged = gate_pairs(
                experiment, state, undecided_counts(counts, state) if segmented else counts
            )
            spend = None
            if experiment.budget is not None:
                goal = ruleset.goals.get(experiment.goal)
                # Whether the goal carries values: the report's rule, so both say the same.
                values = (goal is not None and goal.value_header is not None) or any(
                    t.revenue_sq > 0 for t in totals
                )
                spend = spend_of(totals, values)
            decision = evaluate_gates(experiment, state, judged, now, warnings, spend=spend)
            applied = False
            if segmented and decision.look is not None:
                # A look: the segments decide first (judged only now, once per period), and
                # the stages then grow on those still undecided after them.
                judgement = judge_segments(experiment, counts)
                deciding = new_decisions(experiment, state, judgement, now)
                if deciding:
                    undecided = undecided_counts(counts, state, deciding)
                    judged = gate_pairs(experiment, state, undecided)
                    decision = evaluate_gates(experiment, state, judged, now, warnings, spend=spend)
                look = look_per_segment(experiment, state, decision, judgement, deciding, now)
                entries: list[tuple[str, str, Mapping[str, object]]] = [
                    (
                        "ship_segment" if c.decision.decision == "shipped" else "rollback_segment",
                        c.decision.reason,
                        c.numbers,
                    )
                    for c in look.changes
                ]
                entries.append((look.action, look.reason, decision.numbers))
                written = await self.rollouts.transition(experiment, state, look.state, entries)
                applied = written and (bool(look.changes) or look.action != "hold")
                for change in look.changes if written else ():
                    logger.info(
                        "daypart: %s: %s: %s",
                        experiment.name,
                        change.decision.decision,
                        change.decision.reason,
                    )
            elif decision.verdict == "hold" and decision.look is not None:
                await self.rollouts.record_look(
                    experiment,
                    state,
                    decision.look,
                    reason=decision.reason,
                    numbers=decision.numbers,
                )
            elif decision.verdict != "hold":
                try:
                    await self.rollouts.act(
                        experiment,
                        decision.verdict,
                        actor="evaluator",
                        reason=decision.reason,
                        winner=decision.best_arm,
                        numbers=decision.numbers,
                        expected=state,
                    )
                    applied = True
                    logger.info(
                        "daypart: %s: %s (%s)", experiment.name, decision.verdict, decision.reason
                    )
                except ExperimentError as exc:
                    logger.info(
                        "daypart: %s: %s not applied: %s", experiment.name, decision.verdict, exc
                    )
            if experiment.allocation == "bandit" and decision.look is not None:
                # The pooled weights from what the gates judged: per segment, the segments
                # still learning (a decided one takes no one new), standardised once the
                # weights differed by segment.
                await self._reweigh(experiment, judged, counts, ruleset.site.timezone)
            evaluations.append(Evaluation(experiment.name, decision, applied))
        return evaluations

    async def _reweigh(
        self,
        experiment: Experiment,
        arms: list[tuple[int, int]],
        counts: ExperimentCounts,
        zone: str,
    ) -> None:
        """A bandit's new weights after a gate look, from the next local day on: pooled
        from ``arms`` and per segment from ``counts`` (the consistent cells)."""
        state = await self.rollouts.state(experiment.name)
        if state.status != "running":
            return
        now = self.clock()
        period = next_period(experiment, state, arms, now, zone, counts)
        if period is None:
            return
        reason = describe(period)
        numbers: dict[str, object] = {
            "weights": dict(period.weights),
            "prob_best": dict(period.prob_best),
            "day": period.day,
            "visitors": [v for _, v in arms],
            "conversions": [c for c, _ in arms],
        }
        if period.segments:
            numbers["segments"] = period.to_dict()["segments"]
        if await self.rollouts.set_weights(
            experiment, state, with_period(state, period), reason=reason, numbers=numbers
        ):
            logger.info("daypart: %s: %s", experiment.name, reason)
