"""Bayesian statistics for daypart's experiments (temporary stub)."""

from daypart.experiments.stats.results import ArmResult, analyze, analyze_many

__all__ = ["ArmResult", "analyze", "analyze_many"]
