"""The signed visitor cookie.

Value: ``1.<visitor id>.<exposure marks>.<signature>``. The marks
(``daypart.experiments.policy.Mark``) record which experiments the visitor has been
exposed to, in which arm and segment, so that (a) a returning visitor's exposure is never
sent to the store again — no store round trip per request — and (b) a later conversion is
counted in the arm and segment of the exposure. The store de-duplicates exposures as well,
so a lost mark costs one harmless write, never a double count. The signature is
HMAC-SHA256 (truncated to 128 bits) over everything before it; anything that does not
verify is treated as no cookie: a new visitor, never an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from daypart.experiments.policy import Mark

VERSION = "1"
MAX_MARKS = 16  # oldest marks are dropped first; the store's de-dup keeps counts exact
MAX_COOKIE_CHARS = 1024
_NAME = r"[a-z][a-z0-9_-]{0,63}"
_MARK = re.compile(rf"([A-Za-z0-9_-]{{8}}):({_NAME}):([mtd]):({_NAME})")
_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
DEVICE_CODES = {"mobile": "m", "tablet": "t", "desktop": "d"}
DEVICE_NAMES = {code: name for name, code in DEVICE_CODES.items()}


def new_visitor_id() -> str:
    # secrets.token_urlsafe(12) without its two extra calls: this runs for every new
    # visitor. 96 random bits from the OS, 16 characters, no padding.
    return base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")


def encode_mark(mark: Mark) -> str:
    return f"{mark.code}:{mark.arm}:{DEVICE_CODES[mark.device]}:{mark.daypart}"


@dataclass(frozen=True, slots=True)
class VisitorCookie:
    visitor_id: str
    marks: tuple[Mark, ...] = ()

    def mark_for(self, code: str) -> Mark | None:
        for mark in self.marks:
            if mark.code == code:
                return mark
        return None

    def with_mark(self, mark: Mark) -> VisitorCookie:
        kept = tuple(m for m in self.marks if m.code != mark.code)
        return VisitorCookie(self.visitor_id, (*kept, mark)[-MAX_MARKS:])


class CookieSigner:
    """Signs and verifies visitor cookies. Verification is not cached here: the middleware
    remembers the result per Cookie header, which a returning visitor repeats."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < 16:
            raise ValueError("the cookie secret must be at least 16 bytes")
        self._key = key

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def dump(self, cookie: VisitorCookie) -> str:
        marks = "/".join(encode_mark(mark) for mark in cookie.marks)
        payload = f"{VERSION}.{cookie.visitor_id}.{marks}"
        return f"{payload}.{self._sign(payload)}"

    def load(self, value: str | None) -> VisitorCookie | None:
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        parts = payload.split(".")
        if len(parts) != 3 or parts[0] != VERSION or not _ID.fullmatch(parts[1]):
            return None
        marks: list[Mark] = []
        for item in filter(None, parts[2].split("/")):
            found = _MARK.fullmatch(item)
            if found is None:
                return None
            code, arm, device, daypart = found.groups()
            marks.append(Mark(code, arm, DEVICE_NAMES[device], daypart))
        return VisitorCookie(parts[1], tuple(marks[-MAX_MARKS:]))
