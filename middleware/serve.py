"""Serving the decision on the response: ``Vary`` and ``Cache-Control: private`` when the
response varies, the visitor cookie when it is new or changed, and the goals that wait
for the response status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.types import Message, Send

from daypart.middleware.headers import make_private, merge_vary

_HEADER_CACHE_SIZE = 256
# The merges are keyed by the app's own Vary / Cache-Control values, which a site sends
# few of; an app that echoes request data there must not grow memory by it.
_MAX_CACHED_HEADER = 512

ResponseHook = Callable[[int, list[tuple[bytes, bytes]]], None]


class Serving:
    def __init__(self, cookie_name: str, cookie_max_age: int, vary: Sequence[str]) -> None:
        self.vary = tuple(vary)
        # Constant parts of the Set-Cookie header, built once.
        self._cookie_start = f"{cookie_name}=".encode("latin-1")
        attributes = f"; Path=/; Max-Age={cookie_max_age}; HttpOnly; SameSite=Lax"
        self._cookie_end = attributes.encode("latin-1")
        self._cookie_end_secure = self._cookie_end + b"; Secure"
        self._vary_cache: dict[bytes, bytes] = {}
        self._private_cache: dict[bytes, bytes] = {}
        # What make_private adds to a response that has no Vary nor Cache-Control.
        self._private_added: tuple[tuple[bytes, bytes], ...] = (
            (b"vary", self._merged_vary(b"")),
            (b"cache-control", _merged_private(b"")),
        )

    def wrap(
        self,
        send: Send,
        private: bool,
        cookie: str | None,
        secure: bool,
        on_response: ResponseHook | None,
    ) -> Send:
        """``send`` that adds our headers to the response start: a plain function returning
        ``send``'s awaitable, so no coroutine frame of its own per message."""
        added = self._private_added if private else ()
        set_cookie = None
        if cookie is not None:
            end = self._cookie_end_secure if secure else self._cookie_end
            set_cookie = (b"set-cookie", self._cookie_start + cookie.encode("latin-1") + end)
            added = (*added, set_cookie)

        def send_wrapper(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                plain = True
                if private:
                    for name, _ in headers:  # ASGI: names are lower-case
                        if name == b"vary" or name == b"cache-control":
                            plain = False
                            break
                if plain:  # the common case: our headers, built once, appended
                    headers = [*headers, *added]
                else:
                    headers = list(headers)
                    self.make_private(headers)
                    if set_cookie is not None:
                        headers.append(set_cookie)
                if on_response is not None:
                    on_response(message["status"], headers)
                message["headers"] = headers
            return send(message)

        return send_wrapper

    def make_private(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Add our Vary names and ``private`` to the app's own headers, in place. Both merges
        depend only on the app's value, so they are remembered (a site sends few values)."""
        vary_at = cache_at = -1
        repeated = False
        for index, (name, _) in enumerate(headers):  # ASGI: names are lower-case
            if name == b"vary":
                if vary_at < 0:
                    vary_at = index
                else:
                    repeated = True
            elif name == b"cache-control":
                if cache_at < 0:
                    cache_at = index
                else:
                    repeated = True
        if repeated:  # rare: one header of each, or a later "public" would undo "private"
            _combine(headers, b"vary")
            _combine(headers, b"cache-control")
            names = [name for name, _ in headers]
            vary_at = names.index(b"vary") if b"vary" in names else -1
            cache_at = names.index(b"cache-control") if b"cache-control" in names else -1
        _merge_into(headers, vary_at, b"vary", self._vary_cache, self._merged_vary)
        _merge_into(headers, cache_at, b"cache-control", self._private_cache, _merged_private)

    def _merged_vary(self, existing: bytes) -> bytes:
        return merge_vary(existing.decode("latin-1"), self.vary).encode("latin-1")


def _combine(headers: list[tuple[bytes, bytes]], name: bytes) -> None:
    """Fold every ``name`` header into the first, in place (a list header: its values
    join with ", ")."""
    at = [index for index, (n, _) in enumerate(headers) if n == name]
    if len(at) > 1:
        headers[at[0]] = (name, b", ".join(headers[index][1] for index in at))
        for index in reversed(at[1:]):
            del headers[index]


def _merged_private(existing: bytes) -> bytes:
    return make_private(existing.decode("latin-1")).encode("latin-1")


def _merge_into(
    headers: list[tuple[bytes, bytes]],
    index: int,
    name: bytes,
    cache: dict[bytes, bytes],
    merge: Callable[[bytes], bytes],
) -> None:
    existing = headers[index][1] if index >= 0 else b""
    merged = cache.get(existing)
    if merged is None:
        merged = merge(existing)
        if len(existing) <= _MAX_CACHED_HEADER:
            if len(cache) >= _HEADER_CACHE_SIZE:
                cache.clear()
            cache[existing] = merged
    if index >= 0:
        headers[index] = (name, merged)
    else:
        headers.append((name, merged))
