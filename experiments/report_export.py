"""Reports as an analyst takes them away: CSV (one row per experiment, segment and arm;
with channels also per channel and per device × daypart × channel) and the plain-text
tables of ``daypart report``. Both work on ``Report.to_dict()``
output, so they serve the CLI, the admin endpoint and stored JSON alike."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from daypart.experiments.report import ALL

__all__ = ["channel_label", "format_reports", "reports_csv"]

_CSV_FIELDS = (
    "experiment", "goal", "status", "stage", "light", "segment", "device", "daypart",
    "channel", "arm", "variant", "weight", "visitors", "conversions", "rate", "rate_low",
    "rate_high", "prob_beat_control", "prob_best", "expected_loss", "uplift_low", "uplift_high",
    "reason", "revenue", "value_per_conversion", "revenue_per_visitor",
    "revenue_per_visitor_low", "revenue_per_visitor_high", "revenue_prob_beat_control",
    "incremental_revenue_per_1000", "incremental_revenue_per_1000_low",
    "incremental_revenue_per_1000_high", "decision",
)  # fmt: skip


def _pair(value: object, index: int) -> object:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[index]
    return ""


def _segment_label(device: str, daypart: str, channel: str) -> str:
    """``all``; ``mobile/evening``; with channels ``all/all/email``, ``mobile/evening/email``
    (channel "" — counted before the rules declared channels — shows as ``-``)."""
    if channel in ("", ALL):  # not split by channel
        return ALL if device == ALL and daypart == ALL else f"{device}/{daypart}"
    return f"{device}/{daypart}/{channel}"


def _csv_row(
    report: Mapping[str, Any],
    device: str,
    daypart: str,
    arm: Mapping[str, Any],
    channel: str = "",
    decision: str = "",
) -> dict[str, object]:
    state = report.get("state") or {}
    row: dict[str, object] = {
        "experiment": report.get("experiment"),
        "goal": report.get("goal"),
        "status": state.get("status", ""),
        "stage": state.get("stage", ""),
        "light": report.get("light"),
        "segment": _segment_label(device, daypart, channel),
        "device": device,
        "daypart": daypart,
        "channel": channel,
        "decision": decision,
    }
    for key in ("name", "variant", "weight", "visitors", "conversions", "rate"):
        row["arm" if key == "name" else key] = arm.get(key, "")
    for key in ("prob_beat_control", "prob_best", "expected_loss", "reason", "revenue"):
        row[key] = arm.get(key, "")
    row["rate_low"], row["rate_high"] = (_pair(arm.get("rate_interval"), i) for i in (0, 1))
    row["uplift_low"], row["uplift_high"] = (_pair(arm.get("uplift_interval"), i) for i in (0, 1))
    for key in ("value_per_conversion", "revenue_per_visitor", "revenue_prob_beat_control",
                "incremental_revenue_per_1000"):  # fmt: skip
        row[key] = arm.get(key, "")
    for key in ("revenue_per_visitor", "incremental_revenue_per_1000"):
        interval = arm.get(f"{key}_interval")
        row[f"{key}_low"], row[f"{key}_high"] = (_pair(interval, i) for i in (0, 1))
    return {key: "" if value is None else value for key, value in row.items()}


def reports_csv(reports: Sequence[Mapping[str, Any]]) -> str:
    """One row per (experiment, segment — ``all`` for pooled — , arm), from ``to_dict()``
    reports; floats at full precision, empty cells where a number does not apply.

    The ``channel`` column is empty for a report without channels. With channels, rows
    pooled over channels say ``all`` there, and two more kinds of rows follow: per channel
    (device and daypart ``all``) and per device × daypart × channel. ``decision``: what a
    per-segment experiment decided for the row's segment (``shipped offer``, ``rolled
    back``), on the device × daypart row or, where decided per channel, the device ×
    daypart × channel row (a device × daypart's decision is on its channels' rows too)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for report in reports:
        pooled = ALL if report.get("channels") else ""
        decided = _decisions(report)
        for arm in report.get("arms", []):
            writer.writerow(_csv_row(report, ALL, ALL, arm, pooled))
        for segment in report.get("segments", []):
            device, daypart = str(segment.get("device")), str(segment.get("daypart"))
            said = decided.get((device, daypart), "")
            for arm in segment.get("arms", []):
                writer.writerow(_csv_row(report, device, daypart, arm, pooled, said))
        for channel in report.get("channels", []):
            name = str(channel.get("channel", ""))
            for arm in channel.get("arms", []):
                writer.writerow(_csv_row(report, ALL, ALL, arm, name or "-"))
        for segment in report.get("channel_segments", []):
            device, daypart = str(segment.get("device")), str(segment.get("daypart"))
            name = str(segment.get("channel", ""))
            said = decided.get((device, daypart, name), decided.get((device, daypart), ""))
            for arm in segment.get("arms", []):
                writer.writerow(_csv_row(report, device, daypart, arm, name or "-", said))
    return out.getvalue()


def _decisions(report: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """A per-segment experiment's decisions by segment (with its channel where it has
    one), in words: ``shipped offer``, ``rolled back``."""
    found = {}
    for d in (report.get("per_segment") or {}).get("decisions", []):
        key = tuple(str(d[name]) for name in ("device", "daypart", "channel") if d.get(name))
        shipped = d.get("decision") == "shipped"
        found[key] = f"shipped {d.get('arm')}" if shipped else "rolled back"
    return found


def channel_label(channel: str) -> str:
    """A channel as people read it: "" holds what was counted before channels."""
    return channel or "before channels"


def _pct(value: object, digits: int = 2) -> str:
    return "–" if not isinstance(value, int | float) else f"{value * 100:.{digits}f}%"


def _range(value: object, digits: int = 2) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{_pct(value[0], digits)} … {_pct(value[1], digits)}"
    return "–"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def _arm_rows(arms: Sequence[Mapping[str, Any]], revenue: bool, label: str = "") -> list[list[str]]:
    rows = []
    for index, arm in enumerate(arms):
        control = index == 0  # compared with itself: its uplift and P(beat) say nothing
        row = [
            f"{label}{arm.get('name')}",
            str(arm.get("visitors", "")),
            str(arm.get("conversions", "")),
            _pct(arm.get("rate")),
            _range(arm.get("rate_interval")),
            "–" if control else _range(arm.get("uplift_interval"), 1),
            "–" if control else _pct(arm.get("prob_beat_control"), 1),
            _pct(arm.get("prob_best"), 1),
            f"{arm['expected_loss']:.5f}" if isinstance(arm.get("expected_loss"), float) else "–",
        ]
        if revenue:
            rpv = arm.get("revenue_per_visitor")
            increment = arm.get("incremental_revenue_per_1000")
            row += [
                f"{rpv:.2f}" if isinstance(rpv, float) else "–",
                f"{increment:+.0f}" if isinstance(increment, float) and not control else "–",
            ]
        rows.append(row)
    return rows


def srm_label(srm: Mapping[str, Any] | None) -> str:
    """``SRM p = 0.4123`` (``FLAGGED`` when the split is off), or ``SRM –`` without one:
    the sample-ratio check as the text reports print it."""
    srm = srm or {}
    p_value = srm.get("p_value")
    label = f"SRM p = {p_value:.4f}" if isinstance(p_value, float) else "SRM –"
    return label + " FLAGGED" if srm.get("flagged") else label


def format_reports(reports: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text rendering of ``to_dict()`` reports for ``daypart report``."""
    if not reports:
        return "no experiments"
    blocks = []
    for report in reports:
        revenue = bool(report.get("revenue"))
        state = report.get("state") or {}
        srm_text = srm_label(report.get("srm"))
        lines = [
            f"{report.get('experiment')}  [{str(report.get('light', 'grey')).upper()}]  "
            f"goal {report.get('goal')} · {state.get('status', '?')} · "
            f"{report.get('stage_label', '')} · {report.get('visitors', 0)} visitors · " + srm_text
        ]
        header = ["arm", "visitors", "conv", "rate", "rate 95%", "uplift 95%", "P(beat)",
                  "P(best)", "exp. loss"]  # fmt: skip
        if revenue:
            header += ["rev/visitor", "Δrev/1000"]
        rows = [header, *_arm_rows(report.get("arms", []), revenue)]
        lines += ["  " + line for line in _table(rows)]
        segments = report.get("segments", [])
        if segments:
            lines.append("  segments (device × daypart):")
            rows = [["segment / arm", *header[1:]]]
            for segment in segments:
                label = f"{segment.get('device')} × {segment.get('daypart')}: "
                rows += _arm_rows(segment.get("arms", []), revenue, label)
            lines += ["    " + line for line in _table(rows)]
        channels = report.get("channels", [])
        if channels:
            lines.append("  channels (every device and daypart; --csv has each device × daypart):")
            rows = [["channel / arm", *header[1:]]]
            for channel in channels:
                label = f"{channel_label(str(channel.get('channel', '')))}: "
                rows += _arm_rows(channel.get("arms", []), revenue, label)
            lines += ["    " + line for line in _table(rows)]
        gate = report.get("gate") or {}
        lines.append(f"  gate: {gate.get('verdict', '?')} — {gate.get('reason', '')}")
        per_segment = report.get("per_segment")
        if per_segment:  # decide: per_segment — what each decided segment serves, and why
            lines.append(f"  {per_segment.get('summary')}")
            for decided in per_segment.get("decisions", []):
                what = (
                    f"shipped {decided.get('arm')}"
                    if decided.get("decision") == "shipped"
                    else "rolled back"
                )
                lines.append(f"    {decided.get('segment')}: {what} — {decided.get('reason')}")
        lines += [f"  ! {reason}" for reason in report.get("reasons", [])]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
