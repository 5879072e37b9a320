"""``daypart explain``: run one synthetic request through the real decision code."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from daypart.middleware.classify import Classifier
from daypart.middleware.compiled_rules import CompiledRules
from daypart.middleware.decide import decide
from daypart.middleware.visitor import CookieSigner
from daypart.rules.loader import load_rules
from daypart.rules.model import DAY_NAMES


def _no_conversions(*args: Any) -> int:  # pragma: no cover - explain never converts
    return 0


def explain(
    rules: str | os.PathLike[str],
    *,
    user_agent: str,
    at: datetime,
    path: str = "/",
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    visitor: str | None = None,
) -> dict[str, Any]:
    """Which rule, variant and arm a request gets, and why earlier rules did not match.

    A naive ``at`` is the visitor's local time (in the zone the request resolves to); an
    aware one is an instant. The arm of an experiment depends on who asks: with a
    ``visitor`` id it is that visitor's arm (the same hash as on the site, experiments at
    their first stage); without one, nobody is enrolled and the result shows what
    visitors outside the experiment see.
    """
    epoch = at.timestamp() if at.tzinfo is not None else 0.0
    compiled = CompiledRules(load_rules(rules))
    classifier = Classifier(
        CookieSigner("explain-" + "x" * 16), "daypart", lambda: epoch, _no_conversions
    )
    raw_headers = [(b"user-agent", user_agent.encode("latin-1", "replace"))]
    raw_headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in headers
    ]
    path_only, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "method": method.upper(),
        "path": path_only,
        "query_string": query.encode("latin-1"),
        "headers": raw_headers,
        "scheme": "https",
    }
    decision, context = classifier.classify(scope, compiled)
    if at.tzinfo is None:
        # Now that the visitor's zone is known, read the naive time in it.
        epoch = at.replace(tzinfo=decision.zone).timestamp()
        decision, context = classifier.classify(scope, compiled)
    verdicts = [] if decision.device == "bot" else compiled.matcher.explain(context)
    decision.visitor_id = visitor if decision.tracked else None
    decide(decision, context, compiled, {})  # no states: every experiment at stage 1
    result = decision.to_dict()
    result["weekday"] = DAY_NAMES[context.local.weekday]
    result["rules_checked"] = [
        {"rule": v.rule.name, "matched": v.matched, "reason": v.reason} for v in verdicts
    ]
    if decision.device == "bot":
        result["rules_checked"] = (
            [{"rule": decision.rule, "matched": True, "reason": "bots get the default variant"}]
            if decision.rule
            else []
        )
    for key in ("visitor_id", "new_visitor", "tracked"):
        result.pop(key)
    return result
