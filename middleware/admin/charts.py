"""Charts for the experiment page, as inline SVG and plain tables: the experiment over time
(cumulative conversion rate with its 95% band, probability to beat control, visitors per
day), the device × daypart grid (for every channel or one) and the channel table. No
JavaScript; every chart has a title and a text summary for screen readers."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from daypart.experiments.report_export import channel_label

COLOURS = ("#264653", "#e76f51", "#2a9d8f", "#e9c46a", "#8e44ad", "#f4a261")
WIDTH, HEIGHT, PAD = 640, 180, 34


def _e(value: object) -> str:
    return html.escape(str(value))


def _x(index: int, count: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (index / max(count - 1, 1))


def _y(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - PAD / 2 - (HEIGHT - PAD) * (value - low) / span


def _frame(title: str, summary: str, body: str, low: str, high: str, days: Sequence[str]) -> str:
    first, last = (days[0], days[-1]) if days else ("", "")
    return (
        f"<figure><svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{_e(title)}'>"
        f"<title>{_e(title)}</title><desc>{_e(summary)}</desc>"
        f"<line x1='{PAD}' y1='{HEIGHT - PAD / 2}' x2='{WIDTH - PAD}' y2='{HEIGHT - PAD / 2}' "
        "stroke='#bbb'/>"
        f"{body}<text x='2' y='{HEIGHT - PAD / 2}' font-size='11'>{_e(low)}</text>"
        f"<text x='2' y='{PAD / 2 + 4}' font-size='11'>{_e(high)}</text>"
        f"<text x='{PAD}' y='{HEIGHT - 2}' font-size='11'>{_e(first)}</text>"
        f"<text x='{WIDTH - PAD - 70}' y='{HEIGHT - 2}' font-size='11'>{_e(last)}</text>"
        f"</svg><figcaption>{_e(title)}</figcaption></figure>"
    )


def _legend(names: Sequence[str]) -> str:
    return "".join(
        f"<text x='{PAD + 110 * i}' y='12' fill='{COLOURS[i % len(COLOURS)]}' font-size='12'>"
        f"{_e(name)}</text>"
        for i, name in enumerate(names)
    )


def _line(points: Sequence[tuple[float, float]], colour: str, dashed: bool = False) -> str:
    if not points:
        return ""
    if len(points) == 1:  # one day: a dot, or the series would not show at all
        x, y = points[0]
        return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='{colour}'/>"
    dash = " stroke-dasharray='4 3'" if dashed else ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dash} points='{path}'/>"


def timeline_charts(timeline: Mapping[str, Any]) -> str:
    days: list[str] = list(timeline.get("days", []))
    arms: list[Mapping[str, Any]] = list(timeline.get("arms", []))
    if not days or not arms:
        return "<p>No daily data yet.</p>"
    names = [str(arm["name"]) for arm in arms]
    count = len(days)

    # 1. cumulative conversion rate with its 95% band
    values = [v for arm in arms for pair in arm["rate_interval"] if pair is not None for v in pair]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    body = _legend(names)
    for i, arm in enumerate(arms):
        colour = COLOURS[i % len(COLOURS)]
        band = [(d, pair) for d, pair in enumerate(arm["rate_interval"]) if pair is not None]
        if len(band) == 1:  # one day: the interval as a bar (a polygon would be a line)
            d, pair = band[0]
            body += (
                f"<line x1='{_x(d, count):.1f}' y1='{_y(pair[1], low, high):.1f}' "
                f"x2='{_x(d, count):.1f}' y2='{_y(pair[0], low, high):.1f}' "
                f"stroke='{colour}' stroke-opacity='0.25' stroke-width='10'/>"
            )
        elif band:
            upper = [f"{_x(d, count):.1f},{_y(p[1], low, high):.1f}" for d, p in band]
            lower = [f"{_x(d, count):.1f},{_y(p[0], low, high):.1f}" for d, p in reversed(band)]
            body += (
                f"<polygon fill='{colour}' fill-opacity='0.15' stroke='none' "
                f"points='{' '.join(upper + lower)}'/>"
            )
        rates = [(d, r) for d, r in enumerate(arm["cumulative_rate"]) if r is not None]
        body += _line([(_x(d, count), _y(r, low, high)) for d, r in rates], colour)
    last_rates = ", ".join(
        f"{name} {arm['cumulative_rate'][-1] * 100:.2f}%"
        for name, arm in zip(names, arms, strict=True)
        if arm["cumulative_rate"][-1] is not None
    )
    charts = _frame(
        "Cumulative conversion rate per arm, with its 95% interval",
        f"On {days[-1]}: {last_rates}.",
        body,
        f"{low * 100:.1f}%",
        f"{high * 100:.1f}%",
        days,
    )

    # 2. probability to beat control, as the evidence stood each day
    body = _legend(names) + _line(
        [(_x(0, count), _y(0.5, 0, 1)), (_x(count - 1, count), _y(0.5, 0, 1))], "#bbb", True
    )
    for i, arm in enumerate(arms[1:], start=1):
        probs = [(d, p) for d, p in enumerate(arm["prob_beat_control"]) if p is not None]
        colour = COLOURS[i % len(COLOURS)]
        body += _line([(_x(d, count), _y(p, 0.0, 1.0)) for d, p in probs], colour)
    last_probs = ", ".join(
        f"{name} {arm['prob_beat_control'][-1] * 100:.1f}%"
        for name, arm in zip(names[1:], arms[1:], strict=True)
        if arm["prob_beat_control"][-1] is not None
    )
    charts += _frame(
        "Probability to beat control, cumulative (dashed: 50%)",
        f"On {days[-1]}: {last_probs}.",
        body,
        "0%",
        "100%",
        days,
    )

    # 3. visitors per day
    top = max((v for arm in arms for v in arm["visitors"]), default=0) or 1
    body = _legend(names)
    for i, arm in enumerate(arms):
        colour = COLOURS[i % len(COLOURS)]
        body += _line(
            [(_x(d, count), _y(v, 0, top)) for d, v in enumerate(arm["visitors"])], colour
        )
    totals = ", ".join(
        f"{name} {sum(arm['visitors'])}" for name, arm in zip(names, arms, strict=True)
    )
    charts += _frame(
        "Visitors exposed per day, per arm",
        f"In all: {totals}.",
        body,
        "0",
        f"{top:,}",
        days,
    )
    return charts


def _uplift(control: Mapping[str, Any], arm: Mapping[str, Any]) -> float | None:
    base, rate = control.get("rate"), arm.get("rate")
    if not isinstance(base, int | float) or not isinstance(rate, int | float) or base <= 0:
        return None
    return float(rate) / float(base) - 1.0


def heat_cell(arms: Sequence[Mapping[str, Any]], baseline: str = "control") -> str:
    """One cell of a heat map: the leading treatment's uplift over control and its
    probability to beat control, coloured by that probability; "–" without visitors.
    ``baseline``: what the first arm is called (a holdout's is the default)."""
    if len(arms) < 2 or not any(a.get("visitors") for a in arms):
        return "<td class='empty' title='no visitors'>–</td>"
    best = max(arms[1:], key=lambda a: float(a.get("prob_beat_control") or 0.0))
    beat = float(best.get("prob_beat_control") or 0.5)
    uplift = _uplift(arms[0], best)
    strength = min(abs(beat - 0.5) * 2, 1.0)
    hue = "42,157,143" if beat >= 0.5 else "231,111,81"
    visitors = sum(int(a.get("visitors") or 0) for a in arms)
    text = "–" if uplift is None else f"{uplift * 100:+.0f}%"
    return (
        f"<td style='background:rgba({hue},{0.12 + 0.6 * strength:.2f})' "
        f"title='{_e(best.get('name'))}: P(beat {_e(baseline)}) {beat * 100:.1f}%, "
        f"{visitors} visitors'><b>{text}</b><br><small>{_e(best.get('name'))} "
        f"{beat * 100:.0f}%<br>{visitors:,} visitors</small></td>"
    )


def segment_grid(
    report: Mapping[str, Any],
    devices: Sequence[str],
    dayparts: Sequence[str],
    baseline: str = "control",
    channel: str | None = None,
) -> str:
    """A heat map of the leading treatment's uplift and P(beat control) per device ×
    daypart; a cell without visitors is shown empty, never left out. ``baseline``: what
    the first arm is called (a holdout's is the default). ``channel``: only that channel's
    visitors (None: every channel)."""
    found = (
        report.get("segments", [])
        if channel is None
        else [s for s in report.get("channel_segments", []) if s.get("channel") == channel]
    )
    segments = {(str(s.get("device")), str(s.get("daypart"))): s for s in found}
    # Per device × daypart, the decisions shown: for one channel, its own, else its device
    # × daypart's (which holds for every channel); for every channel, all of them.
    decided: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for d in (report.get("per_segment") or {}).get("decisions", []):
        if channel is None or d.get("channel") in (None, channel):
            decided.setdefault((str(d.get("device")), str(d.get("daypart"))), []).append(d)
    if channel is not None:
        decided = {
            place: [max(found, key=lambda d: bool(d.get("channel")))]
            for place, found in decided.items()
        }
    seen_devices = list(dict.fromkeys([*devices, *(d for d, _ in segments)]))
    seen_dayparts = list(dict.fromkeys([*dayparts, *(p for _, p in segments)]))
    head = "".join(f"<th>{_e(part)}</th>" for part in seen_dayparts)
    rows = []
    for device in seen_devices:
        cells = []
        for part in seen_dayparts:
            segment = segments.get((device, part))
            cell = heat_cell(list(segment.get("arms", [])) if segment else [], baseline)
            cells.append(_decided(cell, decided.get((device, part), []), channel is None))
        rows.append(f"<tr><th>{_e(device)}</th>{''.join(cells)}</tr>")
    which = "" if channel is None else f" in channel {channel_label(channel)}"
    return (
        f"<p>The leading treatment's uplift over {_e(baseline)} and its probability to beat "
        f"{_e(baseline)}, per device × daypart{_e(which)} (green: likely better; red: likely "
        "worse; –: no visitors).</p>"
        f"<table class='grid' id='grid'><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def _decided(cell: str, decisions: Sequence[Mapping[str, Any]], named: bool) -> str:
    """A grid cell the per-segment gates decided, marked in words (not colour alone), with
    the reason on hover and for screen readers; ``named``: each decision says its channel
    (the grid of every channel)."""
    if not decisions:
        return cell
    marks = []
    for decision in decisions:
        words = (
            f"shipped {decision.get('arm')}"
            if decision.get("decision") == "shipped"
            else "rolled back"
        )
        if named and decision.get("channel"):
            words = f"{decision['channel']}: {words}"
        marks.append(
            f"<br><span class='decided' title='{_e(decision.get('reason'))}'>"
            f"<b>{_e(words)}</b><span class='sr'>: {_e(decision.get('reason'))}</span></span>"
        )
    return cell.removesuffix("</td>") + "".join(marks) + "</td>"


def channel_selector(link: str, channels: Sequence[str], selected: str | None) -> str:
    """Links that show the grid for every channel or for one: ``link`` is the page's
    address, to which ``?channel=NAME`` is added. Plain links, no script."""
    items = []
    for name, label in [(None, "all channels"), *((c, channel_label(c)) for c in channels)]:
        href = link if name is None else f"{link}?channel={quote(name)}"
        if name == selected:
            items.append(f"<b aria-current='true'>{_e(label)}</b>")
        else:
            items.append(f"<a href='{_e(href)}#grid'>{_e(label)}</a>")
    return f"<p class='channels'>Channel: {' · '.join(items)}</p>"


def channel_table(report: Mapping[str, Any], channels: Sequence[str], link: str) -> str:
    """Per channel (every device and daypart): the control's rate, and the leading
    treatment's uplift, P(beat control) and visitors as a heat cell; a channel without
    visitors is shown empty. Each channel links to its device × daypart grid. Three
    narrow columns: one table that fits a phone."""
    found = {str(c.get("channel", "")): c for c in report.get("channels", [])}
    rows = []
    for name in dict.fromkeys([*channels, *found]):
        arms = list(found[name].get("arms", [])) if name in found else []
        rate = arms[0].get("rate") if arms and arms[0].get("visitors") else None
        href = f"{link}?channel={quote(name)}#grid"
        rows.append(
            f"<tr><th><a href='{_e(href)}'>{_e(channel_label(name))}</a></th>"
            f"<td>{'–' if rate is None else f'{float(rate) * 100:.2f}%'}</td>"
            f"{heat_cell(arms)}</tr>"
        )
    return (
        "<p>Per channel, over every device and daypart: the control's conversion rate, and "
        "the leading treatment's uplift over control and its probability to beat control "
        "(green: likely better; red: likely worse; –: no visitors).</p>"
        "<table class='grid channel-table'><tr><th>channel</th><th>control</th>"
        f"<th>leader</th></tr>{''.join(rows)}</table>"
    )
