"""A small site behind the middleware, importable by a real uvicorn server in the tests.

Configured through the environment so that every worker process builds the same thing:
``DAYPART_TEST_RULES`` (rule file), ``DAYPART_STORE``, ``DAYPART_SECRET``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from daypart.middleware import AdaptiveMiddleware, decision_of


async def page(request: Request) -> Response:
    decision = decision_of(request)
    return JSONResponse(
        {
            "path": request.url.path,
            "pid": os.getpid(),  # which worker answered
            "offer": request.headers.get("x-offer"),
            "decision": None if decision is None else decision.to_dict(),
        }
    )


async def confirm(request: Request) -> Response:
    return Response("booked", headers={"X-Order-Value": request.query_params.get("v", "100")})


async def zone_page(request: Request) -> Response:
    """A page that loads the time-zone script and says in which zone it was decided."""
    decision = decision_of(request)
    zone = "none" if decision is None else decision.zone.key
    return HTMLResponse(
        "<!doctype html><html><head><script src='/_daypart/tz.js'></script></head>"
        f"<body><p id='zone'>{zone}</p></body></html>"
    )


def build() -> AdaptiveMiddleware:
    site = Starlette(
        routes=[
            Route("/checkout/confirm", confirm, methods=["POST"]),
            Route("/booking/checkout/confirm", confirm, methods=["POST"]),
            Route("/{rest:path}/zone.html", zone_page),
            Route("/{rest:path}", page, methods=["GET", "POST"]),
        ]
    )
    return AdaptiveMiddleware(
        site,
        rules=os.environ["DAYPART_TEST_RULES"],
        store=os.environ.get("DAYPART_STORE", "memory://"),
        flush_interval=0.1,
        evaluate_interval=None,
    )


app = build() if "DAYPART_TEST_RULES" in os.environ else None
