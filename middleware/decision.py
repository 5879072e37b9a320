"""What daypart decided for one request: ``scope["state"]["daypart"]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from daypart.middleware.visitor import VisitorCookie

Converter = Callable[["Decision", str, "float | None"], int]


@dataclass(slots=True)
class Decision:
    device: str  # mobile | tablet | desktop | bot
    zone: ZoneInfo
    epoch: float
    dayparts: frozenset[str]
    segment: str  # the daypart this request is counted in
    rule: str | None = None  # None: no rule matched, the request passed through unchanged
    variant: str | None = None
    experiment: str | None = None
    arm: str | None = None
    visitor_id: str | None = None  # None for bots and visitors who opted out
    new_visitor: bool = True
    tracked: bool = False  # False for bots and DNT / Sec-GPC visitors: never counted
    cookie: VisitorCookie | None = field(default=None, repr=False)
    _convert: Converter | None = field(default=None, repr=False)
    # The visitor's side of the rule's holdout: "default" (held out: the default variant,
    # no experiment) or "adaptive"; None when no holdout applies (none declared, or a
    # visitor who is never counted).
    holdout: str | None = None
    # The channel this request came through (``site.channel_from``); "" when the rules
    # declare no channels. A visitor is counted in the channel of their first exposure.
    channel: str = ""

    @property
    def local_time(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, self.zone)

    def convert(self, goal: str, value: float | None = None) -> int:
        """Record a conversion for this visitor; returns how many experiments it counts in."""
        if self._convert is None:
            return 0
        return self._convert(self, goal, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "local_time": self.local_time.isoformat(timespec="seconds"),
            "timezone": self.zone.key,
            "dayparts": sorted(self.dayparts),
            "segment": self.segment,
            **({"channel": self.channel} if self.channel else {}),
            "rule": self.rule,
            "variant": self.variant,
            "experiment": self.experiment,
            "arm": self.arm,
            "visitor_id": self.visitor_id,
            "new_visitor": self.new_visitor,
            "tracked": self.tracked,
            "holdout": self.holdout,
        }
