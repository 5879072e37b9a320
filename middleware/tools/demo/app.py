"""The travel demo: one small Starlette site, two faces.

``/`` and ``/destinations/<city>`` are rewritten by the rules to ``/inspiration/...``
(photos, reviews, share with family) or ``/booking/...`` (price, offer, booking form, chat
and call-centre prompt). ``POST /booking/confirm`` answers with ``X-Order-Value``, which
the ``booked`` goal counts; the share button calls the beacon for the ``shared`` goal.
"""

from __future__ import annotations

import html
import os
from string import Template
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from daypart.middleware.asgi import AdaptiveMiddleware

TRIPS = {
    "lisbon": ("Lisbon", "Tiled streets, trams and pastéis de nata", 640, "#f4a261"),
    "kyoto": ("Kyoto", "Temples, tea houses and autumn maples", 1290, "#e76f51"),
    "reykjavik": ("Reykjavík", "Northern lights and hot springs", 980, "#2a9d8f"),
}

PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/_daypart/tz.js" defer></script>
<title>$title · Wanderly</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{background:#264653;color:#fff;padding:1rem 1.5rem}
header small{opacity:.8}
main{max-width:60rem;margin:auto;padding:1.5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}
.card{background:#fff;border-radius:.75rem;box-shadow:0 1px 4px #0002;overflow:hidden}
.photo{height:9rem;display:flex;align-items:end;padding:.75rem;color:#fff;font-size:1.4rem}
.card p{padding:0 .75rem}
.price{font-size:2rem;font-weight:700}
.offer{background:#e9c46a;padding:.75rem 1rem;border-radius:.5rem;font-weight:600}
.chat{position:fixed;right:1rem;bottom:1rem;background:#2a9d8f;color:#fff;padding:.8rem 1rem;
 border-radius:2rem}
button{background:#e76f51;color:#fff;border:0;padding:.7rem 1.2rem;border-radius:.4rem;
 font-size:1rem}
.why{font-size:.85rem;color:#555;border-top:1px solid #ddd;margin-top:2rem;padding-top:.5rem}
main:has(.chat){padding-bottom:6rem} /* room for the chat bar: it must cover nothing */
</style></head>
<body><header><strong>Wanderly</strong> <small>$tagline</small></header>
<main>$body
<p class="why">daypart: device <b>$device</b>, local time <b>$local</b>, dayparts <b>$dayparts</b>,
rule <b>$rule</b>, variant <b>$variant</b>$arm</p></main></body></html>""")


def _experiment_fact(experiment: str | None, arm: str | None) -> str:
    if experiment is None:
        return ""
    if arm is None:  # not (yet) in the experiment: sees what control sees, is not counted
        return f", experiment <b>{experiment}</b>: not enrolled, sees the control variant"
    return f", experiment <b>{experiment}</b> arm <b>{arm}</b>"


def _render(request: Request, title: str, tagline: str, body: str) -> HTMLResponse:
    decision = request.scope.get("state", {}).get("daypart")
    facts = {"device": "?", "local": "?", "dayparts": "-", "rule": "-", "variant": "-", "arm": ""}
    if decision is not None:
        facts = {
            "device": decision.device,
            "local": decision.local_time.strftime("%a %H:%M %Z"),
            "dayparts": ", ".join(sorted(decision.dayparts)) or "none",
            "rule": decision.rule or "none",
            "variant": decision.variant or "none",
            "arm": _experiment_fact(decision.experiment, decision.arm),
        }
    return HTMLResponse(PAGE.substitute(title=title, tagline=tagline, body=body, **facts))


def _trip(request: Request) -> tuple[str, str, str, int, str]:
    slug = request.path_params.get("rest", "").strip("/").removeprefix("destinations/")
    slug = slug or "lisbon"
    if slug not in TRIPS:
        slug = "lisbon"
    name, blurb, price, colour = TRIPS[slug]
    return slug, name, blurb, price, colour


async def inspiration(request: Request) -> Response:
    _, name, blurb, _, colour = _trip(request)
    video = request.headers.get("x-layout") == "video"
    hero = (
        f'<div class="photo" style="background:linear-gradient(135deg,{colour},#264653);'
        f'height:14rem;border-radius:.75rem">▶ Watch: 60 seconds in {html.escape(name)}</div>'
        if video
        else f'<div class="photo" style="background:{colour};height:14rem;border-radius:.75rem">'
        f"Photos of {html.escape(name)}</div>"
    )
    cards = "".join(
        f'<div class="card"><div class="photo" style="background:{c}">{html.escape(n)}</div>'
        f"<p>{html.escape(b)}</p><p>★★★★★ “We want to go back!”</p></div>"
        for n, b, _, c in TRIPS.values()
    )
    body = f"""<h1>Dream of {html.escape(name)}</h1><p>{html.escape(blurb)}.</p>
{hero}
<h2>Travellers love</h2><div class="grid">{cards}</div>
<p><button onclick="share()">Share with family</button> <span id="shared"></span></p>
<script>
function share(){{
  navigator.sendBeacon('/_daypart/convert', JSON.stringify({{goal:'shared'}}));
  document.getElementById('shared').textContent='Sent! Your family will love it.';
}}
</script>"""
    return _render(request, f"Inspiration: {name}", "Ideas for your next escape", body)


async def booking(request: Request) -> Response:
    slug, name, blurb, price, _ = _trip(request)
    offer = request.headers.get("x-offer")
    offer_html = ""
    if offer:
        price = round(price * 0.9)
        offer_html = f'<p class="offer">Autumn offer {html.escape(offer)}: 10% off today</p>'
    body = f"""<h1>Book {html.escape(name)}</h1><p>{html.escape(blurb)}.</p>{offer_html}
<p class="price">€{price} <small>per person, flights and hotel</small></p>
<form method="post" action="/booking/confirm">
<input type="hidden" name="trip" value="{slug}"><input type="hidden" name="price" value="{price}">
<label>Travellers <input name="travellers" type="number" value="2" min="1" max="9"></label>
<button>Book now</button></form>
<p>Compare: {" · ".join(f"{n} €{p}" for n, _, p, _ in TRIPS.values())}</p>
<div class="chat">💬 Questions? Chat with us or call 020 123 4567</div>"""
    return _render(request, f"Book {name}", "Plan and book with confidence", body)


async def confirm(request: Request) -> Response:
    # A urlencoded form read by hand: no multipart dependency for one demo form.
    form = dict(parse_qsl((await request.body())[:2048].decode("latin-1")))
    try:
        price = int(form.get("price", "0"))
        travellers = max(1, min(9, int(form.get("travellers", "1"))))
    except ValueError:
        return HTMLResponse("<p>Invalid booking form.</p>", status_code=400)
    total = price * travellers
    response = _render(
        request, "Booked!", "See you soon", f"<h1>Booked!</h1><p>Total: €{total}.</p>"
    )
    response.headers["X-Order-Value"] = str(total)
    return response


async def home(request: Request) -> Response:
    # Only reached when no rule rewrote the request (e.g. rules without a catch-all).
    return RedirectResponse("/booking/", status_code=303)


def build_site() -> Starlette:
    return Starlette(
        routes=[
            Route("/", home),
            Route("/booking/confirm", confirm, methods=["POST"]),
            Route("/inspiration{rest:path}", inspiration),
            Route("/booking{rest:path}", booking),
        ]
    )


def build_demo(rules: str, store: str, **options: Any) -> AdaptiveMiddleware:
    options.setdefault(
        "secret", os.environ.get("DAYPART_SECRET", "daypart-demo-secret-not-for-production")
    )
    options.setdefault("admin_token", os.environ.get("DAYPART_ADMIN_TOKEN", "demo"))
    options.setdefault("evaluate_interval", 10.0)
    return AdaptiveMiddleware(build_site(), rules=rules, store=store, **options)
