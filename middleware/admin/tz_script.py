"""``GET /_daypart/tz.js``: a tiny script that tells daypart the visitor's time zone.

A plain site has no source for the visitor's zone: browsers send none with a request. The
script reads it from ``Intl.DateTimeFormat().resolvedOptions().timeZone`` and stores it in
the cookie the rules read (the first ``cookie:`` source of ``site.timezone_from``, else
``tz``), so from the visitor's second request on, dayparts are read in their own local
time. Served from the site's own origin as an external file: no inline code, so it works
under a ``script-src 'self'`` Content Security Policy; public and cacheable for a day,
with an ETag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from daypart.middleware.runtime import Runtime
from daypart.rules.model import RuleSet

DEFAULT_COOKIE = "tz"
MAX_AGE = 86400  # the script's own cache lifetime
COOKIE_MAX_AGE = 365 * 86400

_TEMPLATE = """/* daypart: the visitor's time zone in the %(name)s cookie (rules on local time) */
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone) return;
    var pair = %(name_json)s + "=" + encodeURIComponent(zone);
    if (("; " + document.cookie + ";").indexOf("; " + pair + ";") >= 0) return;
    document.cookie = pair + "; Path=/; Max-Age=%(max_age)d; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  } catch (e) { /* no Intl or no cookies: the site's own zone is used */ }
})();
"""


def zone_cookie(ruleset: RuleSet) -> str:
    for source in ruleset.site.timezone_from:
        if source.kind == "cookie":
            return source.name
    return DEFAULT_COOKIE


def tz_script(cookie_name: str) -> str:
    return _TEMPLATE % {
        "name": cookie_name.replace("*/", ""),
        "name_json": json.dumps(cookie_name),
        "max_age": COOKIE_MAX_AGE,
    }


def tz_script_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    cache: dict[str, tuple[bytes, str]] = {}

    async def endpoint(request: Request) -> Response:
        name = zone_cookie(runtime.rules.ruleset)  # follows reloads of the rules
        found = cache.get(name)
        if found is None:
            body = tz_script(name).encode()
            found = (body, '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"')
            cache.clear()
            cache[name] = found
        body, etag = found
        headers = {"Cache-Control": f"public, max-age={MAX_AGE}", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    return endpoint
