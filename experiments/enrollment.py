"""Who enters an experiment, and in which arm, given its rollout state.

Stages are cumulative: at stage k a visitor enters when any stage up to k includes them
(its audience matches, if it has one, and the visitor's traffic bucket is below its
share). So the internal channel of stage 0 stays in when stage 1 opens 5% of everyone,
and ramps only ever add visitors. The arm comes from an independent hash, so it does not
change when traffic changes.
"""

from __future__ import annotations

from daypart.experiments.bucketing import ArmPicker, audience_matches, in_rollout
from daypart.experiments.state import RolloutState
from daypart.rules.context import Context
from daypart.rules.model import Arm, Experiment


class Enrollment:
    __slots__ = ("_open_from", "_picker", "arms", "by_name", "experiment", "salt", "weights")

    def __init__(self, experiment: Experiment, salt: str) -> None:
        self.experiment = experiment
        self.salt = salt
        self.arms = experiment.arms
        self.weights = tuple(arm.weight for arm in experiment.arms)
        self.by_name = {arm.name: arm for arm in experiment.arms}
        self._picker = ArmPicker(salt, self.weights)
        # From this stage on everyone is included (a stage for all traffic, no audience):
        # no stage needs looking at, nor a traffic hash.
        self._open_from = next(
            (
                index
                for index, stage in enumerate(experiment.rollout)
                if stage.audience is None and stage.traffic >= 1.0
            ),
            None,
        )

    def included(self, visitor_id: str, stage_index: int, ctx: Context) -> bool:
        last = min(stage_index, len(self.experiment.rollout) - 1)
        if self._open_from is not None and last >= self._open_from:
            return True
        for stage in self.experiment.rollout[: last + 1]:
            if stage.audience is not None and not audience_matches(
                stage.audience, ctx.query, ctx.headers, ctx.cookies
            ):
                continue
            if in_rollout(visitor_id, self.salt, stage.traffic):
                return True
        return False

    def enroll(
        self, visitor_id: str, state: RolloutState, ctx: Context, picker: ArmPicker | None = None
    ) -> Arm | None:
        """The arm a visitor not yet in the experiment enters now, or None (stays out);
        ``picker``: the bandit's weights in force, else the rules' weights."""
        if not state.enrolling or not self.included(visitor_id, state.stage, ctx):
            return None
        return self.arms[(picker or self._picker).pick(visitor_id)]
