"""The board: one page a board member reads in a minute. One card per experiment — a
traffic light with its meaning in words (never colour alone), the leading arm and its
probability to beat control, stage and traffic, how long it has run and when the gates
look next, and the business case in money — with the totals across experiments on top.
Cards stack on a phone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from daypart.middleware.admin.pages import Viewer, _e, _light, _pct, page
from daypart.middleware.runtime import Runtime

MEANINGS = {
    "green": "ready to grow: the evidence meets the advance gate",
    "amber": "learning: not conclusive yet",
    "red": "stop and look: worse than control, a sample-ratio mismatch, inconsistent data "
    "or over budget",
    "grey": "idle: paused, finished or no visitors yet",
}

BOARD_STYLE = """<style>
.totals{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.total{flex:1 1 12rem;background:#f6f7f8;border-radius:.5rem;padding:.7rem 1rem}
.total b{display:block;font-size:1.4rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.8rem 1rem}
.card h2{font-size:1.15rem;margin:.2rem 0 .4rem}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem;margin:.5rem 0}
.card dt{color:#555}.card dd{margin:0}
.meaning{font-weight:600}
.notes{color:#444;font-size:.9rem;margin:.4rem 0 0;padding-left:1.1rem}
.notes .warn{color:#a33}
.money{font-variant-numeric:tabular-nums}
.over{color:#a33}
</style>"""


def money(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    sign = "−" if value < 0 else ""
    return f"{sign}{unit}{abs(value):,.0f}"


def _range(triple: Sequence[float] | None, unit: str = "") -> str:
    if not triple:
        return "–"
    mean, low, high = triple
    return f"{money(mean, unit)} <small>({money(low, unit)} to {money(high, unit)})</small>"


def budget_text(report: Mapping[str, Any]) -> str | None:
    """``spent 41.2 of budget 400 conversions; past it: pause`` (HTML), or None without a
    budget."""
    budget = report.get("budget")
    if not budget:
        return None
    unit, spent, amount = str(budget.get("unit")), budget.get("spent"), budget.get("amount")

    def amount_of(value: object) -> str:
        if not isinstance(value, int | float):
            return "–"  # revenue before any value was recorded
        if unit != "conversions":
            return money(value)
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"

    kind = "conversions" if unit == "conversions" else "in revenue"
    text = f"spent {amount_of(spent)} of budget {amount_of(amount)} {kind}"
    if budget.get("exceeded"):
        return f"<b class='over'>{text}: over budget</b>, {_e(budget.get('on_budget'))}"
    return f"{text}; past it: {_e(budget.get('on_budget'))}"


def weights_text(report: Mapping[str, Any]) -> str | None:
    """``bandit: control 10%, offer 90% since Sat 03 Jan 00:00 UTC`` (HTML), or None for a
    fixed split."""
    allocation = report.get("allocation")
    if not allocation:
        return None
    weights = allocation.get("weights") or {}
    split = ", ".join(f"{_e(arm)} {_pct(share, 0)}" for arm, share in weights.items())
    since = allocation.get("since")
    text = f"bandit: {split}" + (
        " (the rules' split, before the first look)"
        if not isinstance(since, int | float)
        else f" since {datetime.fromtimestamp(since, UTC).strftime('%a %d %b %H:%M UTC')}"
    )
    own = allocation.get("segment_weights") or []
    if own:
        text += f"; {len(own)} segment(s) with their own: " + "; ".join(
            f"{_e(entry.get('segment'))} "
            + ", ".join(
                f"{_e(arm)} {_pct(w, 0)}" for arm, w in (entry.get("weights") or {}).items()
            )
            for entry in own
        )
    upcoming = allocation.get("next_weights")
    if upcoming:
        nxt = ", ".join(f"{_e(arm)} {_pct(share, 0)}" for arm, share in upcoming.items())
        text += f"; from the next day {nxt}"
    return text


def _when(epoch: object, now: float) -> str:
    if not isinstance(epoch, int | float):
        return "–"
    hours = (epoch - now) / 3600
    moment = datetime.fromtimestamp(epoch, UTC).strftime("%a %d %b %H:%M UTC")
    if hours <= 0:
        return f"due now ({moment})"
    return f"in {hours:.0f} h ({moment})" if hours < 48 else f"in {hours / 24:.0f} days ({moment})"


def _card(prefix: str, report: Mapping[str, Any], now: float) -> str:
    name = str(report["experiment"])
    light = str(report.get("light", "grey"))
    business = report.get("business") or {}
    projection = business.get("projection") or {}
    leader = report.get("best_arm") or "–"
    beat = report.get("best_prob_beat_control")
    leading = f"{_e(leader)}" + (f", P(beat control) {_pct(beat, 1)}" if beat is not None else "")
    days = business.get("days_running")
    running = "–" if days is None else f"{days:.1f} days"
    gain = "control leads or no data: nothing to ship"
    if projection:
        revenue = projection.get("revenue")
        gain = (
            f"<span class='money'>{_range(revenue)}</span> a month in revenue"
            if revenue
            else f"<span class='money'>{_range(projection.get('conversions'))}</span> "
            "conversions a month"
        )
        gain += f" if {_e(projection.get('leader'))} ships"
    spent_revenue = business.get("spent_revenue")
    spent = f"{business.get('spent_conversions', 0.0):,.1f} conversions"
    if spent_revenue is not None:
        spent += f" ({money(spent_revenue)} in revenue)"
    budget = budget_text(report)
    split = weights_text(report)
    warnings = [str(r) for r in report.get("data_quality", [])]
    if (report.get("srm") or {}).get("flagged"):
        warnings += [str(r) for r in report.get("reasons", []) if "sample ratio" in str(r)]
    notes = [str(r) for r in report.get("reasons", []) if str(r) not in warnings][:2]
    # Red only for what must not be trusted; the gates' plain holds are neutral notes.
    note_list = "".join(f"<li class='warn'>{_e(n)}</li>" for n in warnings[:2]) + "".join(
        f"<li>{_e(n)}</li>" for n in notes[: max(0, 3 - len(warnings[:2]))]
    )
    return (
        f"<section class='card' aria-label='{_e(name)}'><h2>{_light(report)} "
        f"<a href='{prefix}/experiments/{_e(name)}'>{_e(name)}</a></h2>"
        f"<div class='meaning'>{_e(light)} — {_e(MEANINGS.get(light, ''))}</div><dl>"
        f"<dt>leading</dt><dd>{leading}</dd>"
        f"<dt>stage</dt><dd>{_e(report.get('stage_label', ''))}</dd>"
        f"<dt>visitors</dt><dd>{int(report.get('visitors', 0)):,}</dd>"
        f"<dt>running</dt><dd>{running}; next gate look {_when(report.get('next_look'), now)}"
        f"</dd><dt>if shipped</dt><dd>{gain}</dd>"
        f"<dt>spent so far</dt><dd>{spent}</dd>"
        + (f"<dt>budget</dt><dd>{budget}</dd>" if budget else "")
        + (f"<dt>new visitors</dt><dd>{split}</dd>" if split else "")
        + _per_segment_row(report)
        + "</dl>"
        + (f"<ul class='notes'>{note_list}</ul>" if note_list else "")
        + "</section>"
    )


BOARD_SEGMENTS = 6  # segments named per decision on a card; the page lists them all


def _per_segment_row(report: Mapping[str, Any]) -> str:
    """``per segment: 2 shipped, 1 rolled back, 9 learning`` for decide: per_segment, and
    which segments: ``shipped: desktop × evening (offer) · rolled back: tablet × morning``
    (the first few of each; the experiment page has every one)."""
    decided = report.get("per_segment")
    if not decided:
        return ""
    decisions = decided.get("decisions") or []
    named = []
    for kind, label in (("shipped", "shipped"), ("rolled_back", "rolled back")):
        names = [
            f"{d.get('segment')} ({d.get('arm')})" if kind == "shipped" else str(d.get("segment"))
            for d in decisions
            if d.get("decision") == kind
        ]
        if names:
            more = len(names) - BOARD_SEGMENTS
            listed = ", ".join(names[:BOARD_SEGMENTS]) + (f" and {more} more" if more > 0 else "")
            named.append(f"{label}: {listed}")
    which = f"<br><small>{_e(' · '.join(named))}</small>" if named else ""
    return f"<dt>segments</dt><dd>{_e(decided.get('summary'))}{which}</dd>"


def board_page(
    prefix: str,
    reports: Sequence[Mapping[str, Any]],
    runtime: Runtime,
    viewer: Viewer | None = None,
    holdouts: str = "",
) -> str:
    """``holdouts``: the section on what the adaptive rules earn (``holdout_pages``), shown
    between the totals and the experiments."""
    now = runtime.clock()
    gain = spent_revenue = spent_conversions = 0.0
    lights = dict.fromkeys(MEANINGS, 0)
    for report in reports:
        lights[str(report.get("light", "grey"))] = lights.get(str(report.get("light")), 0) + 1
        business = report.get("business") or {}
        spent_conversions += float(business.get("spent_conversions") or 0.0)
        spent_revenue += float(business.get("spent_revenue") or 0.0)
        projection = business.get("projection") or {}
        if projection.get("revenue") and report.get("light") == "green":
            gain += float(projection["revenue"][0])
    error = runtime.rules_error
    warning = f"<p class='error'>Rules not reloaded: <pre>{_e(error)}</pre></p>" if error else ""
    counts = ", ".join(f"{n} {colour}" for colour, n in lights.items() if n)
    totals = (
        "<div class='totals'>"
        f"<div class='total'>experiments<b>{len(reports)}</b>{_e(counts)}</div>"
        f"<div class='total'>ready to ship, a month<b class='money'>{money(gain)}</b>"
        "expected revenue of the green ones</div>"
        f"<div class='total'>spent so far<b class='money'>{money(spent_revenue)}</b>"
        f"{spent_conversions:,.1f} conversions given up on worse arms</div></div>"
    )
    cards = "".join(_card(prefix, report, now) for report in reports)
    body = (
        f"{BOARD_STYLE}<h1>daypart</h1>{warning}{totals}{holdouts}"
        f"<div class='cards'>{cards or '<p>No experiments in the rules.</p>'}</div>"
        f"<p>Rules: <code>{_e(runtime.rules.ruleset.source)}</code> · "
        f"<a href='{prefix}/export.csv'>CSV</a> · <a href='{prefix}/api/openapi.json'>API</a>"
        " · lights: " + "; ".join(f"{_e(c)} = {_e(m)}" for c, m in MEANINGS.items()) + "</p>"
    )
    return page("board", body, prefix, viewer)


def business_block(report: Mapping[str, Any]) -> str:
    """The business case on the experiment page: what shipping the leader would bring, and
    what the experiment has spent so far."""
    business = report.get("business") or {}
    projection = business.get("projection") or {}
    rows = [
        ("days running", f"{float(business.get('days_running') or 0.0):.1f}"),
        ("visitors a day", f"{float(business.get('visitors_per_day') or 0.0):,.0f}"),
        (
            "spent so far",
            f"{float(business.get('spent_conversions') or 0.0):,.1f} conversions"
            + (
                f", {money(business['spent_revenue'])} in revenue"
                if business.get("spent_revenue") is not None
                else ""
            ),
        ),
    ]
    budget = budget_text(report)
    if budget:
        rows.append(("budget", budget))
    split = weights_text(report)
    if split:
        rows.append(("new visitors", split))
    if projection:
        rows += [
            (
                "if it ships",
                f"{_e(projection.get('leader'))} to "
                f"{float(projection.get('monthly_visitors') or 0.0):,.0f} visitors a month",
            ),
            ("extra conversions a month", _range(projection.get("conversions"))),
            ("extra revenue a month", _range(projection.get("revenue"))),
        ]
    else:
        rows.append(("if it ships", "control leads or there is no data: nothing to ship"))
    cells = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return (
        "<h2>The business case</h2><table class='business'>"
        f"{cells}</table><p><small>Intervals are 95%. Spend is the expected conversions given "
        "up on arms that may be worse (each arm's visitors times its expected loss).</small></p>"
    )
