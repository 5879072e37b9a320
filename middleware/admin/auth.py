"""Who is asking the admin app, and whether they may act.

Four ways in, each with its own rights:

- a **session** (the signed ``daypart_admin`` cookie set by ``/login``): read and act, with
  the CSRF token of the session on every state-changing request; the actor is the name
  the person logged in with;
- the **bearer token** (``Authorization: Bearer <DAYPART_ADMIN_TOKEN>``), for scripts: read
  and act, no cookies so no CSRF token; the actor is ``api`` or ``api:<X-Daypart-Actor>``;
- **HTTP Basic** with the token as password: read only (dashboards, API GETs). A browser
  replays Basic credentials on its own, cross-site forms included, so they never act;
- nothing: the health check, the beacon and the login page.

Every state-changing request must also come from the admin's own origin: ``Sec-Fetch-Site``
other than ``same-origin`` is refused, and so is an ``Origin`` that is not the request's
own scheme and host (or one of ``admin_origins``); a session request without ``Origin``
is refused too (browsers send it on every POST), a bearer request may omit it.

Sessions are signed with itsdangerous (the middleware's secret, a salt of their own and
HMAC-SHA256): a well-kept library that already does timestamped, expiring signatures, so
this module holds no cryptography of its own beyond the password hashing. The expiry
reads the middleware's one clock. A session also carries a fingerprint of the credential
it was made with, so changing the token or a user's password ends those sessions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse

from daypart.middleware.runtime import Settings
from daypart.rules.localtime import Clock

SESSION_COOKIE = "daypart_admin"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
ACTOR_HEADER = "X-Daypart-Actor"
# Names the system writes into the audit log itself; no person may pose as them.
RESERVED_NAMES = frozenset({"admin", "api", "daypart", "evaluator"})
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")
NAME_RULE = "1 to 64 letters, digits, spaces or . _ @ -, starting with a letter or digit"

# scrypt, as hashlib has it: n = 2**15, r = 8 needs 32 MiB and about 0.2 s here, which
# makes every guess at a stolen hash costly. Hashes carry their parameters, so old ones
# keep verifying when these change.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 256 * 1024 * 1024
LOGIN_SLOTS = 2  # concurrent password checks per worker: bounds a flood's memory and CPU

# A client that fails this many logins within the window waits until the window ends.
LOGIN_FAILURES, LOGIN_WINDOW, LOGIN_CLIENTS = 10, 600.0, 10_000

Kind = Literal["session", "bearer", "basic"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    actor: str  # the name written into the audit log
    csrf: str | None = None  # the session's synchronizer token

    @property
    def may_act(self) -> bool:
        return self.kind != "basic"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- passwords -----------------------------------------------------------------------------


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash``: what ``daypart hash-password`` prints for a user file."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$n$r$p$salt$hash (make one with daypart hash-password)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise ValueError(f"malformed scrypt hash: {exc}") from None
    # Bounded, so that a mistyped file cannot make each login take minutes or gigabytes.
    if n < 2 or n & (n - 1) or n > 2**20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError(f"scrypt parameters out of range: n={n}, r={r}, p={p}")
    if 128 * n * r * p > SCRYPT_MAXMEM // 2 or len(salt) < 8 or len(digest) < 16:
        raise ValueError("scrypt hash too costly or too short")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, digest = _parse_hash(encoded)
    given = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=len(digest)
    )
    return hmac.compare_digest(given, digest)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an actor's name, or None."""
    if not NAME_PATTERN.fullmatch(name):
        return f"a name must be {NAME_RULE}"
    if name.lower() in RESERVED_NAMES or name.lower().startswith("api:"):
        return f"{name!r} is reserved for daypart's own entries in the audit log"
    return None


def load_users(source: Mapping[str, str] | str | os.PathLike[str]) -> dict[str, str]:
    """Named users, name -> scrypt hash: a mapping, or a file of ``name:hash`` lines
    (``#`` comments and blank lines allowed). Raises ValueError naming the bad entry."""
    if isinstance(source, Mapping):
        entries = [(f"admin_users[{name!r}]", name, value) for name, value in source.items()]
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"admin users file {path}: {exc}") from None
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"{path}:{number}: expected name:hash")
            entries.append((f"{path}:{number}", name.strip(), value.strip()))
    users: dict[str, str] = {}
    for where, name, value in entries:
        problem = name_problem(name)
        if problem:
            raise ValueError(f"{where}: {problem}")
        if name in users:
            raise ValueError(f"{where}: {name!r} is listed twice")
        try:
            _parse_hash(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        users[name] = value
    return users


# -- origins -------------------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str) -> str | None:
    """``scheme://host:port`` with the default port spelled out, lower-cased; None if
    ``host`` is not a plain host[:port]."""
    scheme = scheme.lower()
    if scheme not in DEFAULT_PORTS or not host or any(c in host for c in "/?#@\\ "):
        return None
    try:
        parts = urlsplit(f"{scheme}://{host}")
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not hostname:
        return None
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{scheme}://{hostname}:{port or DEFAULT_PORTS[scheme]}"


def parse_origin(value: str) -> str | None:
    scheme, sep, rest = value.strip().partition("://")
    return _origin(scheme, rest) if sep else None


def request_origin(request: Request) -> str | None:
    """The origin this request was sent to: its scheme (https behind a proxy only when
    the server trusts the proxy's headers) and its ``Host``."""
    host = request.headers.get("host")
    if host is None:
        server = request.scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}"
    return _origin(request.url.scheme, host)


def _shown(value: str) -> str:
    return repr(value[:100])


def cross_site_refusal(
    request: Request, trusted: frozenset[str], *, origin_required: bool
) -> str | None:
    """Why this state-changing request is refused as cross-site, or None."""
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return (
            f"cross-site request refused: the browser says it comes from another site "
            f"(Sec-Fetch-Site: {_shown(site)}); act from the admin pages themselves"
        )
    origin = headers.get("origin")
    own = request_origin(request)
    if origin is None:
        if origin_required:
            return "request refused: a browser request that changes something must carry Origin"
        return None
    given = parse_origin(origin)
    if given is None or (given != own and given not in trusted):
        return (
            f"cross-site request refused: Origin {_shown(origin)} is not this site "
            f"({own or 'unknown'}). Behind a proxy that changes the scheme or host, let the "
            "server trust its forwarded headers, or list the origin in admin_origins"
        )
    return None


# -- responses and forms -------------------------------------------------------------------

# Every admin page: no scripts at all (so an injected one cannot run), no framing (so no
# click-jacking of the action buttons), forms post only here, nothing cached or leaked.
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM = 4096


def html(
    content: str, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(content, status_code, headers={**HTML_HEADERS, **(headers or {})})


async def read_form(request: Request) -> dict[str, str] | str:
    """The fields of a small ``application/x-www-form-urlencoded`` body, or why not.
    (The standard library parses it; no multipart, no files, nothing large.)"""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return f"expected a form (application/x-www-form-urlencoded), not {_shown(content_type)}"
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return f"form larger than {MAX_FORM} bytes"
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"unreadable form: {exc}"
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            return f"field {_shown(key)} given twice"
        fields[key] = value
    return fields


# -- login throttling ----------------------------------------------------------------------


class LoginThrottle:
    """Failed logins per client, in this worker: after ``LOGIN_FAILURES`` within
    ``LOGIN_WINDOW`` seconds the client waits out the window. Bounded in memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (count, window start)

    def wait(self, client: str) -> float:
        """Seconds this client must wait before trying again (0: may try now)."""
        count, start = self._failures.get(client, (0, 0.0))
        left = start + LOGIN_WINDOW - self.clock()
        if left <= 0:
            self._failures.pop(client, None)
            return 0.0
        return left if count >= LOGIN_FAILURES else 0.0

    def failed(self, client: str) -> None:
        now = self.clock()
        count, start = self._failures.pop(client, (0, now))
        if start + LOGIN_WINDOW <= now:
            count, start = 0, now
        if len(self._failures) >= LOGIN_CLIENTS:  # forget the oldest client
            del self._failures[next(iter(self._failures))]
        self._failures[client] = (count + 1, start)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


# -- the authenticator ---------------------------------------------------------------------


def _clocked_signer(clock: Clock) -> type[TimestampSigner]:
    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:  # the middleware's clock, not time.time()
            return int(clock())

    return ClockedSigner


class Authenticator:
    def __init__(self, settings: Settings, secret: str | None, clock: Clock) -> None:
        self.token = settings.admin_token or None
        self.users: Mapping[str, str] = settings.admin_users or {}
        self.session_seconds = settings.admin_session_seconds
        self.clock = clock
        self.trusted = frozenset(
            o for o in (parse_origin(value) for value in settings.admin_origins) if o
        )
        self._key = (secret or secrets.token_urlsafe(32)).encode()
        self._sessions = URLSafeTimedSerializer(
            self._key,
            salt="daypart.admin-session",
            signer=_clocked_signer(clock),
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )
        self.throttle = LoginThrottle(clock)
        self._slots = asyncio.Semaphore(LOGIN_SLOTS)
        self._dummy_hash: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.users)

    def _fingerprint(self, kind: str, name: str) -> str | None:
        """Ties a session to the credential it was made with (None: that credential is
        gone, so is the session)."""
        credential = self.token if kind == "token" else self.users.get(name)
        if credential is None:
            return None
        message = f"{kind}\0{name}\0{credential}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:12])

    # -- who is asking ----------------------------------------------------------------

    def authenticate(self, request: Request) -> Principal | None:
        """The bearer token wins, then the session cookie, then HTTP Basic: a browser that
        once used Basic keeps sending it, and must still act through its session."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            if self._is_token(credentials.strip()):
                actor = request.headers.get(ACTOR_HEADER, "").strip()
                return Principal("bearer", f"api:{actor}" if actor else "api")
            return None
        session = self.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            return session
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            user, _, password = decoded.partition(":")
            if self._is_token(password):
                return Principal("basic", user.strip() or "basic")
        return None

    def _is_token(self, given: str) -> bool:
        token = self.token
        return token is not None and hmac.compare_digest(given.encode(), token.encode())

    def session(self, value: str | None) -> Principal | None:
        if not value or len(value) > 1024:
            return None
        try:
            data: Any = self._sessions.loads(value, max_age=self.session_seconds)
        except BadSignature:  # tampered, expired, or signed with another secret
            return None
        if not isinstance(data, dict):
            return None
        name, kind, csrf, fingerprint = (data.get(k) for k in ("n", "k", "c", "f"))
        if not (isinstance(name, str) and isinstance(csrf, str) and isinstance(fingerprint, str)):
            return None
        if kind not in ("token", "user"):
            return None
        expected = self._fingerprint(kind, name)
        if expected is None or not hmac.compare_digest(expected, fingerprint):
            return None
        return Principal("session", name, csrf)

    def actor_problem(self, request: Request) -> str | None:
        actor = request.headers.get(ACTOR_HEADER)
        if actor is None or not actor.strip():
            return None
        if not NAME_PATTERN.fullmatch(actor.strip()):
            return f"{ACTOR_HEADER} must be {NAME_RULE}"
        return None

    @staticmethod
    def csrf_ok(principal: Principal, given: str | None) -> bool:
        if principal.kind != "session":
            return True  # the bearer token is never sent by a browser on its own
        expected = principal.csrf
        return (
            expected is not None
            and given is not None
            and hmac.compare_digest(given.encode(), expected.encode())
        )

    # -- logging in -------------------------------------------------------------------

    async def login(self, name: str, password: str) -> str | None:
        """A new session cookie value for ``name``, or None when the credentials fail.
        Named users give their password; anyone else the shared token (and their name,
        which becomes the actor of everything they do)."""
        stored = self.users.get(name)
        if stored is None and self.users:
            # The same work as for a real user, so the answer's timing does not tell
            # which names exist.
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_hex(8))
            await self._verify(password, self._dummy_hash)
        if stored is not None:
            if not await self._verify(password, stored):
                return None
            kind = "user"
        elif self._is_token(password):
            kind = "token"
        else:
            return None
        fingerprint = self._fingerprint(kind, name)
        assert fingerprint is not None
        payload = {"n": name, "k": kind, "c": secrets.token_urlsafe(24), "f": fingerprint}
        return self._sessions.dumps(payload)

    async def _verify(self, password: str, encoded: str) -> bool:
        async with self._slots:  # scrypt is memory-hard: a few at a time, off the loop
            return await asyncio.to_thread(verify_password, password, encoded)
