"""The signed visitor cookie.

Value: ``1.<visitor id>.<exposure marks>.<signature>``, the marks separated by ``/``,
each ``code:arm:device:daypart`` and, when the rules declare channels, ``:channel``. The
marks (``daypart.experiments.policy.Mark``) record which experiments the visitor has been
exposed to, in which arm and segment, so that (a) a returning visitor's exposure is never
sent to the store again — no store round trip per request — and (b) a later conversion is
counted in the arm and segment of the exposure. The store de-duplicates exposures as well,
so a lost mark costs one harmless write, never a double count. The signature is
HMAC-SHA256 (truncated to 128 bits) over everything before it; anything that does not
verify is treated as no cookie: a new visitor, never an error.

Secrets rotate: the signer takes a list whose first secret signs and whose others still
verify. A cookie that verifies only with an older secret is marked ``resign``, and the
middleware sets it again, signed with the first, on that response.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from daypart.experiments.policy import Mark

VERSION = "1"
MAX_MARKS = 16  # oldest marks are dropped first; the store's de-dup keeps counts exact
MAX_COOKIE_CHARS = 1024
MIN_SECRET_BYTES = 16
# The signature: 128 bits in 22 url-safe characters, after a dot.
_MAX_PAYLOAD_CHARS = MAX_COOKIE_CHARS - 23
_NAME = r"[a-z][a-z0-9_-]{0,63}"
# code:arm:device:daypart, and :channel when the rules declare channels (older marks
# have none, and read as channel "")
_MARK = re.compile(rf"([A-Za-z0-9_-]{{8}}):({_NAME}):([mtd]):({_NAME})(?::({_NAME}))?")
_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
DEVICE_CODES = {"mobile": "m", "tablet": "t", "desktop": "d"}
DEVICE_NAMES = {code: name for name, code in DEVICE_CODES.items()}


_ID_BYTES = 12  # 96 random bits: 16 url-safe characters, no padding (12 is a multiple of 3)
_ID_CHARS = 16
_IDS_PER_DRAW = 256


class _IdPool:
    """Visitor ids drawn from the OS 256 at a time: one ``os.urandom`` call and one base64
    encoding serve 256 new visitors, instead of a system call each (this runs for every new
    visitor). Because 12 bytes encode to exactly 16 characters, each slice of the encoded
    draw is an independent 96-bit id. A forked worker must not hand out its parent's
    remaining ids, so the pool empties itself in the child."""

    __slots__ = ("_at", "_text")

    def __init__(self) -> None:
        self._text = ""
        self._at = 0

    def clear(self) -> None:
        self._text = ""
        self._at = 0

    def take(self) -> str:
        at = self._at
        if at >= len(self._text):
            draw = os.urandom(_ID_BYTES * _IDS_PER_DRAW)
            self._text = base64.urlsafe_b64encode(draw).decode("ascii")
            at = 0
        self._at = at + _ID_CHARS
        return self._text[at : at + _ID_CHARS]


_ids = _IdPool()
os.register_at_fork(after_in_child=_ids.clear)
new_visitor_id = _ids.take
"""A new visitor's id: 96 random bits from the OS as 16 url-safe characters."""


def encode_mark(mark: Mark) -> str:
    text = f"{mark.code}:{mark.arm}:{DEVICE_CODES[mark.device]}:{mark.daypart}"
    return f"{text}:{mark.channel}" if mark.channel else text


def secret_list(secret: str | bytes | Sequence[str | bytes] | None) -> list[bytes]:
    """The secrets in a ``secret`` option or ``DAYPART_SECRET``: a list as given, or a
    comma-separated string (spaces around each secret ignored); the first one signs."""
    if secret is None:
        return []
    if isinstance(secret, str):
        return [part.strip().encode() for part in secret.split(",") if part.strip()]
    if isinstance(secret, bytes):
        return [secret] if secret else []
    return [s.encode() if isinstance(s, str) else s for s in secret if s]


@dataclass(frozen=True, slots=True)
class VisitorCookie:
    visitor_id: str
    marks: tuple[Mark, ...] = ()
    # A class attribute, not a field: one more field would cost every cookie made on the
    # request path a frozen-dataclass setattr. ``ResignedCookie`` says True.
    resign: ClassVar[bool] = False

    def mark_for(self, code: str) -> Mark | None:
        for mark in self.marks:
            if mark.code == code:
                return mark
        return None

    def with_mark(self, mark: Mark) -> VisitorCookie:
        kept = tuple(m for m in self.marks if m.code != mark.code)
        return VisitorCookie(self.visitor_id, (*kept, mark)[-MAX_MARKS:])


class ResignedCookie(VisitorCookie):
    """A cookie that verified with an older secret only: set it again, signed with the
    current one (its copies, ``with_mark``, are plain ``VisitorCookie``)."""

    __slots__ = ()
    resign = True


def _sha256(data: bytes = b"") -> hashlib._Hash:
    return hashlib.sha256(data)


def _keyed(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed once: signing copies it. Given a plain function as its digest,
    the standard library keeps the padded key's inner and outer hash states (RFC 2104) and a
    copy reuses them; given OpenSSL's own sha256 it builds an OpenSSL HMAC whose set-up and
    copy cost twice as much as this whole signature. The bytes are the same either way."""
    return hmac.new(key, digestmod=_sha256)


def _signature(mac: hmac.HMAC, payload: bytes) -> bytes:
    signer = mac.copy()
    signer.update(payload)
    return base64.urlsafe_b64encode(signer.digest()[:16]).rstrip(b"=")


class CookieSigner:
    """Signs visitor cookies with the first secret and verifies them with any (rotation).
    Verification is not cached here: the middleware remembers the result per Cookie
    header, which a returning visitor repeats."""

    def __init__(self, secret: str | bytes | Sequence[str | bytes]) -> None:
        keys = secret_list(secret)
        if not keys:
            raise ValueError("no cookie secret given")
        for number, key in enumerate(keys, 1):
            if len(key) < MIN_SECRET_BYTES:
                which = "" if len(keys) == 1 else f" (secret {number} of {len(keys)})"
                raise ValueError(
                    f"the cookie secret must be at least {MIN_SECRET_BYTES} bytes{which}"
                )
        self._key = _keyed(keys[0])
        self._older_keys = tuple(_keyed(key) for key in keys[1:])

    def dump(self, cookie: VisitorCookie) -> str:
        marks = cookie.marks
        # A new visitor carries one mark: no generator for it.
        marks_text = encode_mark(marks[0]) if len(marks) == 1 else "/".join(map(encode_mark, marks))
        payload = f"{VERSION}.{cookie.visitor_id}.{marks_text}"
        if len(payload) > _MAX_PAYLOAD_CHARS:
            payload = self._fitted(cookie)
        return f"{payload}.{_signature(self._key, payload.encode()).decode()}"

    @staticmethod
    def _fitted(cookie: VisitorCookie) -> str:
        """The payload with the oldest marks left out until the cookie fits the length
        ``load`` accepts: a cookie it refused would make a returning visitor a new one. A
        mark left out costs at most one exposure write the store refuses as a duplicate."""
        encoded = [encode_mark(mark) for mark in cookie.marks]
        prefix = f"{VERSION}.{cookie.visitor_id}."
        while encoded and len(prefix) + len("/".join(encoded)) > _MAX_PAYLOAD_CHARS:
            del encoded[0]
        return prefix + "/".join(encoded)

    def load(self, value: str | None) -> VisitorCookie | None:
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        payload, _, signature = value.rpartition(".")
        # surrogatepass: any str encodes (a forged one then fails to verify, never raises)
        signed = payload.encode("utf-8", "surrogatepass")
        given = signature.encode("utf-8", "surrogatepass")
        resign = False
        if not hmac.compare_digest(given, _signature(self._key, signed)):
            if not any(hmac.compare_digest(given, _signature(k, signed)) for k in self._older_keys):
                return None
            resign = True
        parts = payload.split(".")
        if len(parts) != 3 or parts[0] != VERSION or not _ID.fullmatch(parts[1]):
            return None
        marks: list[Mark] = []
        for item in filter(None, parts[2].split("/")):
            found = _MARK.fullmatch(item)
            if found is None:
                return None
            code, arm, device, daypart, channel = found.groups()
            marks.append(Mark(code, arm, DEVICE_NAMES[device], daypart, channel or ""))
        kind = ResignedCookie if resign else VisitorCookie
        return kind(parts[1], tuple(marks[-MAX_MARKS:]))
