"""Reason codes: why a result is neutral or flagged. One list, so the API, the exports
and the pages agree on the spelling; each code is a plain string in JSON."""

from __future__ import annotations

NO_DATA = "no_data"  # an arm without visitors: the result is the prior
SINGLE_ARM = "single_arm"  # nothing to compare with
NO_CONVERSIONS = "no_conversions"  # analysed normally, flagged
ALL_CONVERTED = "all_converted"  # analysed normally, flagged
TOO_FEW_CONVERSIONS = "too_few_conversions"  # revenue: the value's variance is undefined
TOO_FEW_EXPOSURES = "too_few_exposures"  # SRM: the chi-square test needs more
ZERO_WEIGHT_EXPOSED = "exposures_in_zero_weight_arm"  # SRM: always a mismatch
WEIGHTS_UNKNOWN = "weights_unknown"  # SRM: no rules say what the split should be
NO_ARMS = "no_arms"  # an experiment reported without any arm

CONVERSION_REASONS = (NO_DATA, SINGLE_ARM, NO_CONVERSIONS, ALL_CONVERTED)
