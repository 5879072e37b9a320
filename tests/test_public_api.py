"""The public surface is curated: what ``__all__`` promises exists, and nothing vanishes
by accident (httpx's test_exported_members, in spirit)."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "daypart.middleware": {"AdaptiveMiddleware", "Decision", "convert", "decision_of"},
    "daypart.rules": {"device_class", "load_rules", "parse_rules", "check_file", "RulesError"},
    "daypart.experiments": {"analyze", "store_from_url", "MemoryStore", "RedisStore"},
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_exported_members(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = set(module.__all__)
    assert PUBLIC[module_name] <= exported
    for name in exported:
        assert hasattr(module, name), f"{module_name}.{name} is in __all__ but missing"


def test_device_class_signature_is_the_documented_one() -> None:
    from daypart.rules import device_class

    assert device_class("curl/8.5.0") == "bot"
    assert device_class("", None) in {"mobile", "tablet", "desktop", "bot"}
    android = (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36"
    )
    assert device_class(android, {"Sec-CH-UA-Mobile": "?1"}) == "mobile"
