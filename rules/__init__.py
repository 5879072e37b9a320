"""daypart.rules: the YAML rule language and the request context it matches on.

Loading (``load_rules``/``parse_rules``, errors with file, line and column), linting
(``check_file``), the visitor's device (``device_class``) and local time.
"""

from pathlib import Path
from typing import Any

from daypart.rules.device import device_class
from daypart.rules.errors import DaypartError, Problem, RulesError, moved
from daypart.rules.lint import check_file, lint
from daypart.rules.loader import load_rules, parse_rules
from daypart.rules.model import RuleSet

EXAMPLES_DIR = Path(__file__).with_name("examples")

__all__ = [
    "EXAMPLES_DIR",
    "DaypartError",
    "Problem",
    "RuleSet",
    "RulesError",
    "check_file",
    "device_class",
    "lint",
    "load_rules",
    "parse_rules",
]


def __getattr__(name: str) -> Any:
    # ExperimentError, StoreError, StoreUnavailable: exported here before they moved.
    return moved(name, __name__)
