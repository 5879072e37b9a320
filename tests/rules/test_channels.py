"""A request's channel: read from the sources in order, compared case-insensitively, and
always one of the listed channels, ``other`` or ``direct``."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daypart.rules.channels import DIRECT_CHANNEL, OTHER_CHANNEL, ChannelReader
from daypart.rules.context import Context
from daypart.rules.localtime import LocalMinute
from daypart.rules.model import ChannelSource, Site

SITE = Site(
    channel_from=(
        ChannelSource("query", "utm_source"),
        ChannelSource("header", "x-channel"),
        ChannelSource("cookie", "channel"),
    ),
    channels=("newsletter", "ads", "callcenter"),
)
READER = ChannelReader(SITE)


def request(
    query: bytes = b"",
    headers: Mapping[str, str] | None = None,
    cookies: Mapping[str, str] | None = None,
) -> Context:
    return Context(
        "desktop",
        LocalMinute(ZoneInfo("Europe/Amsterdam"), 1, 21 * 60),
        frozenset(),
        "/",
        query_string=query,
        headers=headers or {},
        cookies=cookies or {},
    )


@pytest.mark.parametrize(
    ("context", "channel"),
    [
        (request(b"utm_source=newsletter"), "newsletter"),
        (request(headers={"x-channel": "callcenter"}), "callcenter"),
        (request(cookies={"channel": "ads"}), "ads"),
        # the first source present wins, whatever the later ones say
        (request(b"utm_source=ads", {"x-channel": "callcenter"}, {"channel": "x"}), "ads"),
        (request(headers={"x-channel": "callcenter"}, cookies={"channel": "ads"}), "callcenter"),
        # case-insensitive, trimmed
        (request(b"utm_source=NewsLetter"), "newsletter"),
        (request(b"utm_source=%20Ads%20"), "ads"),
        (request(headers={"x-channel": "CALLCENTER"}), "callcenter"),
        # a value that names no listed channel
        (request(b"utm_source=facebook"), OTHER_CHANNEL),
        (request(b"utm_source=other"), OTHER_CHANNEL),
        (request(b"utm_source=direct"), OTHER_CHANNEL),
        (request(b"utm_source=" + b"a" * 5000), OTHER_CHANNEL),
        # no source at all, or only empty ones
        (request(), DIRECT_CHANNEL),
        (request(b"utm_source=&other=1"), DIRECT_CHANNEL),
        (request(b"utm_source=", {"x-channel": "ads"}), "ads"),
        (request(b"utm_campaign=newsletter"), DIRECT_CHANNEL),
    ],
)
def test_a_requests_channel(context: Context, channel: str) -> None:
    assert READER.channel(context) == channel


def test_every_channel_a_request_can_get() -> None:
    assert READER.names == ("newsletter", "ads", "callcenter", OTHER_CHANNEL, DIRECT_CHANNEL)


def test_the_channel_is_the_rule_sets_own_string() -> None:
    # One string per channel, however many requests name it: nothing grows with traffic.
    first = READER.channel(request(b"utm_source=NEWSLETTER"))
    second = READER.channel(request(b"utm_source=newsletter"))
    assert first is second is SITE.channels[0]


@given(st.text(max_size=200))
def test_any_value_is_a_listed_channel_or_other(value: str) -> None:
    found = READER.named(value)
    assert found in READER.names
    assert found != DIRECT_CHANNEL  # only the absence of every source is direct
    if found != OTHER_CHANNEL:
        assert value.strip().lower() == found
