"""Staged rollouts: moving an experiment through its stages, by hand or by the gates.

Every transition is a compare-and-set on the state document in the store (so two workers
or an analyst and the evaluator never overwrite each other) followed by an entry in the
experiment's audit log with time, actor, reason and the numbers at that moment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from daypart.experiments.errors import ExperimentMisuse, InvalidTransition, StateConflict
from daypart.experiments.state import RolloutState, WeightPeriod
from daypart.experiments.store.base import Store
from daypart.rules.localtime import Clock
from daypart.rules.model import Experiment

Action = Literal["advance", "rollback", "pause", "resume", "complete"]
ACTIONS: tuple[Action, ...] = ("advance", "rollback", "pause", "resume", "complete")
_CAS_ATTEMPTS = 5


def apply_action(
    experiment: Experiment,
    state: RolloutState,
    action: Action,
    now: float,
    winner: str | None = None,
) -> RolloutState:
    """The state after ``action``; raises ``InvalidTransition`` when it is not allowed now
    and ``ExperimentMisuse`` when completing without a valid winner."""
    name = experiment.name
    if state.status in ("rolled_back", "completed") and action != "resume":
        raise InvalidTransition(
            f"{name} is {state.status}; only resume is possible", experiment=name, operation=action
        )
    arms = [arm.name for arm in experiment.arms]
    if action == "advance":
        if state.status != "running":
            raise InvalidTransition(
                f"{name} is {state.status}; resume it first", experiment=name, operation=action
            )
        if state.stage + 1 < len(experiment.rollout):
            return state.next(stage=state.stage + 1, since=now)
        action = "complete"
    if action == "complete":
        if winner is None or winner not in arms:
            raise ExperimentMisuse(
                f"completing {name} needs a winner; one of {', '.join(arms)}",
                experiment=name,
                operation=action,
            )
        # Completing or rolling back by hand (or on the budget) decides for every segment:
        # per-segment decisions no longer apply.
        return state.next(status="completed", winner=winner, since=now, segments={})
    if action == "rollback":
        return state.next(status="rolled_back", winner=None, since=now, segments={})
    if action == "pause":
        if state.status != "running":
            raise InvalidTransition(
                f"{name} is {state.status}, not running", experiment=name, operation=action
            )
        return state.next(status="paused", since=now)
    # resume: back to running at the current stage (a rolled-back or completed experiment
    # restarts its current stage, keeping its counts)
    if state.status == "running":
        raise InvalidTransition(f"{name} is already running", experiment=name, operation=action)
    return state.next(status="running", winner=None, since=now)


class Rollouts:
    """Reads and changes rollout states in a store."""

    def __init__(self, store: Store, clock: Clock = time.time) -> None:
        self.store = store
        self.clock = clock

    async def state(self, experiment: str) -> RolloutState:
        raw = await self.store.get_state(experiment)
        return RolloutState() if raw is None else RolloutState.from_dict(raw)

    async def act(
        self,
        experiment: Experiment,
        action: Action,
        *,
        actor: str,
        reason: str,
        winner: str | None = None,
        numbers: Mapping[str, object] | None = None,
        expected: RolloutState | None = None,
    ) -> RolloutState:
        """Apply ``action`` and write the audit entry. With ``expected``, act only if the
        stored state is still that one (the evaluator decided on it); otherwise retry on
        concurrent writes."""
        if action not in ACTIONS:
            raise ExperimentMisuse(
                f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}",
                experiment=experiment.name,
                operation=str(action),
            )
        for _ in range(_CAS_ATTEMPTS):
            raw = await self.store.get_state(experiment.name)
            current = RolloutState() if raw is None else RolloutState.from_dict(raw)
            if expected is not None and current != expected:
                raise StateConflict(
                    f"{experiment.name} changed while it was being evaluated",
                    experiment=experiment.name,
                    operation=action,
                )
            now = self.clock()
            if raw is None:
                current = RolloutState(since=now, started=now)
            updated = apply_action(experiment, current, action, now, winner)
            written = await self.store.set_state(
                experiment.name,
                updated.to_dict(),
                expected_version=None if raw is None else current.version,
            )
            if written:
                await self.store.append_audit(
                    experiment.name,
                    {
                        "time": f"{now:.3f}",
                        "actor": actor,
                        "action": action,
                        "reason": reason,
                        "from": json.dumps(current.to_dict(), sort_keys=True),
                        "to": json.dumps(updated.to_dict(), sort_keys=True),
                        "numbers": json.dumps(dict(numbers or {}), sort_keys=True, default=str),
                    },
                )
                return updated
        raise StateConflict(
            f"{experiment.name}: state kept changing; try again",
            experiment=experiment.name,
            operation=action,
        )

    async def record_look(
        self,
        experiment: Experiment,
        expected: RolloutState,
        look: int,
        *,
        reason: str,
        numbers: Mapping[str, object],
    ) -> bool:
        """Remember that the gates decided "hold" on period ``look`` of the current stage,
        so they look again only at the next whole period; the audit log keeps the numbers.
        False when the state changed meanwhile (nothing written)."""
        updated = expected.next(checked=look)
        return await self.transition(experiment, expected, updated, [("hold", reason, numbers)])

    async def set_weights(
        self,
        experiment: Experiment,
        expected: RolloutState,
        weights: tuple[WeightPeriod, ...],
        *,
        reason: str,
        numbers: Mapping[str, object],
    ) -> RolloutState | None:
        """Store a bandit's weight periods (``experiments.bandit``) with an audit entry
        ("weights"); None when the state changed meanwhile (nothing written)."""
        updated = replace(expected, version=expected.version + 1, weights=weights)
        written = await self.transition(
            experiment, expected, updated, [("weights", reason, numbers)]
        )
        return updated if written else None

    async def transition(
        self,
        experiment: Experiment,
        expected: RolloutState,
        updated: RolloutState,
        entries: list[tuple[str, str, Mapping[str, object]]],
        *,
        actor: str = "evaluator",
    ) -> bool:
        """Write ``updated`` if the stored state is still ``expected``, then one audit
        entry per (action, reason, numbers) in ``entries`` (a look of a per-segment
        experiment: each segment decided, then what the experiment did). False when the
        state changed meanwhile (nothing written)."""
        written = await self.store.set_state(
            experiment.name, updated.to_dict(), expected_version=expected.version
        )
        if written:
            now = f"{self.clock():.3f}"
            before = json.dumps(expected.to_dict(), sort_keys=True)
            after = json.dumps(updated.to_dict(), sort_keys=True)
            for action, reason, numbers in entries:
                await self.store.append_audit(
                    experiment.name,
                    {
                        "time": now,
                        "actor": actor,
                        "action": action,
                        "reason": reason,
                        "from": before,
                        "to": after,
                        "numbers": json.dumps(dict(numbers), sort_keys=True, default=str),
                    },
                )
        return written

    async def ensure_started(self, experiment: Experiment) -> RolloutState:
        """Write the initial state (stage 0, running, since now) if there is none, so the
        minimum stage time counts from the first evaluation, not from the epoch."""
        raw = await self.store.get_state(experiment.name)
        if raw is not None:
            return RolloutState.from_dict(raw)
        now = self.clock()
        state = RolloutState(since=now, version=1, started=now)
        if await self.store.set_state(experiment.name, state.to_dict(), expected_version=None):
            await self.store.append_audit(
                experiment.name,
                {
                    "time": f"{state.since:.3f}",
                    "actor": "daypart",
                    "action": "start",
                    "reason": "first seen in the rules",
                    "from": "null",
                    "to": json.dumps(state.to_dict(), sort_keys=True),
                    "numbers": "{}",
                },
            )
            return state
        return await self.state(experiment.name)
