"""Server-rendered admin pages: a board (one traffic light per experiment) and a detail
page per experiment. Plain HTML and inline SVG: no JavaScript build, no CDN."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scipy import stats as scipy_stats

from daypart.middleware.runtime import Runtime

LIGHT_COLOURS = {"green": "#2a9d8f", "amber": "#e9c46a", "red": "#e76f51", "grey": "#999"}

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.light{display:inline-block;width:.9rem;height:.9rem;border-radius:50%;vertical-align:middle}
.reason{color:#a33}
code{background:#f3f3f3;padding:0 .2rem}
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


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)} · daypart"
        f"</title>{STYLE}</head><body>{body}</body></html>"
    )


def board_page(prefix: str, reports: Sequence[Mapping[str, Any]], runtime: Runtime) -> str:
    rows = []
    for report in reports:
        name = str(report["experiment"])
        state = report.get("state", {})
        reasons = "; ".join(str(r) for r in report.get("reasons", []))
        rows.append(
            f"<tr><td>{_light(report)} <a href='{prefix}/experiments/{_e(name)}'>{_e(name)}</a>"
            f"</td><td>{_e(state.get('status', '?'))}</td>"
            f"<td>{_e(report.get('stage_label', ''))}</td>"
            f"<td>{_e(report.get('visitors', 0))}</td>"
            f"<td>{_e(report.get('best_arm') or '–')}</td>"
            f"<td>{_pct(report.get('best_prob_beat_control'), 1)}</td>"
            f"<td class='reason'>{_e(reasons)}</td></tr>"
        )
    error = runtime.rules_error
    warning = f"<p class='reason'>Rules not reloaded: <pre>{_e(error)}</pre></p>" if error else ""
    body = (
        f"<h1>daypart</h1>{warning}<p>Rules: <code>{_e(runtime.rules.ruleset.source)}</code>"
        f" · <a href='{prefix}/export.csv'>CSV</a> · <a href='{prefix}/api/openapi.json'>API</a>"
        "</p><table><tr><th>experiment</th><th>status</th><th>stage</th><th>visitors</th>"
        "<th>leading arm</th><th>P(beat control)</th><th>notes</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return _page("board", body)


def _arm_table(arms: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<tr><th>arm</th><th>visitors</th><th>conversions</th><th>rate</th><th>95% interval</th>"
        "<th>uplift 95%</th><th>P(beat control)</th><th>P(best)</th><th>expected loss</th></tr>"
    )
    rows = []
    for arm in arms:
        low, high = (arm.get("rate_interval") or (None, None))[:2]
        uplift = arm.get("uplift_interval") or (None, None)
        rows.append(
            f"<tr><td>{_e(arm.get('name'))}</td><td>{_e(arm.get('visitors'))}</td>"
            f"<td>{_e(arm.get('conversions'))}</td><td>{_pct(arm.get('rate'))}</td>"
            f"<td>{_pct(low)} – {_pct(high)}</td>"
            f"<td>{_pct(uplift[0], 1)} – {_pct(uplift[1], 1)}</td>"
            f"<td>{_pct(arm.get('prob_beat_control'), 1)}</td>"
            f"<td>{_pct(arm.get('prob_best'), 1)}</td>"
            f"<td>{_num(arm.get('expected_loss'), 5)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


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
    return f"<svg width='{width}' height='{height}'>{''.join(paths)}{axis}</svg>"


def detail_page(
    prefix: str, report: Mapping[str, Any], audit: Sequence[tuple[str, Mapping[str, str]]]
) -> str:
    name = str(report["experiment"])
    state = report.get("state", {})
    reasons = "".join(f"<li class='reason'>{_e(r)}</li>" for r in report.get("reasons", []))
    srm = report.get("srm") or {}
    segments = []
    for segment in report.get("segments", []):
        segments.append(
            f"<h3>{_e(segment.get('device'))} × {_e(segment.get('daypart'))}</h3>"
            + _arm_table(segment.get("arms", []))
        )
    history = []
    for _entry_id, entry in audit:
        when = datetime.fromtimestamp(float(entry.get("time", 0)), UTC).strftime("%Y-%m-%d %H:%M")
        to_state = json.loads(entry.get("to", "{}") or "{}")
        history.append(
            f"<tr><td>{_e(when)}</td><td>{_e(entry.get('actor'))}</td>"
            f"<td>{_e(entry.get('action'))}</td><td>stage {_e(to_state.get('stage', '?'))}, "
            f"{_e(to_state.get('status', '?'))}</td><td>{_e(entry.get('reason'))}</td></tr>"
        )
    body = (
        f"<p><a href='{prefix}/'>← board</a></p><h1>{_light(report)} {_e(name)}</h1>"
        f"<p>goal <code>{_e(report.get('goal'))}</code> · status <b>{_e(state.get('status'))}"
        f"</b> · {_e(report.get('stage_label', ''))} · SRM p = {_num(srm.get('p_value'), 4)}</p>"
        f"<ul>{reasons}</ul><h2>All segments pooled</h2>{_arm_table(report.get('arms', []))}"
        f"{posterior_svg(report.get('arms', []))}"
        f"<h2>Segments (device × daypart)</h2>{''.join(segments) or '<p>No data yet.</p>'}"
        "<h2>Rollout history</h2><table><tr><th>time (UTC)</th><th>actor</th><th>action</th>"
        f"<th>now</th><th>reason</th></tr>{''.join(history)}</table>"
    )
    return _page(name, body)
