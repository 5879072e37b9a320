"""What the adaptive rules earn, on the admin pages: the board's holdout section (the
holdout value, a month, with its interval, and a card per priced rule) and a page per rule
with both arms pooled and per device × daypart, per goal. Read from
``HoldoutReport.to_dict()``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daypart.middleware.admin.board import money
from daypart.middleware.admin.charts import segment_grid
from daypart.middleware.admin.pages import Viewer, _arm_table, _e, _pct, page


def _range(triple: object, unit: str = "") -> str:
    if not isinstance(triple, list | tuple) or len(triple) != 3:
        return "–"
    mean, low, high = triple
    return f"{money(mean, unit)} <small>({money(low, unit)} to {money(high, unit)})</small>"


def _uplift(goal: Mapping[str, Any]) -> str:
    uplift = goal.get("uplift")
    low, high = (goal.get("uplift_interval") or (None, None))[:2]
    point = "–" if not isinstance(uplift, int | float) else f"{uplift * 100:+.1f}%"
    return f"{point} <small>({_pct(low, 1)} to {_pct(high, 1)})</small>"


def _headline(goal: Mapping[str, Any]) -> tuple[str, object]:
    """What a goal's holdout value is counted in: revenue where the goal carries values,
    else conversions; and the monthly (mean, low, high)."""
    month = goal.get("per_month") or {}
    if goal.get("revenue") and month.get("revenue"):
        return "revenue", month.get("revenue")
    return "conversions", month.get("conversions")


def holdout_value(holdouts: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, list[float]]]:
    """Per goal: (goal, unit, [mean, low, high]) of what every priced rule together earns a
    month. The interval adds the rules' bounds, which holds however their visitors overlap
    (a visitor counted under two rules counts in both)."""
    totals: dict[tuple[str, str], list[float]] = {}
    for holdout in holdouts:
        for goal in holdout.get("goals", []):
            unit, triple = _headline(goal)
            if isinstance(triple, list | tuple) and len(triple) == 3:
                total = totals.setdefault((str(goal.get("goal")), unit), [0.0, 0.0, 0.0])
                for i in range(3):
                    total[i] += float(triple[i])
    return [(goal, unit, total) for (goal, unit), total in totals.items()]


def holdout_section(prefix: str, holdouts: Sequence[Mapping[str, Any]]) -> str:
    """The board's answer to "do the adaptive rules pay off?": empty without holdouts."""
    if not holdouts:
        return ""
    values = holdout_value(holdouts)
    boxes = "".join(
        f"<div class='total'>holdout value, a month ({_e(goal)})<b class='money'>"
        f"{_range(total)}</b>{'revenue' if unit == 'revenue' else 'conversions'} the adaptive "
        "rules earn over the default variant (95%)</div>"
        for goal, unit, total in values
    ) or ("<div class='total'>holdout value<b>–</b>no traffic counted yet</div>")
    cards = "".join(_card(prefix, holdout) for holdout in holdouts)
    return (
        "<h2>What the adaptive rules earn</h2>"
        f"<div class='totals'>{boxes}</div><div class='cards'>{cards}</div>"
        "<h2>Experiments</h2>"
    )


def experiment_block(prefix: str, experiment: str, holdouts: Sequence[Mapping[str, Any]]) -> str:
    """On an experiment's page: what the rule running it earns against the default, on
    the experiment's goal and the others; empty when no holdout prices that rule."""
    mine = [h for h in holdouts if h.get("experiment") == experiment]
    if not mine:
        return ""
    items = "".join(
        f"<li><a href='{prefix}/holdouts/{_e(h.get('rule'))}'>{_e(h.get('rule'))}</a> against "
        f"{_e(h.get('default_variant') or 'the unchanged page')}: "
        + "; ".join(
            f"{_e(goal.get('goal'))} {_uplift(goal)}, P(beat default) "
            f"{_pct(goal.get('prob_beat_default'), 1)}"
            for goal in h.get("goals", [])
        )
        + "</li>"
        for h in mine
    )
    return f"<h2>What its rule earns against the default</h2><ul>{items}</ul>"


def _card(prefix: str, holdout: Mapping[str, Any]) -> str:
    rule = str(holdout.get("rule"))
    share = _pct(holdout.get("share"), 0)
    rows = []
    for goal in holdout.get("goals", []):
        unit, triple = _headline(goal)
        rows.append(
            f"<dt>{_e(goal.get('goal'))}</dt><dd>{_uplift(goal)}, P(beat default) "
            f"{_pct(goal.get('prob_beat_default'), 1)}; a month: "
            f"<span class='money'>{_range(triple)}</span> {unit}</dd>"
        )
    notes = "".join(f"<li>{_e(reason)}</li>" for reason in holdout.get("reasons", [])[:2])
    warn = (holdout.get("srm") or {}).get("flagged")
    return (
        f"<section class='card' aria-label='holdout {_e(rule)}'><h2>"
        f"<a href='{prefix}/holdouts/{_e(rule)}'>{_e(rule)}</a></h2>"
        f"<div class='meaning'>{_e(holdout.get('adaptive_variant'))} against "
        f"{_e(holdout.get('default_variant') or 'the unchanged page')}, {share} held out</div>"
        f"<dl><dt>visitors</dt><dd>{int(holdout.get('visitors', 0)):,}</dd>{''.join(rows)}</dl>"
        + (
            "<ul class='notes'><li class='warn'>sample ratio mismatch: do not trust these "
            "numbers yet</li></ul>"
            if warn
            else (f"<ul class='notes'>{notes}</ul>" if notes else "")
        )
        + "</section>"
    )


def holdout_page(
    prefix: str,
    holdout: Mapping[str, Any],
    devices: Sequence[str],
    dayparts: Sequence[str],
    viewer: Viewer | None = None,
) -> str:
    """One rule's holdout: what adapting earns on each goal, both arms pooled and per
    device × daypart."""
    rule = str(holdout.get("rule"))
    srm = holdout.get("srm") or {}
    experiment = holdout.get("experiment")
    runs = (
        f" · runs <a href='{prefix}/experiments/{_e(experiment)}'>{_e(experiment)}</a>"
        if experiment
        else ""
    )
    reasons = "".join(
        f"<li class='{'reason' if 'sample ratio' in str(r) else 'note'}'>{_e(r)}</li>"
        for r in holdout.get("reasons", [])
    )
    blocks = []
    for goal in holdout.get("goals", []):
        per_1000 = goal.get("per_1000") or {}
        month = goal.get("per_month") or {}
        rows = [
            ("uplift of adapting (95%)", _uplift(goal)),
            ("P(beat default)", _pct(goal.get("prob_beat_default"), 1)),
            ("extra conversions per 1,000 visitors", _range(per_1000.get("conversions"))),
        ]
        if goal.get("revenue"):
            rows.append(("extra revenue per 1,000 visitors", _range(per_1000.get("revenue"))))
        rows.append(
            (
                "visitors adapted a month",
                f"{float(month.get('monthly_visitors') or 0.0):,.0f}",
            )
        )
        rows.append(("extra conversions a month", _range(month.get("conversions"))))
        if goal.get("revenue"):
            rows.append(("extra revenue a month", _range(month.get("revenue"))))
        cells = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
        segments = "".join(
            f"<h4>{_e(s.get('device'))} × {_e(s.get('daypart'))}</h4>"
            + _arm_table(s.get("arms", []), baseline="default")
            for s in goal.get("segments", [])
        )
        grid = segment_grid(
            {"segments": goal.get("segments", [])}, devices, dayparts, baseline="default"
        )
        blocks.append(
            f"<h2>Goal {_e(goal.get('goal'))}</h2><table class='business'>{cells}</table>"
            + _arm_table(goal.get("arms", []), baseline="default")
            + "<h3>Where adapting wins and where it loses</h3>"
            + grid
            + f"<details><summary>Segments (device × daypart)</summary>{segments or '–'}"
            "</details>"
        )
    body = (
        f"<p><a href='{prefix}/'>← board</a></p><h1>Holdout of {_e(rule)}</h1>"
        f"<p>{_pct(holdout.get('share'), 1)} of the visitors the rule matches see "
        f"<code>{_e(holdout.get('default_variant') or 'the unchanged page')}</code> (the "
        f"default) instead of <code>{_e(holdout.get('adaptive_variant'))}</code>, and enter "
        f"no experiment{runs} · {int(holdout.get('visitors', 0)):,} visitors · SRM p = "
        f"{_num(srm.get('p_value'))}</p>"
        f"<ul>{reasons}</ul>{''.join(blocks) or '<p>The rules define no goals.</p>'}"
        "<p><small>Intervals are 95%. The default arm is the held-out visitors; the adaptive "
        "arm is everyone else the rule matched, those in its experiment included. A month: "
        "the visitors the rule adapted per day over the last 28 days, times 30.44.</small></p>"
    )
    return page(f"holdout {rule}", body, prefix, viewer)


def _num(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.4f}"
