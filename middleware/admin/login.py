"""``/_daypart/login`` and ``/_daypart/logout``: a plain form, no JavaScript.

A person gives a name and the shared admin token (that name becomes the actor of every
audit entry they cause), or, when named users are configured, their name and password.
Success sets the signed session cookie: ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page makes the browser send it), ``Path`` the admin
prefix, ``Secure`` over https, and an expiry of ``admin_session_seconds``.
"""

from __future__ import annotations

import math
from html import escape as _e

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from daypart.middleware.admin.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Authenticator,
    cross_site_refusal,
    html,
    name_problem,
    read_form,
)
from daypart.middleware.admin.pages import message_page, page


def safe_next(prefix: str, target: str | None) -> str:
    """Where to go after logging in: only a page of the admin app itself (never another
    site: ``//evil.example`` and ``/\\evil.example`` are refused)."""
    if (
        target
        and (target == prefix or target.startswith(f"{prefix}/"))
        and "//" not in target
        and "\\" not in target
        and not any(ord(c) < 33 for c in target)
    ):
        return target
    return f"{prefix}/"


def login_form(
    prefix: str,
    auth: Authenticator,
    *,
    next_page: str,
    name: str = "",
    error: str | None = None,
    notice: str | None = None,
) -> str:
    if not auth.enabled:
        return message_page(
            prefix,
            "The admin pages are off",
            "Set DAYPART_ADMIN_TOKEN (or named users, DAYPART_ADMIN_USERS) to turn them on.",
        )
    secret = "Password or admin token" if auth.users else "Admin token"
    hint = (
        "Named users give their password; anyone else their name and the admin token."
        if auth.users and auth.token
        else "Your name goes into the audit log of everything you do."
    )
    message = ""
    if error:
        message = f"<p class='error' role='alert'>{_e(error)}</p>"
    elif notice:
        message = f"<p class='notice'>{_e(notice)}</p>"
    body = (
        f"<h1>daypart</h1>{message}"
        f"<form method='post' action='{prefix}/login'>"
        f"<input type='hidden' name='next' value='{_e(next_page)}'>"
        "<label for='name'>Your name</label>"
        f"<input id='name' name='name' value='{_e(name)}' autocomplete='username' required "
        "maxlength='64' autocapitalize='none' autofocus>"
        f"<label for='password'>{secret}</label>"
        "<input id='password' name='password' type='password' required "
        "autocomplete='current-password'>"
        "<p><button class='primary'>Log in</button></p></form>"
        f"<p class='who'>{_e(hint)}</p>"
    )
    return page("log in", body, prefix)


def login_routes(prefix: str, auth: Authenticator) -> list[Route]:
    async def login_page(request: Request) -> Response:
        next_page = safe_next(prefix, request.query_params.get("next"))
        notice = "You are logged out." if "out" in request.query_params else None
        status = 200 if auth.enabled else 403
        return html(login_form(prefix, auth, next_page=next_page, notice=notice), status)

    async def login(request: Request) -> Response:
        if not auth.enabled:
            return html(login_form(prefix, auth, next_page=prefix), 403)
        refused = cross_site_refusal(request, auth.trusted, origin_required=False)
        if refused:
            return html(message_page(prefix, "Refused", refused), 403)
        client = request.client.host if request.client else "unknown"
        wait = auth.throttle.wait(client)
        if wait:
            minutes = math.ceil(wait / 60)
            return html(
                message_page(
                    prefix,
                    "Too many attempts",
                    f"Too many failed logins from here: try again in {minutes} min.",
                    back=f"{prefix}/login",
                ),
                429,
                {"Retry-After": str(math.ceil(wait))},
            )
        form = await read_form(request)
        if isinstance(form, str):
            return html(message_page(prefix, "Bad request", form, back=f"{prefix}/login"), 400)
        name = form.get("name", "").strip()
        next_page = safe_next(prefix, form.get("next"))
        problem = name_problem(name)
        if problem:
            content = login_form(prefix, auth, next_page=next_page, name=name, error=problem)
            return html(content, 400)
        value = await auth.login(name, form.get("password", ""))
        if value is None:
            auth.throttle.failed(client)
            error = "That name and password (or token) do not match."
            content = login_form(prefix, auth, next_page=next_page, name=name, error=error)
            return html(content, 401)
        auth.throttle.succeeded(client)
        response = RedirectResponse(next_page, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=auth.session_seconds,
            path=prefix or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(request: Request) -> Response:
        refused = cross_site_refusal(request, auth.trusted, origin_required=True)
        if refused:
            return html(message_page(prefix, "Refused", refused), 403)
        session = auth.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            form = await read_form(request)
            given = form.get(CSRF_FIELD) if isinstance(form, dict) else None
            if not auth.csrf_ok(session, given):
                message = (
                    "The form's CSRF token is missing or stale: reload the page, log out again."
                )
                return html(message_page(prefix, "Refused", message), 403)
        response = RedirectResponse(f"{prefix}/login?out", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path=prefix or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    return [
        Route(f"{prefix}/login", login_page, methods=["GET"]),
        Route(f"{prefix}/login", login, methods=["POST"]),
        Route(f"{prefix}/logout", logout, methods=["POST"]),
    ]
