"""The admin endpoint under ``/_daypart``.

Public: ``GET /health``, the conversion beacon ``POST /convert`` and ``/login``.
Everything else needs a credential (``auth.py``): a session from the login page, the
admin token as ``Authorization: Bearer`` (scripts), or the token as HTTP Basic password
(read only). Every state-changing route (the actions, the rules reload, logout) refuses
cross-site requests, HTTP Basic, and session requests without the session's CSRF token.
Without a token or named users the protected part is off.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from daypart.experiments.errors import ExperimentMisuse, InvalidTransition, StateConflict
from daypart.experiments.holdout_report import as_experiment_reports, build_holdout_reports
from daypart.experiments.report import build_report, build_reports, stage_label
from daypart.experiments.report_export import reports_csv
from daypart.experiments.rollout import ACTIONS, Action, Rollouts, apply_action
from daypart.experiments.state import RolloutState
from daypart.experiments.store.base import DAILY_RETENTION_DAYS
from daypart.experiments.store.errors import StoreError
from daypart.experiments.timeline import Timeline, build_timeline
from daypart.middleware.admin.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    Authenticator,
    Principal,
    cross_site_refusal,
    html,
    read_form,
)
from daypart.middleware.admin.beacon import MAX_BODY, convert_endpoint, problem, read_bounded
from daypart.middleware.admin.board import board_page, business_block
from daypart.middleware.admin.charts import (
    channel_selector,
    channel_table,
    segment_grid,
    timeline_charts,
)
from daypart.middleware.admin.holdout_pages import (
    experiment_block,
    holdout_page,
    holdout_section,
)
from daypart.middleware.admin.login import login_routes
from daypart.middleware.admin.metrics import CONTENT_TYPE_LATEST, Metrics
from daypart.middleware.admin.openapi import openapi_document
from daypart.middleware.admin.pages import (
    ACTION_LABELS,
    Viewer,
    channel_details,
    confirm_page,
    detail_page,
    message_page,
)
from daypart.middleware.admin.tz_script import tz_script_endpoint
from daypart.middleware.background import Background
from daypart.middleware.runtime import Runtime
from daypart.rules.channels import DIRECT_CHANNEL, OTHER_CHANNEL
from daypart.rules.matcher import OTHER_DAYPART
from daypart.rules.model import Experiment, Rule, RuleSet

logger = logging.getLogger("daypart")

Handler = Callable[[Request], Awaitable[Response]]
Reader = Callable[[Request, Principal], Awaitable[Response]]
Actor = Callable[[Request, Principal, Mapping[str, str]], Awaitable[Response]]

DONE = {
    "advance": "advanced",
    "rollback": "rolled back",
    "pause": "paused",
    "resume": "resumed",
    "complete": "completed",
}


DEFAULT_DAYS = 60


async def experiment_timeline(runtime: Runtime, experiment: Experiment, days: int) -> Timeline:
    """The last ``days`` site-local days of ``experiment``, from its first day on."""
    rules = runtime.rules
    last_day = rules.site_day(runtime.clock())
    first_day = last_day - days + 1
    raw = await runtime.store.get_state(experiment.name)
    if raw is not None:
        state = RolloutState.from_dict(raw)
        # The experiment's first day, not its current stage's: a series that began again at
        # every stage or pause would hide the history a result is judged by. (States
        # written before ``started`` was kept have only ``since``.)
        started = state.started or state.since
        first_day = max(first_day, min(rules.site_day(started), last_day))
    daily = await runtime.store.daily(experiment.name, first_day, last_day)
    return build_timeline(experiment, daily, first_day, last_day)


COUNTED_DEVICES = ("mobile", "tablet", "desktop")


def segment_axes(ruleset: RuleSet, experiment: str) -> tuple[list[str], list[str]]:
    """The devices and dayparts the experiment's rules can count a visitor in, in the
    rules' order, so the grid shows the cells that could have data even while empty."""
    return rules_axes(ruleset, [rule for rule in ruleset.rules if rule.experiment == experiment])


def rules_axes(ruleset: RuleSet, running: Sequence[Rule]) -> tuple[list[str], list[str]]:
    """The devices and dayparts ``running`` can count a visitor in, in the rules' order."""
    devices = [
        device
        for device in COUNTED_DEVICES
        if any(rule.when.device is None or device in rule.when.device for rule in running)
    ]
    dayparts = [
        name
        for name in ruleset.dayparts
        if any(rule.when.daypart is None or name in rule.when.daypart for rule in running)
    ]
    if any(rule.when.daypart is None for rule in running):
        dayparts.append(OTHER_DAYPART)
    return devices, dayparts


def channel_axis(ruleset: RuleSet) -> list[str]:
    """The channels the rules count a visitor in: the listed ones, other and direct; none
    when the rules declare no channels."""
    if not ruleset.site.channel_from:
        return []
    return [*ruleset.site.channels, OTHER_CHANNEL, DIRECT_CHANNEL]


def allowed_actions(experiment: Experiment, state: RolloutState) -> list[Action]:
    """The actions the rollout allows now, asked of the rollout itself."""
    allowed = []
    for action in ACTIONS:
        try:
            apply_action(experiment, state, action, state.since, experiment.control.name)
        except (InvalidTransition, ExperimentMisuse):
            continue
        allowed.append(action)
    return allowed


def _stage(experiment: Experiment, stage: int) -> str:
    """``stage 2 of 4 (5% of traffic)``, for a sentence."""
    label = stage_label(experiment, RolloutState(stage=stage))
    head, sep, tail = label.partition(": ")
    return f"{head} ({tail})" if sep else label


def describe(experiment: Experiment, state: RolloutState, action: Action) -> tuple[str, bool]:
    """What ``action`` will do, in words, and whether it needs a winner."""
    name = experiment.name
    control = experiment.control.name
    control = "the control arm" + ("" if control == "control" else f" ({control})")
    last = state.stage + 1 >= len(experiment.rollout)
    if action == "pause":
        return (
            f"Pause {name}: no new visitors enter; visitors already in keep their arm and "
            "their conversions still count.",
            False,
        )
    if action == "resume":
        here = _stage(experiment, state.stage)
        if state.status == "paused":
            return (
                f"Resume {name}: new visitors enter again at {here}; the counts so far are kept.",
                False,
            )
        return (
            f"Resume {name}: it runs again at {here}, keeping its counts; new visitors are "
            "split between the arms again.",
            False,
        )
    if action == "advance" and not last:
        following = _stage(experiment, state.stage + 1)
        return (
            f"Advance {name} to {following}: more visitors enter; everyone already in keeps "
            "their arm.",
            False,
        )
    if action == "rollback":
        return (
            f"Roll back {name}: everyone sees {control} and nothing more is "
            "counted. Resume would restart the current stage.",
            False,
        )
    what = (
        f"Advance {name} past its last stage, which completes it"
        if action == "advance"
        else f"Complete {name}"
    )
    return (
        f"{what}: everyone the rule matches sees the winner you choose, and nothing more is "
        "counted.",
        True,
    )


def as_action(verb: str) -> Action | None:
    for action in ACTIONS:
        if action == verb:
            return action
    return None


def build_admin_app(runtime: Runtime, background: Background) -> Starlette:
    prefix = runtime.settings.admin_prefix
    auth = Authenticator(runtime.settings, runtime.secret, runtime.clock)
    metrics = Metrics(runtime)
    rollouts = Rollouts(runtime.store, runtime.clock)
    if auth.token is not None and len(auth.token) < 16:
        logger.warning(
            "daypart: the admin token is shorter than 16 characters; anyone who guesses it "
            "can change your experiments (see docs/operators.md)"
        )

    def viewer(principal: Principal) -> Viewer:
        return Viewer(principal.actor, principal.csrf)

    def refuse(as_page: bool, status: int, message: str, back: str = "") -> Response:
        if as_page:
            return html(message_page(prefix, "Refused", message, back=back), status)
        return problem(status, message)

    def off() -> Response:
        return problem(
            403, "the admin API is off: set DAYPART_ADMIN_TOKEN (or DAYPART_ADMIN_USERS)"
        )

    def unauthorised(request: Request, as_page: bool) -> Response:
        if as_page and "text/html" in request.headers.get("accept", ""):
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"{prefix}/login?next={target}", status_code=303)
        return JSONResponse(
            {"error": f"log in at {prefix}/login, or send Authorization: Bearer <admin token>"},
            status_code=401,
            # Bearer, not Basic: a Basic challenge would pop up the browser's own prompt,
            # whose credentials it then replays everywhere.
            headers={"WWW-Authenticate": 'Bearer realm="daypart"'},
        )

    def reading(handler: Reader, *, as_page: bool = False) -> Handler:
        async def guarded(request: Request) -> Response:
            if not auth.enabled:
                return off()
            principal = auth.authenticate(request)
            if principal is None:
                return unauthorised(request, as_page)
            try:
                response = await handler(request, principal)
            except StoreError as exc:
                response = problem(503, f"store unavailable: {exc}")
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return guarded

    def acting(handler: Actor, *, as_page: bool = False) -> Handler:
        """A state-changing route: same origin only, never HTTP Basic, and a session must
        show its CSRF token (a form field on pages, the X-CSRF-Token header on the API)."""

        async def guarded(request: Request) -> Response:
            if not auth.enabled:
                return off()
            principal = auth.authenticate(request)
            session = principal is not None and principal.kind == "session"
            refused = cross_site_refusal(request, auth.trusted, origin_required=session)
            if refused:
                return refuse(as_page, 403, refused)
            if principal is None:
                return unauthorised(request, as_page)
            if not principal.may_act:
                return refuse(
                    as_page,
                    403,
                    f"HTTP Basic may read but not act: log in at {prefix}/login, or send the "
                    "admin token as Authorization: Bearer",
                )
            actor_problem = auth.actor_problem(request) if principal.kind == "bearer" else None
            if actor_problem:
                return problem(400, actor_problem)
            form: Mapping[str, str] = {}
            if as_page:
                parsed = await read_form(request)
                if isinstance(parsed, str) and principal.kind != "session":
                    return refuse(as_page, 400, parsed)
                form = parsed if isinstance(parsed, dict) else {}  # a session: no CSRF token
                given = form.get(CSRF_FIELD)
            else:
                given = request.headers.get(CSRF_HEADER)
            if not auth.csrf_ok(principal, given):
                return refuse(
                    as_page,
                    403,
                    "the CSRF token of your session is missing or wrong: reload the page and "
                    "try again (scripts: use the bearer token)",
                )
            try:
                response = await handler(request, principal, form)
            except StoreError as exc:
                response = refuse(as_page, 503, f"store unavailable: {exc}")
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return guarded

    def experiment_or_404(request: Request, as_page: bool = False) -> Experiment | Response:
        name = request.path_params["name"]
        experiments = runtime.rules.ruleset.experiments
        experiment = experiments.get(name)
        if experiment is None:
            known = ", ".join(sorted(experiments)) or "none"
            message = f"unknown experiment {name!r}; experiments: {known}"
            if as_page:
                return html(message_page(prefix, "Not found", message), 404)
            return problem(404, message)
        return experiment

    async def current_state(experiment: Experiment) -> RolloutState:
        return await rollouts.state(experiment.name)

    async def perform(
        experiment: Experiment, verb: Action, actor: str, reason: str, winner: str | None
    ) -> RolloutState | tuple[int, str]:
        """Act, as ``actor``; the new state, or (status, message) when the rollout says no."""
        if verb == "complete" or (verb == "advance" and winner is None):
            report = await build_report(
                runtime.store, experiment, runtime.rules.ruleset, runtime.clock()
            )
            winner = winner or report.best_arm
        try:
            state = await rollouts.act(
                experiment,
                verb,
                actor=actor,
                reason=reason[:500],
                winner=winner,
            )
        except ExperimentMisuse as exc:
            return 422, str(exc)
        except (InvalidTransition, StateConflict) as exc:
            return 409, str(exc)
        await background.refresh_states()
        return state

    # -- public ---------------------------------------------------------------------------

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

    # -- read -----------------------------------------------------------------------------

    async def experiments(request: Request, principal: Principal) -> Response:
        reports = await build_reports(runtime.store, runtime.rules.ruleset, runtime.clock())
        return JSONResponse([r.to_dict() for r in reports])

    async def experiment(request: Request, principal: Principal) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        report = await build_report(runtime.store, found, runtime.rules.ruleset, runtime.clock())
        return JSONResponse(report.to_dict())

    async def audit(request: Request, principal: Principal) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        entries = await runtime.store.audit(found.name, 200)
        return JSONResponse([{"id": entry_id, **entry} for entry_id, entry in entries])

    async def daily(request: Request, principal: Principal) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        raw_days = request.query_params.get("days", str(DEFAULT_DAYS))
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= DAILY_RETENTION_DAYS:
            return problem(400, f"days must be a whole number from 1 to {DAILY_RETENTION_DAYS}")
        timeline = await experiment_timeline(runtime, found, int(raw_days))
        return JSONResponse(timeline.to_dict())

    async def rules(request: Request, principal: Principal) -> Response:
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

    async def csv_export(request: Request, principal: Principal) -> Response:
        reports = await build_reports(runtime.store, runtime.rules.ruleset, runtime.clock())
        holdouts = await build_holdout_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock()
        )
        rows = [r.to_dict() for r in reports]
        rows += [row for h in holdouts for row in as_experiment_reports(h.to_dict())]
        return PlainTextResponse(
            reports_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="daypart.csv"'},
        )

    async def openapi(request: Request, principal: Principal) -> Response:
        return JSONResponse(openapi_document(prefix))

    async def metrics_endpoint(request: Request, principal: Principal) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def board(request: Request, principal: Principal) -> Response:
        # The board shows no channel: their analyses (up to 35 times the segments') are
        # left out.
        reports = await build_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock(), channels=False
        )
        holdouts = await build_holdout_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock()
        )
        content = board_page(
            prefix,
            [r.to_dict() for r in reports],
            runtime,
            viewer(principal),
            holdouts=holdout_section(prefix, [h.to_dict() for h in holdouts]),
        )
        return html(content)

    async def holdout_or_404(request: Request, as_page: bool = False) -> dict[str, Any] | Response:
        """The report of the holdout of the rule the path names, or the 404 naming the
        rules that have one."""
        name = request.path_params["rule"]
        holdouts = await build_holdout_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock()
        )
        for holdout in holdouts:
            if holdout.rule == name:
                return holdout.to_dict()
        known = ", ".join(h.rule for h in holdouts) or "none"
        message = f"no holdout prices rule {name!r}; rules with one: {known}"
        if as_page:
            return html(message_page(prefix, "Not found", message), 404)
        return problem(404, message)

    async def holdouts_api(request: Request, principal: Principal) -> Response:
        holdouts = await build_holdout_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock()
        )
        return JSONResponse([h.to_dict() for h in holdouts])

    async def holdout_api(request: Request, principal: Principal) -> Response:
        found = await holdout_or_404(request)
        return found if isinstance(found, Response) else JSONResponse(found)

    async def holdout_detail(request: Request, principal: Principal) -> Response:
        found = await holdout_or_404(request, as_page=True)
        if isinstance(found, Response):
            return found
        ruleset = runtime.rules.ruleset
        devices, dayparts = rules_axes(
            ruleset, [r for r in ruleset.rules if r.name == found["rule"]]
        )
        return html(holdout_page(prefix, found, devices, dayparts, viewer(principal)))

    async def detail(request: Request, principal: Principal) -> Response:
        found = experiment_or_404(request, as_page=True)
        if isinstance(found, Response):
            return found
        report = await build_report(runtime.store, found, runtime.rules.ruleset, runtime.clock())
        entries = await runtime.store.audit(found.name, 50)
        timeline = await experiment_timeline(runtime, found, DEFAULT_DAYS)
        done = DONE.get(request.query_params.get("done", ""))
        devices, dayparts = segment_axes(runtime.rules.ruleset, found.name)
        holdouts = await build_holdout_reports(
            runtime.store, runtime.rules.ruleset, runtime.clock()
        )
        priced = experiment_block(prefix, found.name, [h.to_dict() for h in holdouts])
        data = report.to_dict()
        # The channels the rules count in, then any others the data has (rules changed).
        channels = list(
            dict.fromkeys(
                [*channel_axis(runtime.rules.ruleset), *(c["channel"] for c in data["channels"])]
            )
        )
        selected = request.query_params.get("channel")
        if selected not in channels:
            selected = None
        where = segment_grid(data, devices, dayparts, channel=selected)
        if channels:
            link = f"{prefix}/experiments/{found.name}"
            where = (
                channel_table(data, channels, link)
                + channel_selector(link, channels, selected)
                + where
                + channel_details(data, channels)
            )
        content = detail_page(
            prefix,
            data,
            entries,
            viewer=viewer(principal),
            allowed=allowed_actions(found, report.state),
            notice=f"{found.name} {done}." if done else None,
            now=runtime.clock(),
            extra=business_block(data)
            + priced
            + "<h2>Where it wins and where it loses</h2>"
            + where
            + "<h2>Over time</h2>"
            + timeline_charts(timeline.to_dict()),
        )
        return html(content)

    def page_target(
        request: Request, principal: Principal
    ) -> tuple[Experiment, Action, str] | Response:
        """The experiment and action a page's URL names, and the page to go back to; or
        the 404 page saying which is unknown."""
        found = experiment_or_404(request, as_page=True)
        if isinstance(found, Response):
            return found
        verb = as_action(request.path_params["action"])
        back = f"{prefix}/experiments/{found.name}"
        if verb is None:
            message = f"unknown action; expected one of {', '.join(ACTIONS)}"
            return html(message_page(prefix, "Not found", message, viewer(principal), back), 404)
        return found, verb, back

    async def confirm(request: Request, principal: Principal) -> Response:
        target = page_target(request, principal)
        if isinstance(target, Response):
            return target
        found, verb, back = target
        if principal.csrf is None:
            message = (
                "HTTP Basic and the bearer token may read but not act from the pages: "
                f"log in at {prefix}/login"
            )
            return html(
                message_page(prefix, "Log in to act", message, viewer(principal), back), 403
            )
        state = await current_state(found)
        if verb not in allowed_actions(found, state):
            label = ACTION_LABELS[verb].lower()
            message = (
                f"{found.name} is {state.status.replace('_', ' ')}: {label} is not possible now"
            )
            return html(message_page(prefix, "Not now", message, viewer(principal), back), 409)
        sentence, needs_winner = describe(found, state, verb)
        winner = None
        if needs_winner:
            report = await build_report(
                runtime.store, found, runtime.rules.ruleset, runtime.clock()
            )
            winner = report.best_arm
        arms = [arm.name for arm in found.arms] if needs_winner else []
        content = confirm_page(
            prefix, found.name, verb, sentence, viewer(principal), arms=arms, winner=winner
        )
        return html(content)

    # -- act ------------------------------------------------------------------------------

    async def action(request: Request, principal: Principal, form: Mapping[str, str]) -> Response:
        found = experiment_or_404(request)
        if isinstance(found, Response):
            return found
        verb = as_action(request.path_params["action"])
        if verb is None:
            given = request.path_params["action"]
            return problem(404, f"unknown action {given!r}; expected one of {', '.join(ACTIONS)}")
        body = await read_bounded(request, MAX_BODY)
        if body is None:
            return problem(413, f"body larger than {MAX_BODY} bytes")
        try:
            data: Any = json.loads(body) if body.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return problem(400, f"body is not valid JSON: {exc}")
        if not isinstance(data, dict) or not set(data) <= {"winner", "reason"}:
            return problem(
                400, 'body must be {"winner": "<arm>", "reason": "<text>"}, both optional'
            )
        winner = data.get("winner")
        result = await perform(
            found,
            verb,
            principal.actor,
            str(data.get("reason") or f"{verb} from the admin API"),
            None if winner is None else str(winner),
        )
        if isinstance(result, tuple):
            return problem(*result)
        return JSONResponse(result.to_dict())

    async def page_action(
        request: Request, principal: Principal, form: Mapping[str, str]
    ) -> Response:
        target = page_target(request, principal)
        if isinstance(target, Response):
            return target
        found, verb, back = target
        reason = form.get("reason", "").strip() or f"{verb} from the admin pages"
        result = await perform(found, verb, principal.actor, reason, form.get("winner") or None)
        if isinstance(result, tuple):
            status, message = result
            return html(message_page(prefix, "Not done", message, viewer(principal), back), status)
        return RedirectResponse(f"{back}?done={verb}", status_code=303)

    async def reload(request: Request, principal: Principal, form: Mapping[str, str]) -> Response:
        if runtime.rules_path is None:
            return problem(409, "the rules were given as an object, not a file")
        background.force_reload()
        changed = await background.reload()
        return JSONResponse({"reloaded": changed, "error": runtime.rules_error})

    return Starlette(
        routes=[
            Route(f"{prefix}/health", health),
            Route(f"{prefix}/tz.js", tz_script_endpoint(runtime)),
            Route(f"{prefix}/convert", convert, methods=["POST"]),
            *login_routes(prefix, auth),
            Route(f"{prefix}/", reading(board, as_page=True)),
            Route(f"{prefix}", reading(board, as_page=True)),
            Route(f"{prefix}/experiments/{{name}}", reading(detail, as_page=True)),
            Route(
                f"{prefix}/experiments/{{name}}/{{action}}",
                reading(confirm, as_page=True),
                methods=["GET"],
            ),
            Route(
                f"{prefix}/experiments/{{name}}/{{action}}",
                acting(page_action, as_page=True),
                methods=["POST"],
            ),
            Route(f"{prefix}/holdouts/{{rule}}", reading(holdout_detail, as_page=True)),
            Route(f"{prefix}/export.csv", reading(csv_export, as_page=True)),
            Route(f"{prefix}/metrics", reading(metrics_endpoint)),
            Route(f"{prefix}/api/openapi.json", reading(openapi)),
            Route(f"{prefix}/api/experiments", reading(experiments)),
            Route(f"{prefix}/api/experiments/{{name}}", reading(experiment)),
            Route(f"{prefix}/api/experiments/{{name}}/audit", reading(audit)),
            Route(f"{prefix}/api/experiments/{{name}}/daily", reading(daily)),
            Route(
                f"{prefix}/api/experiments/{{name}}/{{action}}", acting(action), methods=["POST"]
            ),
            Route(f"{prefix}/api/holdouts", reading(holdouts_api)),
            Route(f"{prefix}/api/holdouts/{{rule}}", reading(holdout_api)),
            Route(f"{prefix}/api/rules", reading(rules)),
            Route(f"{prefix}/api/rules/reload", acting(reload), methods=["POST"]),
        ]
    )
