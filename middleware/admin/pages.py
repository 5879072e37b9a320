"""Server-rendered admin pages: a board (one traffic light per experiment), a detail page
per experiment with its actions, and the confirmation step of each action. Plain HTML and
inline SVG: no JavaScript at all, no CDN; forms post with the session's CSRF token."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from scipy import stats as scipy_stats

from daypart.experiments.report_export import channel_label

LIGHT_COLOURS = {"green": "#2a9d8f", "amber": "#e9c46a", "red": "#e76f51", "grey": "#999"}

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1rem auto;padding:0 1rem;max-width:72rem;
color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;display:block;overflow-x:auto}
td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.light{display:inline-block;width:.9rem;height:.9rem;border-radius:50%;vertical-align:middle}
.reason{color:#a33}.note{color:#444}
code{background:#f3f3f3;padding:0 .2rem;overflow-wrap:anywhere}
svg{max-width:100%;height:auto}
.bar{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center;
border-bottom:1px solid #ddd;padding-bottom:.5rem}
.bar form{display:inline}
.button,button{display:inline-block;font:inherit;padding:.5rem 1rem;margin:0 .4rem .4rem 0;
border:1px solid #264653;border-radius:.3rem;background:#fff;color:#264653;
text-decoration:none;cursor:pointer}
.primary{background:#264653;color:#fff}
.link{border:0;padding:0;margin:0;color:#0645ad;text-decoration:underline;background:none}
.notice{background:#eef7f5;border-left:.3rem solid #2a9d8f;padding:.5rem 1rem}
.error{background:#fbeeea;border-left:.3rem solid #e76f51;padding:.5rem 1rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input,select{font:inherit;padding:.5rem;width:100%;max-width:24rem;box-sizing:border-box}
.who{color:#555}
.history td,.history th{text-align:left;vertical-align:top}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.when{white-space:nowrap}
details{margin:.3rem 0}summary{cursor:pointer;padding:.3rem 0}
@media (max-width:40rem){
table.arms{display:table;width:100%}
table.arms tr:first-child{display:none}
table.arms tr{display:block;border-bottom:2px solid #bbb;margin-bottom:.6rem}
table.arms td{display:flex;justify-content:space-between;gap:1rem;text-align:right;
border-bottom:1px solid #eee;padding:.25rem .2rem}
table.arms td::before{content:attr(data-label);color:#555;text-align:left}
table.arms td:first-child{font-weight:700;text-align:left}
}
</style>"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _pct(value: object, digits: int = 2) -> str:
    return "–" if not isinstance(value, int | float) else f"{value * 100:.{digits}f}%"


def _num(value: object, digits: int = 3) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _light(report: Mapping[str, Any]) -> str:
    colour = LIGHT_COLOURS.get(str(report.get("light", "grey")), LIGHT_COLOURS["grey"])
    return f'<span class="light" style="background:{colour}"></span>'


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: their name, and the CSRF token of their session (None
    when they read with HTTP Basic or the bearer token, which may not act from a page)."""

    name: str
    csrf: str | None = None


def csrf_field(viewer: Viewer | None) -> str:
    token = viewer.csrf if viewer is not None else None
    return f"<input type='hidden' name='csrf' value='{_e(token)}'>" if token else ""


def page(title: str, body: str, prefix: str = "", viewer: Viewer | None = None) -> str:
    bar = ""
    if viewer is not None:
        logout = (
            f"<form method='post' action='{prefix}/logout'>{csrf_field(viewer)}"
            "<button class='link'>Log out</button></form>"
            if viewer.csrf
            else f"<a href='{prefix}/login'>Log in to act</a>"
        )
        bar = (
            f"<div class='bar'><a href='{prefix}/'>daypart</a><span class='who'>"
            f"{_e(viewer.name)} · {logout}</span></div>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)} · daypart</title>{STYLE}</head><body>{bar}{body}</body></html>"
    )


def _gate_table(report: Mapping[str, Any]) -> str:
    """The gate decision with the numbers it rests on."""
    gate = report.get("gate") or {}
    numbers = gate.get("numbers") or {}
    evidence = gate.get("evidence") or {}
    rows = [("decision", _e(gate.get("verdict", "hold"))), ("why", _e(gate.get("reason", "")))]
    if evidence:
        rows.append(("the evidence alone", _e(evidence.get("verdict", ""))))
    for key in ("prob_beat_control", "prob_worse_than_control"):
        if key in numbers:
            rows.append((key.replace("_", " "), _pct(numbers[key], 1)))
    for key in ("expected_loss", "control_rate", "best_rate"):
        if key in numbers:
            rows.append((key.replace("_", " "), _num(numbers[key], 5)))
    if "expected_relative_loss" in numbers:
        rows.append(
            ("expected loss, of control's rate", _pct(numbers["expected_relative_loss"], 2))
        )
    if "step" in numbers:  # grow before the last stage, ship from it
        rows.append(("judged for", _e(numbers["step"])))
    if "stage_age_seconds" in numbers:
        rows.append(("stage age", f"{float(numbers['stage_age_seconds']) / 3600:.1f} h"))
    cells = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f"<h2>The gates</h2><table class='gate'>{cells}</table>"


def _money(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:,.2f}"


def _arm_table(arms: Sequence[Mapping[str, Any]], baseline: str = "control") -> str:
    """``baseline``: what the first arm is called (a holdout's is the default). Each cell
    carries its column's name (``data-label``): on a phone the table is laid out as one
    card per arm, every figure beside its name, instead of a table to scroll sideways."""
    revenue = any("revenue_per_visitor" in arm for arm in arms)
    labels = [
        "arm", "visitors", "conversions", "rate", "95% interval", "uplift 95%",
        f"P(beat {baseline})", "P(best)", "expected loss",
    ]  # fmt: skip
    if revenue:
        labels += ["revenue", "per visitor", "extra per 1,000 visitors (95%)"]
    head = "<tr>" + "".join(f"<th>{_e(label)}</th>" for label in labels) + "</tr>"
    rows = []
    for index, arm in enumerate(arms):
        low, high = (arm.get("rate_interval") or (None, None))[:2]
        uplift = arm.get("uplift_interval") or (None, None)
        control = index == 0  # compared with itself: no uplift, no chance to beat itself
        cells = [
            f"{_e(arm.get('name'))}"
            f"{f' ({_e(baseline)})' if control and arm.get('name') != baseline else ''}",
            _e(arm.get("visitors")),
            _e(arm.get("conversions")),
            _pct(arm.get("rate")),
            f"{_pct(low)} – {_pct(high)}",
            "–" if control else f"{_pct(uplift[0], 1)} – {_pct(uplift[1], 1)}",
            "–" if control else _pct(arm.get("prob_beat_control"), 1),
            _pct(arm.get("prob_best"), 1),
            _num(arm.get("expected_loss"), 5),
        ]
        if revenue:
            interval = arm.get("incremental_revenue_per_1000_interval") or (None, None)
            cells += [
                _money(arm.get("revenue")),
                _money(arm.get("revenue_per_visitor")),
                "–"
                if control
                else f"{_money(arm.get('incremental_revenue_per_1000'))} "
                f"<small>({_money(interval[0])} to {_money(interval[1])})</small>",
            ]
        rows.append(
            "<tr>"
            + "".join(
                f"<td data-label='{_e(label)}'>{cell}</td>"
                for label, cell in zip(labels, cells, strict=True)
            )
            + "</tr>"
        )
    return f"<table class='arms'>{head}{''.join(rows)}</table>"


def channel_details(report: Mapping[str, Any], order: Sequence[str] = ()) -> str:
    """Every arm per channel (every device and daypart), each folded in a ``<details>``
    so a phone shows one line per channel until it is opened; channels in ``order``
    first (the rules' order), then any others."""
    found = {str(c.get("channel", "")): c for c in report.get("channels", [])}
    blocks = [
        f"<details><summary><b>{_e(channel_label(name))}</b>: "
        f"{int(found[name].get('visitors') or 0):,} visitors</summary>"
        f"{_arm_table(found[name].get('arms', []))}</details>"
        for name in dict.fromkeys([*order, *found])
        if name in found
    ]
    if not blocks:
        return ""
    return "<h3>Every arm, per channel</h3>" + "".join(blocks)


def posterior_svg(arms: Sequence[Mapping[str, Any]], width: int = 520, height: int = 160) -> str:
    """Beta posterior densities of the arms' conversion rates, drawn as SVG paths."""
    shapes = [
        (
            str(a.get("name")),
            1 + int(a.get("conversions", 0)),
            1 + int(a.get("visitors", 0)) - int(a.get("conversions", 0)),
        )
        for a in arms
    ]
    if not shapes:
        return ""
    lows = [scipy_stats.beta.ppf(0.0005, a, b) for _, a, b in shapes]
    highs = [scipy_stats.beta.ppf(0.9995, a, b) for _, a, b in shapes]
    x0, x1 = float(min(lows)), float(max(highs))
    if x1 <= x0:
        return ""
    xs = [x0 + (x1 - x0) * i / 199 for i in range(200)]
    curves = [(name, [float(scipy_stats.beta.pdf(x, a, b)) for x in xs]) for name, a, b in shapes]
    top = max(max(ys) for _, ys in curves) or 1.0
    colours = ["#264653", "#e76f51", "#2a9d8f", "#e9c46a", "#8e44ad", "#f4a261"]
    paths = []
    for i, (name, ys) in enumerate(curves):
        points = " ".join(
            f"{width * j / 199:.1f},{height - 15 - (height - 25) * y / top:.1f}"
            for j, y in enumerate(ys)
        )
        colour = colours[i % len(colours)]
        paths.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{points}'/>"
            f"<text x='{8 + 110 * i}' y='12' fill='{colour}' font-size='12'>{_e(name)}</text>"
        )
    axis = (
        f"<text x='0' y='{height - 2}' font-size='11'>{x0 * 100:.2f}%</text>"
        f"<text x='{width - 50}' y='{height - 2}' font-size='11'>{x1 * 100:.2f}%</text>"
    )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
        f"{''.join(paths)}{axis}</svg>"
    )


def _when(epoch: float, now: float) -> str:
    """``2026-11-24 20:00 UTC`` and, below it, how long ago: for people, as HTML."""
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
    seconds = now - epoch
    ago = ""
    if seconds >= 0:
        ago = "just now"
        for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
            if seconds >= size:
                ago = f"{int(seconds // size)} {unit} ago"
                break
    return f"{stamp}<br><small>{ago}</small>" if ago else stamp


ACTION_LABELS = {
    "pause": "Pause",
    "resume": "Resume",
    "advance": "Advance",
    "complete": "Complete",
    "rollback": "Roll back",
}


def _actions(prefix: str, name: str, allowed: Sequence[str], viewer: Viewer | None) -> str:
    if not allowed:
        return ""
    if viewer is None or viewer.csrf is None:
        return (
            f"<h2>Actions</h2><p>{', '.join(ACTION_LABELS[a] for a in allowed)}: "
            f"<a href='{prefix}/login?next={quote(f'{prefix}/experiments/{name}')}'>log in</a>"
            " to act (HTTP Basic may read, not act).</p>"
        )
    buttons = "".join(
        f"<a class='button' href='{prefix}/experiments/{_e(name)}/{action}'>"
        f"{ACTION_LABELS[action]}…</a>"
        for action in ACTION_LABELS  # the gentle ones first, rolling back last
        if action in allowed
    )
    return f"<h2>Actions</h2><p>{buttons}</p>"


def detail_page(
    prefix: str,
    report: Mapping[str, Any],
    audit: Sequence[tuple[str, Mapping[str, str]]],
    *,
    viewer: Viewer | None = None,
    allowed: Sequence[str] = (),
    notice: str | None = None,
    now: float | None = None,
    extra: str = "",
) -> str:
    """``extra``: blocks shown after the pooled arms (business case, grid, charts)."""
    name = str(report["experiment"])
    state = report.get("state", {})
    warnings = set(report.get("data_quality", []))
    srm_flagged = bool((report.get("srm") or {}).get("flagged"))

    def alarming(reason: str) -> bool:  # red for what must not be trusted, else a plain note
        return reason in warnings or (srm_flagged and "sample ratio" in reason)

    reasons = "".join(
        f"<li class='{'reason' if alarming(r) else 'note'}'>{_e(r)}</li>"
        for r in report.get("reasons", [])
    )
    srm = report.get("srm") or {}
    segments = []
    # Per device × daypart, its decisions: its own, or one per channel where the rules
    # declare channels (each named by its channel).
    decided: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for d in (report.get("per_segment") or {}).get("decisions", []):
        decided.setdefault((d.get("device"), d.get("daypart")), []).append(d)
    for segment in report.get("segments", []):
        said = "".join(
            "<p class='note'><b>"
            + (f"from {_e(decision['channel'])}: " if decision.get("channel") else "")
            + f"{_e(decision.get('decision')).replace('_', ' ')} "
            f"({_e(decision.get('arm'))} served here)</b>: {_e(decision.get('reason'))}</p>"
            for decision in decided.get((segment.get("device"), segment.get("daypart")), [])
        )
        segments.append(
            f"<h3>{_e(segment.get('device'))} × {_e(segment.get('daypart'))}</h3>{said}"
            + _arm_table(segment.get("arms", []))
        )
    history = []
    latest = max((float(entry.get("time", 0)) for _, entry in audit), default=0.0)
    for _entry_id, entry in reversed(audit):  # newest first
        when = _when(float(entry.get("time", 0)), latest if now is None else now)
        to_state = json.loads(entry.get("to", "{}") or "{}")
        stage = to_state.get("stage")
        stage_text = stage + 1 if isinstance(stage, int) else "?"  # people count from 1
        history.append(
            f"<tr><td class='when'>{when}</td><td><b>{_e(entry.get('actor'))}</b></td>"
            f"<td>{_e(entry.get('action'))}</td><td>stage {_e(stage_text)}, "
            f"{_e(to_state.get('status', '?'))}</td><td>{_e(entry.get('reason'))}</td></tr>"
        )
    done = f"<p class='notice'>{_e(notice)}</p>" if notice else ""
    body = (
        f"<p><a href='{prefix}/'>← board</a></p>{done}<h1>{_light(report)} {_e(name)}</h1>"
        f"<p>goal <code>{_e(report.get('goal'))}</code> · status <b>{_e(state.get('status'))}"
        f"</b> · {_e(report.get('stage_label', ''))} · SRM p = {_num(srm.get('p_value'), 4)}</p>"
        f"<ul>{reasons}</ul>{_actions(prefix, name, allowed, viewer)}"
        f"<h2>All segments pooled</h2>{_arm_table(report.get('arms', []))}"
        f"{posterior_svg(report.get('arms', []))}{_gate_table(report)}{extra}"
        f"<h2>Segments (device × daypart)</h2>{''.join(segments) or '<p>No data yet.</p>'}"
        "<h2>Rollout history</h2><table class='history'><tr><th>when</th><th>who</th>"
        f"<th>action</th><th>now</th><th>reason</th></tr>{''.join(history)}</table>"
    )
    return page(name, body, prefix, viewer)


def confirm_page(
    prefix: str,
    name: str,
    action: str,
    sentence: str,
    viewer: Viewer,
    *,
    arms: Sequence[str] = (),
    winner: str | None = None,
) -> str:
    """The confirmation step of an action: what will happen, in words, and a form that
    posts it with the session's CSRF token."""
    choose = ""
    if arms:
        options = "".join(
            f"<option value='{_e(arm)}'{' selected' if arm == winner else ''}>{_e(arm)}</option>"
            for arm in arms
        )
        choose = f"<label for='winner'>Winner</label><select id='winner' name='winner'>{options}"
        choose += "</select>"
    label = ACTION_LABELS.get(action, action)
    body = (
        f"<p><a href='{prefix}/experiments/{_e(name)}'>← {_e(name)}</a></p>"
        f"<h1>{_e(label)} {_e(name)}?</h1><p>{_e(sentence)}</p>"
        f"<form method='post' action='{prefix}/experiments/{_e(name)}/{_e(action)}'>"
        f"{csrf_field(viewer)}{choose}<label for='reason'>Reason (for the audit log)</label>"
        "<input id='reason' name='reason' maxlength='500' autocomplete='off'>"
        f"<p><button class='primary'>{_e(label)} {_e(name)}</button>"
        f"<a class='button' href='{prefix}/experiments/{_e(name)}'>Cancel</a></p></form>"
        f"<p class='who'>Recorded in the audit log as <b>{_e(viewer.name)}</b>.</p>"
    )
    return page(f"{label} {name}", body, prefix, viewer)


def message_page(
    prefix: str, title: str, message: str, viewer: Viewer | None = None, back: str = ""
) -> str:
    """An error or notice in words, with the way back."""
    link = f"<p><a href='{_e(back or prefix + '/')}'>← back</a></p>"
    return page(
        title, f"<h1>{_e(title)}</h1><p class='error'>{_e(message)}</p>{link}", prefix, viewer
    )
