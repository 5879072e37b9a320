from __future__ import annotations

import pytest

from daypart.middleware.headers import make_private, merge_vary


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, "User-Agent, Cookie"),
        ("Accept-Encoding", "Accept-Encoding, User-Agent, Cookie"),
        ("accept-encoding, user-agent", "accept-encoding, user-agent, Cookie"),
        ("*", "*"),
    ],
)
def test_vary_is_appended_to(existing: str | None, expected: str) -> None:
    assert merge_vary(existing, ["User-Agent", "Cookie"]) == expected


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, "private"),
        ("max-age=60", "private, max-age=60"),
        ("public, max-age=600, s-maxage=3600", "private, max-age=600"),
        ("no-store", "private, no-store"),
        ("private, max-age=5", "private, max-age=5"),
    ],
)
def test_cache_control_becomes_private_keeping_the_apps_directives(
    existing: str | None, expected: str
) -> None:
    assert make_private(existing) == expected
