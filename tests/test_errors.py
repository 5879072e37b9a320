"""The exception tree: each error in its own package, split by what the caller should do,
carrying its context as attributes; the old import paths still work, with a warning."""

from __future__ import annotations

import asyncio

import pytest

import daypart.rules
import daypart.rules.errors
from daypart.experiments import errors as experiment_errors
from daypart.experiments.rollout import Rollouts, apply_action
from daypart.experiments.state import RolloutState
from daypart.experiments.store import MemoryStore, store_from_url
from daypart.experiments.store import errors as store_errors
from daypart.rules.errors import DaypartError
from daypart.rules.model import Arm, Experiment

EXPERIMENT = Experiment(
    name="evening-offer", arms=(Arm("control", "booking"), Arm("offer", "offer")), goal="booked"
)


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        (daypart.rules.errors, "ExperimentError", experiment_errors.ExperimentError),
        (daypart.rules.errors, "StoreError", store_errors.StoreError),
        (daypart.rules.errors, "StoreUnavailable", store_errors.StoreUnavailable),
        (daypart.rules, "ExperimentError", experiment_errors.ExperimentError),
        (daypart.rules, "StoreError", store_errors.StoreError),
    ],
)
def test_old_import_paths_resolve_with_a_deprecation_warning(
    old: object, name: str, new: type
) -> None:
    with pytest.warns(DeprecationWarning, match=f"moved to .*{name}"):
        assert getattr(old, name) is new


def test_unknown_names_are_still_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        daypart.rules.errors.Nope  # noqa: B018


def test_the_tree() -> None:
    for kind in (
        experiment_errors.ExperimentMisuse,
        experiment_errors.InvalidTransition,
        experiment_errors.StateConflict,
    ):
        assert issubclass(kind, experiment_errors.ExperimentError)
    assert issubclass(experiment_errors.ExperimentError, DaypartError)
    assert issubclass(store_errors.StoreUnavailable, store_errors.StoreError)
    assert issubclass(store_errors.StoreError, DaypartError)


def test_an_action_not_allowed_now_is_an_invalid_transition_naming_experiment_and_action() -> None:
    completed = RolloutState(status="completed", winner="offer")
    with pytest.raises(experiment_errors.InvalidTransition) as raised:
        apply_action(EXPERIMENT, completed, "pause", 0.0)
    assert (raised.value.experiment, raised.value.operation) == ("evening-offer", "pause")


def test_completing_without_a_known_winner_is_misuse() -> None:
    with pytest.raises(experiment_errors.ExperimentMisuse, match="needs a winner"):
        apply_action(EXPERIMENT, RolloutState(), "complete", 0.0, winner="nobody")


def test_a_stale_expected_state_is_a_retryable_conflict() -> None:
    async def run() -> None:
        rollouts = Rollouts(MemoryStore(), lambda: 1000.0)
        await rollouts.act(EXPERIMENT, "pause", actor="a", reason="r")
        with pytest.raises(experiment_errors.StateConflict) as raised:
            await rollouts.act(EXPERIMENT, "resume", actor="b", reason="r", expected=RolloutState())
        assert raised.value.operation == "resume"

    asyncio.run(run())


def test_store_errors_are_the_stores() -> None:
    with pytest.raises(store_errors.StoreError, match="unknown store URL"):
        store_from_url("postgres://x")
