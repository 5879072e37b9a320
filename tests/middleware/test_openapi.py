"""The OpenAPI document covers every admin route, and real answers of every JSON route —
successes and errors — validate against its schemas (jsonschema, Draft 2020-12, which is
what OpenAPI 3.1 schemas are)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route
from starlette.testclient import TestClient

from daypart.middleware import AdaptiveMiddleware
from daypart.middleware.admin.openapi import openapi_document
from tests.middleware.conftest import LAPTOP, TUESDAY_2100, Clock

MakeApp = Callable[..., AdaptiveMiddleware]
TOKEN = "openapi-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASE = "urn:daypart-admin"
# TestClient's responses: httpx's, or httpx2's from Starlette 1.x on (the same shape).
Answer = TypeVar("Answer")


def template_of(document: dict[str, Any], method: str, path: str) -> str:
    """The document's path template that ``path`` matches."""
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(template))
        if method in operations and re.fullmatch(pattern, path):
            return str(template)
    raise AssertionError(f"{method.upper()} {path} is not in the OpenAPI document")


def absolute(schema: Any) -> Any:
    """Point the document's local references at the registered document."""
    if isinstance(schema, dict):
        return {
            k: (f"{BASE}{v}" if k == "$ref" and str(v).startswith("#") else absolute(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [absolute(item) for item in schema]
    return schema


class Checker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry[Any] = Registry().with_resource(
            BASE, Resource.from_contents(copy.deepcopy(document), DRAFT202012)
        )
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, given: Answer) -> Answer:
        response: Any = given
        method = response.request.method.lower()
        template = template_of(self.document, method, response.request.url.path)
        answers = self.document["paths"][template][method]["responses"]
        status = str(response.status_code)
        assert status in answers, f"{method.upper()} {template} answered {status}, undocumented"
        answer = answers[status]
        if "$ref" in answer:
            answer = self.document["components"]["responses"][answer["$ref"].rpartition("/")[2]]
        media = response.headers.get("content-type", "").split(";")[0]
        content = answer.get("content", {})
        assert media in content or (not content and not response.content), (template, media)
        if media == "application/json":
            validator = Draft202012Validator(
                absolute(content[media]["schema"]), registry=self.registry
            )
            errors = [e.message for e in validator.iter_errors(response.json())]
            assert not errors, (method, template, status, errors[:3])
        self.checked.add((method, template, response.status_code))
        return given


def test_every_route_is_documented(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN)
    document = openapi_document("/_daypart")
    admin = app.admin_app
    documented = {(m, p) for p, operations in document["paths"].items() for m in operations}
    routes = set()
    for route in admin.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD" and route.path != "/_daypart":  # the board without its slash
                routes.add((method.lower(), route.path))
    assert routes == documented
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_real_answers_match_the_schemas(make_app: MakeApp) -> None:
    app = make_app(admin_token=TOKEN, clock=Clock(TUESDAY_2100))
    check = Checker(openapi_document("/_daypart"))
    with TestClient(app, follow_redirects=False) as client:
        for i in range(8):
            client.cookies.clear()
            client.get("/", headers={"User-Agent": LAPTOP})
            if i % 2:
                client.post("/checkout/confirm?v=120", headers={"User-Agent": LAPTOP})
                check(client.post("/_daypart/convert", json={"goal": "shared"}))
        client.cookies.clear()
        api = "/_daypart/api/experiments"
        check(client.get("/_daypart/health"))
        check(client.post("/_daypart/convert", json={"goal": "booked"}))  # 422
        check(client.post("/_daypart/convert", content=b"{"))  # 400
        check(client.get(api, headers=BEARER))
        check(client.get(api))  # 401
        check(client.get(f"{api}/evening-offer", headers=BEARER))
        check(client.get(f"{api}/nope", headers=BEARER))  # 404
        check(client.post(f"{api}/evening-offer/pause", headers=BEARER))
        check(client.post(f"{api}/evening-offer/pause", headers=BEARER))  # 409
        check(client.post(f"{api}/evening-offer/resume", headers=BEARER, content=b"[1]"))  # 400
        check(client.post(f"{api}/evening-offer/explode", headers=BEARER))  # 404
        check(client.post(f"{api}/evening-offer/complete", json={"winner": "x"}, headers=BEARER))
        check(
            client.post(
                f"{api}/evening-offer/complete",
                json={"winner": "offer", "reason": "ship it"},
                headers={**BEARER, "X-Daypart-Actor": "release-bot"},
            )
        )
        check(client.post(f"{api}/evening-offer/resume", auth=("ana", TOKEN)))  # 403: Basic
        check(client.post(f"{api}/evening-offer/resume", headers={"X-Daypart-Actor": "?"}))
        check(client.get(f"{api}/evening-offer/audit", headers=BEARER))
        check(client.get(f"{api}/evening-offer/daily", headers=BEARER))
        check(client.get(f"{api}/evening-offer/daily?days=0", headers=BEARER))  # 400
        check(client.get("/_daypart/tz.js"))
        check(client.get("/_daypart/api/rules", headers=BEARER))
        check(client.get("/_daypart/api/holdouts", headers=BEARER))  # none declared: []
        check(client.get("/_daypart/api/holdouts/evening-planners-book", headers=BEARER))  # 404
        check(client.get("/_daypart/holdouts/evening-planners-book"))  # 404
        check(client.post("/_daypart/api/rules/reload", headers=BEARER))
        check(client.get("/_daypart/api/openapi.json", headers=BEARER))
        check(client.get("/_daypart/metrics", headers=BEARER))
        check(client.get("/_daypart/export.csv", headers=BEARER))
        check(client.get("/_daypart/login"))
        check(client.post("/_daypart/login", data={"name": "ana", "password": TOKEN}))
        check(client.get("/_daypart/", headers={"Accept": "text/html"}))
        check(client.get("/_daypart/experiments/evening-offer"))
        check(client.get("/_daypart/experiments/evening-offer/resume"))
        check(client.post("/_daypart/experiments/evening-offer/resume", data={}))  # 403
        check(client.post("/_daypart/logout", headers={"Origin": "http://testserver"}))
        audit = client.get(f"{api}/evening-offer/audit", headers=BEARER).json()
    assert audit[-1]["actor"] == "api:release-bot"

    checked = {(method, template) for method, template, _ in check.checked}
    json_routes = {
        (method, template)
        for template, operations in check.document["paths"].items()
        for method, operation in operations.items()
        if any(
            "application/json" in answer.get("content", {})
            for answer in operation["responses"].values()
        )
    }
    assert json_routes <= checked  # every JSON route answered for real and validated
    statuses = {status for _, _, status in check.checked}
    assert {200, 202, 303, 400, 401, 403, 404, 409, 422} <= statuses
