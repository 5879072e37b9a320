"""daypart.experiments: the experiment policy (who gets which arm, where a conversion
counts), bucketing, rollout stages and gates, the store, Bayesian statistics
and reports. Knows nothing of HTTP; the middleware wires it in.

    from daypart.experiments import analyze
    analyze([(120, 1000), (150, 1000)])      # (conversions, visitors) per arm, control first
"""

from daypart.experiments.bucketing import bucket, choose_arm, in_rollout
from daypart.experiments.errors import (
    ExperimentError,
    ExperimentMisuse,
    InvalidTransition,
    StateConflict,
)
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.gates import Evidence, GateDecision, evaluate_gates, judge_evidence
from daypart.experiments.holdout_report import HoldoutReport, build_holdout_reports
from daypart.experiments.policy import Assignment, ExperimentPolicies, ExperimentPolicy, Mark
from daypart.experiments.report import Report, build_report, build_reports, report_from_counts
from daypart.experiments.rollout import ACTIONS, Rollouts
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.experiments.store import MemoryStore, RedisStore, Store, store_from_url
from daypart.experiments.store.errors import StoreError, StoreUnavailable

__all__ = [
    "ACTIONS",
    "Assignment",
    "Evaluator",
    "Evidence",
    "ExperimentError",
    "ExperimentMisuse",
    "ExperimentPolicies",
    "ExperimentPolicy",
    "GateDecision",
    "HoldoutReport",
    "InvalidTransition",
    "Mark",
    "MemoryStore",
    "RedisStore",
    "Report",
    "RolloutState",
    "Rollouts",
    "StateConflict",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "analyze",
    "bucket",
    "build_holdout_reports",
    "build_report",
    "build_reports",
    "choose_arm",
    "evaluate_gates",
    "in_rollout",
    "judge_evidence",
    "report_from_counts",
    "store_from_url",
]
