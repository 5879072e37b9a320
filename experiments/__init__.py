"""daypart.experiments: assignment, rollout stages and gates, the store, Bayesian statistics
and reports. Knows nothing of HTTP; the middleware wires it in.

    from daypart.experiments import analyze
    analyze([(120, 1000), (150, 1000)])      # (conversions, visitors) per arm, control first
"""

from daypart.experiments.assignment import bucket, choose_arm, in_rollout
from daypart.experiments.evaluator import Evaluator
from daypart.experiments.gates import GateDecision, evaluate_gates
from daypart.experiments.report import Report, build_report, build_reports, report_from_counts
from daypart.experiments.rollout import ACTIONS, Rollouts
from daypart.experiments.state import RolloutState
from daypart.experiments.stats import analyze
from daypart.experiments.store import MemoryStore, RedisStore, Store, store_from_url

__all__ = [
    "ACTIONS",
    "Evaluator",
    "GateDecision",
    "MemoryStore",
    "RedisStore",
    "Report",
    "RolloutState",
    "Rollouts",
    "Store",
    "analyze",
    "bucket",
    "build_report",
    "build_reports",
    "choose_arm",
    "evaluate_gates",
    "in_rollout",
    "report_from_counts",
    "store_from_url",
]
