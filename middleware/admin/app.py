"""The admin endpoint under ``/_daypart``.

Public: ``GET /health`` and the conversion beacon ``POST /convert``. Everything else needs
the admin token (``DAYPART_ADMIN_TOKEN``), as ``Authorization: Bearer <token>`` or as the
password of HTTP Basic (so a browser shows its own login prompt for the dashboard).
Without a configured token the protected part is off.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from daypart.experiments.errors import ExperimentMisuse, InvalidTransition, StateConflict
from daypart.experiments.report import build_report, build_reports
from daypart.experiments.report_export import reports_csv
from daypart.experiments.rollout import ACTIONS, Rollouts
from daypart.experiments.store.errors import StoreError
from daypart.middleware.admin.beacon import MAX_BODY, convert_endpoint, problem, read_bounded
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.admin.pages import board_page, detail_page
from daypart.middleware.admin.tz_script import tz_script_endpoint
from daypart.middleware.background import Background
from daypart.middleware.runtime import Runtime

Handler = Callable[[Request], Awaitable[Response]]


def build_admin_app(runtime: Runtime, background: Background) -> Starlette:
    prefix = runtime.settings.admin_prefix
    token = runtime.settings.admin_token
    rollouts = Rollouts(runtime.store, runtime.clock)

    def authorised(request: Request) -> bool:
        if not token:
            return False
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            given = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(credentials, validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return False
        else:
            return False
        return token is not None and hmac.compare_digest(given.encode(), token.encode())

    def protected(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not token:
                return problem(403, "the admin API is off: set DAYPART_ADMIN_TOKEN")
            if not authorised(request):
                return JSONResponse(
                    {"error": "admin token required"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="daypart", charset="UTF-8"'},
                )
            try:
                return await handler(request)
            except StoreError as exc:
                return problem(503, f"store unavailable: {exc}")

        return guarded

    def experiment_or_404(request: Request) -> Any:
        name = request.path_params["name"]
        experiments = runtime.rules.ruleset.experiments
        experiment = experiments.get(name)
        if experiment is None:
            known = ", ".join(sorted(experiments)) or "none"
            return problem(404, f"unknown experiment {name!r}; experiments: {known}")
        return experiment

    async def health(request: Request) -> Response:
        store_ok, store_error = True, None
        try:
            await runtime.store.ping()
        except StoreError as exc:
            store_ok, store_error = False, str(exc)
        recorder = runtime.recorder
        body = {
            "status": "ok" if store_ok and runtime.rules_error is None else "degraded",
            "store": {"ok": store_ok, "error": store_error},
            "rules": {
                "source": runtime.rules.ruleset.source,
                "error": runtime.rules_error,
            },
            "recorder": {**recorder.stats.to_dict(), "pending": recorder.pending},
        }
        # 200 even when degraded: the site serves either way; monitors read "status".
        return JSONResponse(body)

    async def convert(request: Request) -> Response:
        return await convert_endpoint(request, runtime)

    async def experiments(request: Request) -> Response:
        reports = await build_reports(runtime.store, runtime.rules.ruleset, runtime.clock())
        return JSONResponse([r.to_dict() for r in reports])

    async def experiment(request: Request) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        report = await build_report(runtime.store, found, runtime.rules.ruleset, runtime.clock())
        return JSONResponse(report.to_dict())

    async def audit(request: Request) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        entries = await runtime.store.audit(found.name, 200)
        return JSONResponse([{"id": entry_id, **entry} for entry_id, entry in entries])

    async def action(request: Request) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        verb = request.path_params["action"]
        if verb not in ACTIONS:
            return problem(404, f"unknown action {verb!r}; expected one of {', '.join(ACTIONS)}")
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return problem(413, f"body larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return problem(400, f"body is not valid JSON: {exc}")
        if not isinstance(data, dict) or not set(data) <= {"winner", "reason"}:
            return problem(
                400, 'body must be {"winner": "<arm>", "reason": "<text>"}, both optional'
            )
        winner = data.get("winner")
        if verb == "complete" or (verb == "advance" and winner is None):
            report = await build_report(
                runtime.store, found, runtime.rules.ruleset, runtime.clock()
            )
            winner = winner or report.best_arm
        try:
            state = await rollouts.act(
                found,
                verb,
                actor="admin",
                reason=str(data.get("reason") or f"{verb} from the admin endpoint")[:500],
                winner=None if winner is None else str(winner),
            )
        except ExperimentMisuse as exc:
            return problem(422, str(exc))
        except (InvalidTransition, StateConflict) as exc:
            return problem(409, str(exc))
        await background.refresh_states()
        return JSONResponse(state.to_dict())

    async def rules(request: Request) -> Response:
        ruleset = runtime.rules.ruleset
        return JSONResponse(
            {
                "source": ruleset.source,
                "error": runtime.rules_error,
                "rules": [rule.name for rule in ruleset.rules],
                "experiments": sorted(ruleset.experiments),
                "goals": sorted(ruleset.goals),
            }
        )

    async def reload(request: Request) -> Response:
        if runtime.rules_path is None:
            return problem(409, "the rules were given as an object, not a file")
        background.force_reload()
        changed = await background.reload()
        return JSONResponse({"reloaded": changed, "error": runtime.rules_error})

    async def csv_export(request: Request) -> Response:
        reports = await build_reports(runtime.store, runtime.rules.ruleset, runtime.clock())
        return PlainTextResponse(
            reports_csv([r.to_dict() for r in reports]),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="daypart.csv"'},
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(prefix))

    async def board(request: Request) -> Response:
        reports = await build_reports(runtime.store, runtime.rules.ruleset, runtime.clock())
        return HTMLResponse(board_page(prefix, [r.to_dict() for r in reports], runtime))

    async def detail(request: Request) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        report = await build_report(runtime.store, found, runtime.rules.ruleset, runtime.clock())
        entries = await runtime.store.audit(found.name, 50)
        return HTMLResponse(detail_page(prefix, report.to_dict(), entries))

    return Starlette(
        routes=[
            Route(f"{prefix}/health", health),
            Route(f"{prefix}/tz.js", tz_script_endpoint(runtime)),
            Route(f"{prefix}/convert", convert, methods=["POST"]),
            Route(f"{prefix}/", protected(board)),
            Route(f"{prefix}", protected(board)),
            Route(f"{prefix}/experiments/{{name}}", protected(detail)),
            Route(f"{prefix}/export.csv", protected(csv_export)),
            Route(f"{prefix}/api/openapi.json", protected(openapi)),
            Route(f"{prefix}/api/experiments", protected(experiments)),
            Route(f"{prefix}/api/experiments/{{name}}", protected(experiment)),
            Route(f"{prefix}/api/experiments/{{name}}/audit", protected(audit)),
            Route(
                f"{prefix}/api/experiments/{{name}}/{{action}}", protected(action), methods=["POST"]
            ),
            Route(f"{prefix}/api/rules", protected(rules)),
            Route(f"{prefix}/api/rules/reload", protected(reload), methods=["POST"]),
        ]
    )
