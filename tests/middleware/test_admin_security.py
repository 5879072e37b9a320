"""The admin surface's doors: login for people, the bearer token for scripts, HTTP Basic
for reading only, and no state change from another site — whatever the credential.

The defect these guard against: a cross-site ``text/plain`` form POST carrying the
browser's HTTP Basic credentials completed an experiment with the attacker's winner.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.auth import (
    LOGIN_FAILURES,
    hash_password,
    load_users,
    verify_password,
)
from daypart.middleware.admin.login import safe_next
from daypart.middleware.tools.cli import main as cli
from tests.middleware.conftest import TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]
TOKEN = "s3cret-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"ana:{TOKEN}".encode()).decode()}
SELF = "http://testserver"  # TestClient's origin
SAME = {"Origin": SELF, "Sec-Fetch-Site": "same-origin"}
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
COMPLETE = "/_daypart/api/experiments/evening-offer/complete"
PAUSE_PAGE = "/_daypart/experiments/evening-offer/pause"
FAST = {"n": 2**10}  # cheap scrypt for tests; the default costs about 0.2 s a hash


@pytest.fixture
def app(make_app: MakeApp) -> AdaptiveMiddleware:
    return make_app(admin_token=TOKEN, clock=Clock(TUESDAY_2100))


@pytest.fixture
def client(app: AdaptiveMiddleware) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, name: str = "ana", password: str = TOKEN) -> str:
    """Log in through the form; the session's CSRF token (read off a page, as a browser
    would see it)."""
    response = client.post(
        "/_daypart/login",
        data={"name": name, "password": password, "next": "/_daypart/"},
        headers=SAME,
    )
    assert response.status_code == 303, response.text
    board = client.get("/_daypart/", headers={"Accept": "text/html"})
    found = re.search(r"name='csrf' value='([^']+)'", board.text)
    assert found, board.text
    return found.group(1)


def status_of(client: TestClient) -> str:
    state = client.get("/_daypart/api/experiments/evening-offer", headers=BEARER).json()["state"]
    return str(state["status"])


def last_audit(client: TestClient) -> dict[str, Any]:
    entries = client.get("/_daypart/api/experiments/evening-offer/audit", headers=BEARER).json()
    return dict(entries[-1]) if entries else {}


# -- who gets in ---------------------------------------------------------------------------


def test_a_browser_without_a_session_is_sent_to_the_login_page(client: TestClient) -> None:
    board = client.get("/_daypart/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert board.status_code == 303
    assert board.headers["location"] == "/_daypart/login?next=/_daypart/"
    detail = client.get("/_daypart/experiments/evening-offer", headers={"Accept": "text/html"})
    assert detail.headers["location"] == "/_daypart/login?next=/_daypart/experiments/evening-offer"
    api = client.get("/_daypart/api/experiments", headers={"Accept": "text/html"})
    assert api.status_code == 401
    assert "log in" in api.json()["error"]
    # Bearer, so that no browser pops up its own Basic prompt
    assert api.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/_daypart/", headers={"Accept": "*/*"}).status_code == 401


def test_the_login_page_is_a_small_form_readable_on_a_phone(client: TestClient) -> None:
    page = client.get("/_daypart/login")
    assert page.status_code == 200
    assert "name='viewport'" in page.text
    assert "<script" not in page.text
    assert "method='post'" in page.text
    assert "type='password'" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_login_sets_a_signed_strict_httponly_cookie_for_the_admin_path(
    client: TestClient,
) -> None:
    response = client.post("/_daypart/login", data={"name": "ana", "password": TOKEN}, headers=SAME)
    assert response.status_code == 303
    assert response.headers["location"] == "/_daypart/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("daypart_admin=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/_daypart", "Max-Age=43200"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; over https it is Secure (below)
    board = client.get("/_daypart/", headers={"Accept": "text/html"})
    assert board.status_code == 200
    assert "ana" in board.text
    assert "Log out" in board.text


def test_over_https_the_session_cookie_is_secure(app: AdaptiveMiddleware) -> None:
    with TestClient(app, base_url="https://admin.example", follow_redirects=False) as client:
        response = client.post(
            "/_daypart/login",
            data={"name": "ana", "password": TOKEN},
            headers={"Origin": "https://admin.example"},
        )
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_token_bad_name_and_reserved_names_are_refused(client: TestClient) -> None:
    wrong = client.post("/_daypart/login", data={"name": "ana", "password": "nope"})
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    assert "set-cookie" not in wrong.headers
    for name in ("evaluator", "api", "api:bot", "Admin", "<script>", ""):
        refused = client.post("/_daypart/login", data={"name": name, "password": TOKEN})
        assert refused.status_code == 400, name
        assert "set-cookie" not in refused.headers
    assert client.post("/_daypart/login", content=b"{}").status_code == 400  # not a form


def test_login_from_another_site_is_refused(client: TestClient) -> None:
    response = client.post(
        "/_daypart/login", data={"name": "mallory", "password": TOKEN}, headers=EVIL
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_failed_logins_are_throttled_per_client(client: TestClient) -> None:
    for _ in range(LOGIN_FAILURES):
        assert (
            client.post("/_daypart/login", data={"name": "x", "password": "no"}).status_code == 401
        )
    throttled = client.post("/_daypart/login", data={"name": "ana", "password": TOKEN})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


def test_a_session_expires_with_the_middleware_clock(make_app: MakeApp) -> None:
    clock = Clock(TUESDAY_2100)
    app = make_app(admin_token=TOKEN, clock=clock, admin_session_seconds=3600)
    with TestClient(app, follow_redirects=False) as client:
        log_in(client)
        assert client.get("/_daypart/api/experiments").status_code == 200
        clock.epoch += 3601
        assert client.get("/_daypart/api/experiments").status_code == 401


def test_a_tampered_or_foreign_session_is_no_session(make_app: MakeApp) -> None:
    with TestClient(make_app(admin_token=TOKEN), follow_redirects=False) as client:
        log_in(client)
        value = client.cookies["daypart_admin"]
    with TestClient(make_app(admin_token=TOKEN), follow_redirects=False) as same:
        same.cookies.set("daypart_admin", value)
        assert same.get("/_daypart/api/rules").status_code == 200  # same secret and token
        same.cookies.set("daypart_admin", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert same.get("/_daypart/api/rules").status_code == 401
    # A new token ends the sessions made with the old one; so does a new secret.
    for options in ({"admin_token": "another-token-0123456789"}, {"secret": "x" * 32}):
        with TestClient(make_app(**{"admin_token": TOKEN, **options})) as other:
            other.cookies.set("daypart_admin", value)
            assert other.get("/_daypart/api/rules").status_code == 401


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client)
    assert client.post("/_daypart/logout", headers=SAME).status_code == 403
    assert client.post("/_daypart/logout", data={"csrf": csrf}, headers=EVIL).status_code == 403
    assert client.get("/_daypart/api/rules").status_code == 200  # still logged in
    out = client.post("/_daypart/logout", data={"csrf": csrf}, headers=SAME)
    assert out.status_code == 303
    assert out.headers["location"] == "/_daypart/login?out"
    assert 'daypart_admin=""' in out.headers["set-cookie"]
    assert client.get("/_daypart/api/rules").status_code == 401
    assert "logged out" in client.get("/_daypart/login?out").text


def test_next_never_leaves_the_admin_pages() -> None:
    assert safe_next("/_daypart", "/_daypart/experiments/x") == "/_daypart/experiments/x"
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/_daypart//evil",
        "/_daypart/\\x",
        None,
    ):
        assert safe_next("/_daypart", bad) == "/_daypart/"


# -- who may act ---------------------------------------------------------------------------


def test_the_reported_attack_is_refused_and_changes_nothing(client: TestClient) -> None:
    """The browser's Basic credentials ride along on a cross-site text/plain form POST."""
    attack = {
        **BASIC,
        "Origin": "https://evil.example",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "text/plain",
    }
    response = client.post(COMPLETE, content=b'{"winner": "offer"}', headers=attack)
    assert response.status_code == 403
    assert "cross-site" in response.json()["error"]
    # the same with a session cookie instead of Basic, and with the CSRF token guessed
    csrf = log_in(client)
    for headers in (attack, {**EVIL, "Content-Type": "text/plain", "X-CSRF-Token": csrf}):
        response = client.post(COMPLETE, content=b'{"winner": "offer"}', headers=headers)
        assert response.status_code == 403
    # an older browser without Sec-Fetch-Site, Origin alone
    response = client.post(
        PAUSE_PAGE, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert status_of(client) == "running"
    assert last_audit(client).get("action") != "complete"


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none"])
def test_sec_fetch_site_other_than_same_origin_is_refused(client: TestClient, site: str) -> None:
    csrf = log_in(client)
    headers = {"Origin": SELF, "Sec-Fetch-Site": site, "X-CSRF-Token": csrf}
    assert client.post(COMPLETE, headers=headers).status_code == 403
    assert client.post(PAUSE_PAGE, data={"csrf": csrf}, headers=headers).status_code == 403
    assert status_of(client) == "running"


def test_a_session_must_show_its_csrf_token_and_its_origin(client: TestClient) -> None:
    csrf = log_in(client)
    assert client.post(PAUSE_PAGE, data={}, headers=SAME).status_code == 403
    assert client.post(PAUSE_PAGE, data={"csrf": "guess"}, headers=SAME).status_code == 403
    assert client.post(COMPLETE, headers=SAME).status_code == 403
    assert client.post(COMPLETE, headers={**SAME, "X-CSRF-Token": "guess"}).status_code == 403
    # a session request without Origin at all (browsers always send it on POST)
    no_origin = client.post(PAUSE_PAGE, data={"csrf": csrf})
    assert no_origin.status_code == 403
    assert status_of(client) == "running"
    done = client.post(PAUSE_PAGE, data={"csrf": csrf, "reason": "campaign week"}, headers=SAME)
    assert done.status_code == 303
    assert done.headers["location"] == "/_daypart/experiments/evening-offer?done=pause"
    assert status_of(client) == "paused"
    entry = last_audit(client)
    assert (entry["actor"], entry["action"], entry["reason"]) == ("ana", "pause", "campaign week")
    resumed = client.post(
        "/_daypart/api/experiments/evening-offer/resume", headers={**SAME, "X-CSRF-Token": csrf}
    )
    assert resumed.status_code == 200
    assert last_audit(client)["actor"] == "ana"


def test_http_basic_may_read_but_never_act(client: TestClient) -> None:
    assert client.get("/_daypart/api/experiments", headers=BASIC).status_code == 200
    assert client.get("/_daypart/", headers=BASIC).status_code == 200
    assert client.get("/_daypart/metrics", headers=BASIC).status_code == 200
    for path in (COMPLETE, "/_daypart/api/rules/reload"):
        response = client.post(path, headers={**BASIC, "Origin": SELF})
        assert response.status_code == 403
        assert "log in" in response.json()["error"]
        assert "Bearer" in response.json()["error"]
        assert client.post(path, headers=BASIC).status_code == 403  # no Origin: the same
    page = client.post(PAUSE_PAGE, data={"csrf": "x"}, headers={**BASIC, **SAME})
    assert page.status_code == 403
    confirm = client.get(PAUSE_PAGE, headers=BASIC)
    assert confirm.status_code == 403
    assert "log in" in confirm.text
    assert status_of(client) == "running"


def test_the_bearer_token_acts_without_cookies_or_csrf(client: TestClient) -> None:
    paused = client.post("/_daypart/api/experiments/evening-offer/pause", headers=BEARER)
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert last_audit(client)["actor"] == "api"
    named = {**BEARER, "X-Daypart-Actor": "deploy-bot"}
    resumed = client.post("/_daypart/api/experiments/evening-offer/resume", headers=named)
    assert resumed.status_code == 200
    assert last_audit(client)["actor"] == "api:deploy-bot"
    bad = client.post(COMPLETE, headers={**BEARER, "X-Daypart-Actor": "<img src=x>"})
    assert bad.status_code == 400
    assert client.post(COMPLETE, headers={**BEARER, **EVIL}).status_code == 403
    done = client.post(COMPLETE, json={"winner": "offer"}, headers={**BEARER, "Origin": SELF})
    assert done.status_code == 200
    assert status_of(client) == "completed"
    assert client.post(COMPLETE, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post(COMPLETE).status_code == 401


def test_rules_reload_is_guarded_like_the_actions(client: TestClient) -> None:
    reload = "/_daypart/api/rules/reload"
    csrf = log_in(client)
    assert client.post(reload, headers=EVIL).status_code == 403
    assert client.post(reload, headers=SAME).status_code == 403  # no CSRF token
    assert client.post(reload, headers={**SAME, "X-CSRF-Token": csrf}).status_code == 200
    client.cookies.clear()
    assert client.post(reload, headers=BEARER).json() == {"reloaded": True, "error": None}


def test_a_proxy_origin_can_be_trusted_by_setting(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN, admin_origins=["https://admin.example.com"])
    with TestClient(app, follow_redirects=False) as client:
        csrf = log_in(client)
        proxied = {"Origin": "https://admin.example.com", "X-CSRF-Token": csrf}
        assert client.post("/_daypart/api/rules/reload", headers=proxied).status_code == 200
        other = {"Origin": "https://other.example.com", "X-CSRF-Token": csrf}
        response = client.post("/_daypart/api/rules/reload", headers=other)
    assert response.status_code == 403
    assert "admin_origins" in response.json()["error"]


# -- the pages' actions --------------------------------------------------------------------


def test_pause_from_the_pages_with_a_confirmation_step(client: TestClient) -> None:
    csrf = log_in(client)
    detail = client.get("/_daypart/experiments/evening-offer").text
    for action in ("pause", "advance", "rollback", "complete"):
        assert f"/_daypart/experiments/evening-offer/{action}'" in detail
    assert "/evening-offer/resume'" not in detail  # not while running
    confirm = client.get(PAUSE_PAGE)
    assert confirm.status_code == 200
    assert (
        "Pause evening-offer: no new visitors enter; visitors already in keep their arm "
        "and their conversions still count."
    ) in confirm.text
    assert f"name='csrf' value='{csrf}'" in confirm.text
    done = client.post(PAUSE_PAGE, data={"csrf": csrf}, headers=SAME)
    after = client.get(done.headers["location"]).text
    assert "evening-offer paused." in after
    assert "status <b>paused</b>" in after
    assert "<td><b>ana</b></td><td>pause</td><td>stage 1, paused</td>" in after
    assert "/evening-offer/resume'" in after
    # not possible now: explained, nothing done
    again = client.get(PAUSE_PAGE)
    assert again.status_code == 409
    assert "paused" in again.text
    twice = client.post(PAUSE_PAGE, data={"csrf": csrf}, headers=SAME)
    assert twice.status_code == 409
    assert client.get("/_daypart/experiments/evening-offer/explode").status_code == 404


def test_complete_asks_for_the_winner(client: TestClient) -> None:
    csrf = log_in(client)
    confirm = client.get("/_daypart/experiments/evening-offer/complete").text
    assert "<select id='winner' name='winner'>" in confirm
    assert "sees the winner you choose" in confirm
    wrong = client.post(
        "/_daypart/experiments/evening-offer/complete",
        data={"csrf": csrf, "winner": "nope"},
        headers=SAME,
    )
    assert wrong.status_code == 422
    done = client.post(
        "/_daypart/experiments/evening-offer/complete",
        data={"csrf": csrf, "winner": "offer"},
        headers=SAME,
    )
    assert done.status_code == 303
    state = client.get("/_daypart/api/experiments/evening-offer", headers=BEARER).json()["state"]
    assert (state["status"], state["winner"]) == ("completed", "offer")


# -- named users ---------------------------------------------------------------------------


def test_named_users_log_in_with_their_password(make_app: MakeApp, tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text(f"# admins\nana:{hash_password('ana-password-1', **FAST)}\n\n")
    app = make_app(admin_token=TOKEN, admin_users=str(users))
    with TestClient(app, follow_redirects=False) as client:
        assert (
            client.post("/_daypart/login", data={"name": "ana", "password": "no"}).status_code
            == 401
        )
        # the shared token does not make you ana
        assert (
            client.post("/_daypart/login", data={"name": "ana", "password": TOKEN}).status_code
            == 401
        )
        csrf = log_in(client, "ana", "ana-password-1")
        client.post(PAUSE_PAGE, data={"csrf": csrf}, headers=SAME)
        assert last_audit(client)["actor"] == "ana"
        client.cookies.clear()
        log_in(client, "bob", TOKEN)  # anyone else: their name and the token


def test_named_users_only(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    users = tmp_path / "users"
    users.write_text(f"ana:{hash_password('ana-password-1', **FAST)}\n")
    monkeypatch.setenv("DAYPART_ADMIN_USERS", str(users))
    monkeypatch.delenv("DAYPART_ADMIN_TOKEN", raising=False)
    with TestClient(make_app(), follow_redirects=False) as client:
        assert client.get("/_daypart/login").status_code == 200
        unknown = client.post("/_daypart/login", data={"name": "bob", "password": "x"})
        assert unknown.status_code == 401
        log_in(client, "ana", "ana-password-1")
        assert client.get("/_daypart/api/rules", headers=BEARER).status_code == 401  # no token


def test_bad_user_files_fail_at_start_up(tmp_path: Path, make_app: MakeApp) -> None:
    good = hash_password("whatever-123", **FAST)
    cases = {
        "ana\n": "expected name:hash",
        "ana:plain-password\n": "scrypt$n$r$p$salt$hash",
        f"evaluator:{good}\n": "reserved",
        f"ana:{good}\nana:{good}\n": "listed twice",
        "ana:scrypt$3$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA\n": "out of range",
    }
    for text, message in cases.items():
        path = tmp_path / "users"
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(message)):
            make_app(admin_users=path)
    with pytest.raises(ValueError, match="No such file"):
        make_app(admin_users=tmp_path / "missing")
    assert load_users({"ana": good}) == {"ana": good}


def test_hashes_verify_in_constant_form_and_carry_their_parameters() -> None:
    encoded = hash_password("correct horse", **FAST)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsf", encoded)
    assert hash_password("correct horse", **FAST) != encoded  # salted


def test_the_cli_prints_a_users_file_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert cli(["hash-password", "ana"]) == 0
    line = capsys.readouterr().out.strip()
    name, _, encoded = line.partition(":")
    assert name == "ana"
    assert verify_password("a long enough password", encoded)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli(["hash-password"]) == 2


def test_without_token_or_users_everything_is_off(make_app: MakeApp) -> None:
    with TestClient(make_app(admin_token=None), follow_redirects=False) as client:
        assert client.get("/_daypart/login").status_code == 403
        assert (
            client.post("/_daypart/login", data={"name": "a", "password": "b"}).status_code == 403
        )
        assert client.post(COMPLETE, headers=BEARER).status_code == 403
        assert client.get("/_daypart/metrics", headers=BEARER).status_code == 403
