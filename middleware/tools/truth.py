"""The ground truth a simulation runs on: the true conversion rate (and optionally the
mean order value) of each arm, for everyone and per segment.

    base: {control: 0.030, offer: 0.030}
    values: {control: 120, offer: 120}          # optional: the mean value of a conversion
    default: 0.025                               # optional: the default variant's rate
    channels: {newsletter: 0.2, callcenter: 0.1} # optional, with channels in the rules: the
                                                 # share of visitors from each (the rest:
                                                 # direct)
    segments:                                    # first match wins; else base
      - {device: desktop, daypart: evening, rates: {control: 0.030, offer: 0.036}}
      - {channel: newsletter, rates: {control: 0.050, offer: 0.045}}
      - {device: mobile, rates: {control: 0.030, offer: 0.027}, default: 0.02}

``default`` is what visitors held out of the rule (``site.holdout``) convert at: they see
the default variant instead of the rule's. Without it the default converts like the
control (nothing planted between adapting and the default); a segment's own ``default``
wins over the file's. ``values`` may give the default's order value too (else the
control's).

Every mistake is a ``ValueError`` saying what was found and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

DEVICES = ("mobile", "tablet", "desktop")
DEFAULT_ARM = "default"  # the key of the default variant's rate and value


@dataclass(frozen=True, slots=True)
class SegmentTruth:
    device: str | None  # None: any
    daypart: str | None
    rates: Mapping[str, float]
    default: float | None = None  # the default variant's rate here (held-out visitors)
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Truth:
    base: Mapping[str, float]
    segments: tuple[SegmentTruth, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)
    default: float | None = None  # the default variant's rate (held-out visitors)
    channels: Mapping[str, float] = field(default_factory=dict)  # channel -> visitors' share

    def _segment(self, device: str, daypart: str, channel: str = "") -> SegmentTruth | None:
        for segment in self.segments:
            if (
                segment.device in (None, device)
                and segment.daypart in (None, daypart)
                and segment.channel in (None, channel)
            ):
                return segment
        return None

    def rates(self, device: str, daypart: str, channel: str = "") -> Mapping[str, float]:
        segment = self._segment(device, daypart, channel)
        return self.base if segment is None else segment.rates

    def default_rate(self, device: str, daypart: str, channel: str = "") -> float:
        """What a visitor shown the default variant converts at here: the segment's
        ``default``, else the file's, else the control's rate here."""
        segment = self._segment(device, daypart, channel)
        if segment is not None and segment.default is not None:
            return segment.default
        if self.default is not None:
            return self.default
        return next(iter(self.rates(device, daypart, channel).values()))

    def default_value(self) -> float | None:
        """The default variant's mean order value: its own, else the control's."""
        control = next(iter(self.base), None)
        return self.values.get(DEFAULT_ARM, self.values.get(control or ""))


def uniform(arms: Sequence[str], base_rate: float, uplift: float) -> Truth:
    """Every segment alike: control at ``base_rate``, every other arm ``uplift`` better
    (relative; 0 for an A/A test)."""
    check_rate("base rate", base_rate)
    if not math.isfinite(uplift) or uplift < -1.0:
        raise ValueError(f"uplift {uplift!r}: expected a relative change of at least -1 (-100%)")
    rates = {arm: base_rate * (1.0 if i == 0 else 1.0 + uplift) for i, arm in enumerate(arms)}
    for arm, rate in rates.items():
        check_rate(f"{arm}'s rate (base rate × (1 + uplift))", rate)
    return Truth(rates)


def check_rate(what: str, rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} {rate!r}: expected a conversion rate from 0 to 1")
    return float(rate)


def _rates(where: str, raw: Any, arms: Sequence[str]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping of arm to rate, got {raw!r}")
    unknown = sorted(set(map(str, raw)) - set(arms))
    missing = [arm for arm in arms if arm not in raw]
    if unknown or missing:
        raise ValueError(
            f"{where}: arms {', '.join(unknown) or '-'} unknown, {', '.join(missing) or '-'} "
            f"missing; the experiment's arms are {', '.join(arms)}"
        )
    return {arm: check_rate(f"{where}: {arm}", raw[arm]) for arm in arms}


def load_truth(
    path: Path, arms: Sequence[str], dayparts: Sequence[str], channels: Sequence[str] = ()
) -> Truth:
    """Read and check a truth file for an experiment with ``arms`` in a rule set whose
    dayparts are ``dayparts`` (``other`` is always allowed) and whose channels are
    ``channels`` (every channel a visitor can be counted in, ``other`` and ``direct``
    included; none: the rules declare no channels)."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the truth file: {exc}") from exc
    if not isinstance(data, Mapping) or "base" not in data:
        raise ValueError(f"{path}: expected a mapping with base (and segments, values)")
    keys = {"base", "segments", "values", "default", "channels"}
    unknown = sorted(set(map(str, data)) - keys)
    if unknown:
        raise ValueError(
            f"{path}: unknown key {unknown[0]!r}; expected base, segments, values, default, "
            "channels"
        )
    base = _rates(f"{path}: base", data["base"], arms)
    default = None
    if data.get("default") is not None:
        default = check_rate(f"{path}: default", data["default"])
    segments = []
    for number, raw in enumerate(data.get("segments") or [], 1):
        where = f"{path}: segment {number}"
        if not isinstance(raw, Mapping) or "rates" not in raw:
            raise ValueError(f"{where}: expected {{device, daypart, rates}}, got {raw!r}")
        extra = sorted(set(map(str, raw)) - {"device", "daypart", "channel", "rates", "default"})
        if extra:
            raise ValueError(f"{where}: unknown key {extra[0]!r}")
        device, daypart = raw.get("device"), raw.get("daypart")
        if device is not None and device not in DEVICES:
            raise ValueError(f"{where}: device {device!r}; expected one of {', '.join(DEVICES)}")
        if daypart is not None and daypart not in (*dayparts, "other"):
            raise ValueError(
                f"{where}: daypart {daypart!r}; the rules define {', '.join(dayparts)}, other"
            )
        channel = raw.get("channel")
        if channel is not None:
            _check_channel(where, channel, channels)
        segment_default = None
        if raw.get("default") is not None:
            segment_default = check_rate(f"{where}: default", raw["default"])
        rates = _rates(where, raw["rates"], arms)
        segments.append(SegmentTruth(device, daypart, rates, segment_default, channel))
    values: dict[str, float] = {}
    if data.get("values") is not None:
        raw_values = data["values"]
        given = set(map(str, raw_values)) if isinstance(raw_values, Mapping) else None
        if given is None or given - {DEFAULT_ARM} != set(arms) - {DEFAULT_ARM}:
            raise ValueError(
                f"{path}: values: expected a mean order value for each arm (and optionally "
                "the default)"
            )
        for arm in (*arms, DEFAULT_ARM) if DEFAULT_ARM in given else arms:
            value = raw_values[arm]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{path}: values: {arm} {value!r}; expected a number ≥ 0")
            values[arm] = float(value)
    shares: dict[str, float] = {}
    if data.get("channels") is not None:
        raw_shares = data["channels"]
        if not isinstance(raw_shares, Mapping):
            raise ValueError(f"{path}: channels: expected a mapping of channel to share")
        for name, share in raw_shares.items():
            _check_channel(f"{path}: channels", name, channels)
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise ValueError(
                    f"{path}: channels: {name} {share!r}; expected a share from 0 to 1"
                )
            shares[str(name)] = float(share)
        if sum(shares.values()) > 1.0 + 1e-9:
            raise ValueError(f"{path}: channels: the shares add up to more than 1")
    return Truth(base, tuple(segments), values, default, shares)


def _check_channel(where: str, name: object, channels: Sequence[str]) -> None:
    if not channels:
        raise ValueError(
            f"{where}: channel {name!r}, but the rules declare no channels (site.channel_from)"
        )
    if name not in channels:
        raise ValueError(f"{where}: channel {name!r}; the rules count in {', '.join(channels)}")
