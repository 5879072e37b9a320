"""The cookie secret: required with a shared store, and rotated without losing visitors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from daypart.experiments.store import MemoryStore, store_from_url
from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.visitor import CookieSigner, VisitorCookie, new_visitor_id, secret_list
from tests.middleware.conftest import LAPTOP

MakeApp = Callable[..., AdaptiveMiddleware]
OLD = "the-old-secret-0123456789"
NEW = "the-new-secret-0123456789"


@pytest.mark.parametrize(
    "store", ["redis://127.0.0.1:6379/0", "rediss+cluster://cache:7000", "REDIS://x"]
)
def test_a_shared_store_without_a_secret_refuses_to_start(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    monkeypatch.delenv("DAYPART_SECRET", raising=False)
    with pytest.raises(ValueError, match="Set DAYPART_SECRET") as raised:
        make_app(store=store, secret=None)
    assert "same random value" in str(raised.value)


def test_a_shared_store_object_without_a_secret_refuses_too(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAYPART_SECRET", raising=False)
    with pytest.raises(ValueError, match="DAYPART_SECRET"):
        make_app(store=store_from_url("redis://127.0.0.1:6379/0"), secret=None)


def test_memory_without_a_secret_warns_and_runs(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DAYPART_SECRET", raising=False)
    with caplog.at_level(logging.WARNING, logger="daypart"):
        app = make_app(store=MemoryStore(), secret=None)
    assert "no secret configured" in caplog.text
    with TestClient(app) as client:
        assert client.get("/", headers={"User-Agent": LAPTOP}).status_code == 200


def test_the_environment_secret_is_enough_for_a_shared_store(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("DAYPART_SECRET", f" {NEW} , {OLD} ")
    app = make_app(store=redis_url, secret=None)
    old_cookie = CookieSigner(OLD).dump(VisitorCookie(new_visitor_id()))
    assert app.runtime.signer.load(old_cookie) is not None


def test_secret_lists() -> None:
    assert secret_list(f"{NEW},{OLD}") == [NEW.encode(), OLD.encode()]
    assert secret_list(f" {NEW} ,, ") == [NEW.encode()]
    assert secret_list([NEW, OLD.encode()]) == [NEW.encode(), OLD.encode()]
    assert secret_list(None) == secret_list("") == secret_list(" , ") == []
    with pytest.raises(ValueError, match=r"16 bytes \(secret 2 of 2\)"):
        CookieSigner([NEW, "short"])
    with pytest.raises(ValueError, match="no cookie secret"):
        CookieSigner([])


def test_the_first_secret_signs_and_the_others_verify() -> None:
    rotated = CookieSigner([NEW, OLD])
    cookie = VisitorCookie(new_visitor_id())
    from_old = rotated.load(CookieSigner(OLD).dump(cookie))
    assert from_old is not None
    assert (from_old.visitor_id, from_old.marks) == (cookie.visitor_id, cookie.marks)
    assert from_old.resign
    from_new = rotated.load(rotated.dump(cookie))
    assert from_new is not None
    assert not from_new.resign
    assert CookieSigner(NEW).load(rotated.dump(cookie)) == cookie  # signed with the first
    assert rotated.load(CookieSigner("a-third-secret-0123456789").dump(cookie)) is None


def set_cookie(response: Any) -> str | None:
    value = response.headers.get("set-cookie")
    return None if value is None else str(value).split(";")[0].partition("=")[2]


def test_a_cookie_signed_with_the_old_secret_is_reissued_once(make_app: MakeApp) -> None:
    before = make_app(secret=OLD)
    after = make_app(secret=[NEW, OLD])
    with TestClient(before, headers={"User-Agent": LAPTOP}) as client:
        first = client.get("/")
        visitor = first.json()["decision"]["visitor_id"]
        old_value = set_cookie(first)
    assert old_value is not None
    with TestClient(
        after, headers={"User-Agent": LAPTOP}, cookies={"daypart": old_value}
    ) as client:
        rotated = client.get("/")
        assert rotated.json()["decision"]["visitor_id"] == visitor  # the same visitor
        assert rotated.json()["decision"]["new_visitor"] is False
        new_value = set_cookie(rotated)
        assert new_value is not None
        assert CookieSigner(NEW).load(new_value) == VisitorCookie(visitor)
        # a response that sets a visitor's cookie is theirs alone
        assert "private" in rotated.headers["cache-control"]
        client.cookies.set("daypart", new_value)
        assert set_cookie(client.get("/")) is None  # re-issued once, then left alone
