"""The OpenAPI 3.1 description of the admin endpoint: every route, JSON and HTML, with the
schemas of the JSON answers. ``tests/middleware/test_openapi.py`` validates real answers
of every JSON route against these schemas, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

from daypart.experiments.rollout import ACTIONS
from daypart.experiments.state import SEGMENT_OUTCOMES, STATUSES
from daypart.middleware.admin.auth import ACTOR_HEADER, CSRF_HEADER, SESSION_COOKIE

NUMBER_OR_NULL = {"type": ["number", "null"]}
STRING_OR_NULL = {"type": ["string", "null"]}
INTERVAL = {"type": "array", "items": NUMBER_OR_NULL, "minItems": 2, "maxItems": 2}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    properties: dict[str, Any], *, closed: bool = True, optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": not closed,
    }


SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}}),
    "Health": _object(
        {
            "status": {"enum": ["ok", "degraded"]},
            "store": _object({"ok": {"type": "boolean"}, "error": STRING_OR_NULL}),
            "rules": _object({"source": {"type": "string"}, "error": STRING_OR_NULL}),
            "recorder": _object(
                {
                    "written": {"type": "integer", "minimum": 0},
                    "duplicates": {"type": "integer", "minimum": 0},
                    "dropped": {"type": "integer", "minimum": 0},
                    "replays": {"type": "integer", "minimum": 0},
                    "batches": {"type": "integer", "minimum": 0},
                    "failures": {"type": "integer", "minimum": 0},
                    "last_error": STRING_OR_NULL,
                    "pending": {"type": "integer", "minimum": 0},
                }
            ),
        }
    ),
    "Counted": _object({"counted": {"type": "integer", "minimum": 0}}),
    "RolloutState": _object(
        {
            "stage": {"type": "integer", "minimum": 0},
            "status": {"enum": list(STATUSES)},
            "winner": STRING_OR_NULL,
            "since": {"type": "number"},
            "version": {"type": "integer", "minimum": 0},
            "checked": {"type": "integer", "minimum": 0},
            "started": {"type": "number"},
            "weights": {
                "type": "array",
                "items": _object(
                    {
                        "day": {"type": "integer"},
                        "since": {"type": "number"},
                        "weights": {"type": "object", "additionalProperties": {"type": "number"}},
                        "prob_best": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                        "decided": {"type": "number"},
                        "segments": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": {"type": "number"},
                            },
                        },
                        "segments_forgotten": {"type": "boolean"},
                    },
                    optional=("segments", "segments_forgotten"),
                ),
                "description": "a bandit's weight periods, oldest first: from local day "
                "`day` (a date ordinal; `since` its midnight) new visitors split by `weights`, "
                "derived at a gate look (`decided`) from `prob_best`; `segments`: "
                '"device|daypart" -> that segment\'s own weights in the order of `weights`, '
                "where they differ (left out while none does); `segments_forgotten`: the "
                "table was dropped to keep the state small; absent for a fixed split",
            },
            "segments": {
                "type": "array",
                "items": _ref("SegmentDecision"),
                "description": "decide: per_segment: the segments decided so far (left out "
                "while none is)",
            },
        },
        optional=("weights", "segments"),
    ),
    "SegmentDecision": _object(
        {
            "device": {"type": "string"},
            "daypart": {"type": "string"},
            "channel": {
                "type": "string",
                "description": "where the rules declare channels: the channel decided "
                "(left out for a device × daypart decided as a whole, which holds for "
                "every channel of it)",
            },
            "segment": {
                "type": "string",
                "description": "its name: device × daypart (× channel); in reports",
            },
            "decision": {"enum": list(SEGMENT_OUTCOMES)},
            "arm": {"type": "string", "description": "what the segment serves now"},
            "at": {"type": "number"},
            "reason": {"type": "string"},
        },
        closed=False,
        optional=("channel", "segment"),
    ),
    "Arm": _object(
        {
            "name": {"type": "string"},
            "variant": {"type": "string"},
            "weight": {"type": "number"},
            "visitors": {"type": "integer", "minimum": 0},
            "conversions": {"type": "integer", "minimum": 0},
            "rate": NUMBER_OR_NULL,
            "rate_interval": INTERVAL,
            "prob_beat_control": NUMBER_OR_NULL,
            "prob_best": NUMBER_OR_NULL,
            "expected_loss": NUMBER_OR_NULL,
            "uplift_interval": INTERVAL,
            "reason": STRING_OR_NULL,
        },
        closed=False,  # revenue fields when the goal carries values
    ),
    "Segment": _object(
        {
            "device": {"type": "string"},
            "daypart": {"type": "string"},
            "visitors": {"type": "integer", "minimum": 0},
            "arms": {"type": "array", "items": _ref("Arm")},
        }
    ),
    "Channel": _object(
        {
            "channel": {
                "type": "string",
                "description": "a listed channel, other, direct; empty: counted before the "
                "rules declared channels",
            },
            "visitors": {"type": "integer", "minimum": 0},
            "arms": {"type": "array", "items": _ref("Arm")},
        }
    ),
    "ChannelSegment": _object(
        {
            "device": {"type": "string"},
            "daypart": {"type": "string"},
            "channel": {"type": "string"},
            "visitors": {"type": "integer", "minimum": 0},
            "arms": {"type": "array", "items": _ref("Arm")},
        }
    ),
    "Report": _object(
        {
            "experiment": {"type": "string"},
            "goal": {"type": "string"},
            "state": _ref("RolloutState"),
            "stage_label": {"type": "string"},
            "visitors": {"type": "integer", "minimum": 0},
            "best_arm": STRING_OR_NULL,
            "best_prob_beat_control": NUMBER_OR_NULL,
            "light": {"enum": ["green", "amber", "red", "grey"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "srm": _object(
                {
                    "p_value": NUMBER_OR_NULL,
                    "statistic": NUMBER_OR_NULL,
                    "flagged": {"type": "boolean"},
                    "observed": {"type": "array", "items": {"type": "number"}},
                    "expected": {"type": "array", "items": {"type": "number"}},
                    "threshold": {"type": "number"},
                    "reason": STRING_OR_NULL,
                }
            ),
            "gate": _object(
                {
                    "verdict": {"enum": ["advance", "rollback", "hold", "pause"]},
                    "reason": {"type": "string"},
                    "best_arm": STRING_OR_NULL,
                    "numbers": {"type": "object"},
                    "evidence": {
                        "oneOf": [
                            {"type": "null"},
                            _object({"verdict": {"type": "string"}, "reason": {"type": "string"}}),
                        ]
                    },
                }
            ),
            "revenue": {"type": "boolean"},
            "data_quality": {"type": "array", "items": {"type": "string"}},
            "business": {"oneOf": [{"type": "null"}, {"type": "object"}]},
            "next_look": NUMBER_OR_NULL,
            "budget": {
                "oneOf": [
                    {"type": "null"},
                    _object(
                        {
                            "unit": {"enum": ["conversions", "revenue"]},
                            "amount": {"type": "number"},
                            "spent": NUMBER_OR_NULL,
                            "on_budget": {"enum": ["pause", "rollback"]},
                            "exceeded": {"type": "boolean"},
                        }
                    ),
                ],
                "description": "the experiment's budget and its spend so far, in its unit "
                "(expected conversions or revenue given up on arms that may be worse); "
                "null without a budget",
            },
            "allocation": {
                "oneOf": [
                    {"type": "null"},
                    _object(
                        {
                            "allocation": {"enum": ["bandit"]},
                            "min_share": {"type": "number"},
                            "weights": {
                                "type": "object",
                                "additionalProperties": {"type": "number"},
                            },
                            "since": NUMBER_OR_NULL,
                            "prob_best": {
                                "type": "object",
                                "additionalProperties": {"type": "number"},
                            },
                            "segment_weights": {
                                "type": "array",
                                "items": {"type": "object"},
                            },
                            "next_weights": {
                                "oneOf": [
                                    {"type": "null"},
                                    {
                                        "type": "object",
                                        "additionalProperties": {"type": "number"},
                                    },
                                ]
                            },
                            "periods": {"oneOf": [{"type": "null"}, {"type": "object"}]},
                        }
                    ),
                ],
                "description": "a bandit's weights for new visitors (since: when they began, "
                "epoch seconds; null before the first look), the P(best) they came from, "
                "the segments with weights of their own (segment_weights: device, daypart, "
                "segment, weights), those set for the next local day, and the analysis per "
                "weight period (each period's counts and sample-ratio check — per segment "
                "where the weights differed by segment — the stratified rates and uplift); "
                "null for a fixed split",
            },
            "per_segment": {
                "oneOf": [
                    {"type": "null"},
                    _object(
                        {
                            "summary": {"type": "string"},
                            "shipped": {"type": "integer", "minimum": 0},
                            "rolled_back": {"type": "integer", "minimum": 0},
                            "learning": {"type": "integer", "minimum": 0},
                            "decisions": {"type": "array", "items": _ref("SegmentDecision")},
                        }
                    ),
                ],
                "description": "decide: per_segment: how many segments shipped, rolled back "
                "or are still learning, and each decision with its reason; null for pooled "
                "experiments",
            },
            "arms": {"type": "array", "items": _ref("Arm")},
            "segments": {
                "type": "array",
                "items": _ref("Segment"),
                "description": "per device × daypart, pooled over channels",
            },
            "channels": {
                "type": "array",
                "items": _ref("Channel"),
                "description": "per channel, pooled over devices and dayparts; empty "
                "without channels (site.channel_from)",
            },
            "channel_segments": {
                "type": "array",
                "items": _ref("ChannelSegment"),
                "description": "per device × daypart × channel; empty without channels",
            },
        }
    ),
    "Projection": _object(
        {
            "leader": {"type": "string", "description": "the arm compared: adaptive"},
            "monthly_visitors": {"type": "number"},
            "conversions": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 3,
                "maxItems": 3,
                "description": "extra conversions: mean, 95% low, 95% high",
            },
            "revenue": {
                "oneOf": [
                    {"type": "null"},
                    {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
                ],
                "description": "extra revenue: mean, 95% low, 95% high (goals with values)",
            },
        }
    ),
    "HoldoutGoal": _object(
        {
            "goal": {"type": "string"},
            "revenue": {"type": "boolean"},
            "uplift": {**NUMBER_OR_NULL, "description": "adaptive's rate over default's, − 1"},
            "uplift_interval": INTERVAL,
            "prob_beat_default": {"type": "number"},
            "per_1000": {**_ref("Projection"), "description": "per 1,000 visitors adapted"},
            "per_month": {
                "oneOf": [{"type": "null"}, _ref("Projection")],
                "description": "for the visitors the rule adapts in a month",
            },
            "reasons": {"type": "array", "items": {"type": "string"}},
            "arms": {"type": "array", "items": _ref("Arm")},
            "segments": {"type": "array", "items": _ref("Segment")},
        }
    ),
    "Holdout": _object(
        {
            "rule": {"type": "string"},
            "name": {"type": "string", "description": "holdout:<rule>:<share>, in the store"},
            "share": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "default_variant": STRING_OR_NULL,
            "adaptive_variant": {"type": "string"},
            "experiment": STRING_OR_NULL,
            "visitors": {"type": "integer", "minimum": 0},
            "visitors_per_day": {"type": "number", "minimum": 0},
            "srm": {"type": "object"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "goals": {"type": "array", "items": _ref("HoldoutGoal")},
        }
    ),
    "Timeline": _object(
        {
            "experiment": {"type": "string"},
            "goal": {"type": "string"},
            "days": {"type": "array", "items": {"type": "string", "format": "date"}},
            "arms": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "visitors": {"type": "array", "items": {"type": "integer"}},
                        "conversions": {"type": "array", "items": {"type": "integer"}},
                        "cumulative_rate": {"type": "array", "items": NUMBER_OR_NULL},
                        "rate_interval": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    {"type": "null"},
                                    {"type": "array", "items": {"type": "number"}},
                                ]
                            },
                        },
                        "prob_beat_control": {"type": "array", "items": NUMBER_OR_NULL},
                    }
                ),
            },
        }
    ),
    "AuditEntry": _object(
        {
            "id": {"type": "string"},
            "time": {"type": "string", "description": "epoch seconds"},
            "actor": {
                "type": "string",
                "description": "a logged-in name, api, api:<name>, evaluator or daypart",
            },
            "action": {"type": "string"},
            "reason": {"type": "string"},
            "from": {"type": "string", "description": "the state before, as JSON"},
            "to": {"type": "string", "description": "the state after, as JSON"},
            "numbers": {"type": "string", "description": "the numbers it rested on, as JSON"},
        },
        closed=False,
    ),
    "Rules": _object(
        {
            "source": {"type": "string"},
            "error": STRING_OR_NULL,
            "rules": {"type": "array", "items": {"type": "string"}},
            "experiments": {"type": "array", "items": {"type": "string"}},
            "goals": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "Reloaded": _object({"reloaded": {"type": "boolean"}, "error": STRING_OR_NULL}),
    "ActionBody": _object(
        {"winner": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}},
        optional=("winner", "reason"),
    ),
    "LoginForm": _object(
        {
            "name": {"type": "string", "maxLength": 64},
            "password": {"type": "string"},
            "next": {"type": "string"},
        },
        optional=("next",),
    ),
    "ActionForm": _object(
        {
            "csrf": {"type": "string"},
            "reason": {"type": "string", "maxLength": 500},
            "winner": {"type": "string"},
        },
        optional=("reason", "winner"),
    ),
    "LogoutForm": _object({"csrf": {"type": "string"}}),
}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _json_list(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "array", "items": _ref(schema)}}},
    }


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _redirect(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"Location": {"schema": {"type": "string"}}},
    }


def _form(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": _ref(schema)}},
    }


ERROR_RESPONSES = {
    "401": {"$ref": "#/components/responses/Unauthorised"},
    "403": {"$ref": "#/components/responses/Refused"},
    "503": {"$ref": "#/components/responses/StoreUnavailable"},
}
PAGE_ERRORS = {
    "303": _redirect("not logged in (a browser asking for HTML): to the login page"),
    "401": {"$ref": "#/components/responses/Unauthorised"},
    "403": {"$ref": "#/components/responses/Refused"},
}
# Read: a session, the bearer token, or HTTP Basic with the token as password.
READ: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}, {"basic": []}]
# Act: the bearer token, or a session with its CSRF token. Never HTTP Basic.
ACT: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]
ACT_FORM: list[dict[str, list[str]]] = [{"session": []}]  # the CSRF token is a form field


def openapi_document(prefix: str) -> dict[str, Any]:
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    rule = {"name": "rule", "in": "path", "required": True, "schema": {"type": "string"}}
    action = {
        "name": "action",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(ACTIONS)},
    }
    actor = {
        "name": ACTOR_HEADER,
        "in": "header",
        "required": False,
        "description": "with the bearer token: the audit log's actor becomes api:<this name>",
        "schema": {"type": "string", "maxLength": 64},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "daypart admin API",
            "version": "2",
            "description": (
                "State-changing routes refuse cross-site requests (Origin, Sec-Fetch-Site), "
                "HTTP Basic, and session requests without the session's CSRF token."
            ),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the admin token"},
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "the admin token as password; read only",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": f"set by POST {prefix}/login",
                },
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": CSRF_HEADER,
                    "description": "the session's CSRF token (the csrf field of the pages' forms)",
                },
            },
            "schemas": SCHEMAS,
            "responses": {
                "Unauthorised": _json("no valid credential", "Error"),
                "Refused": _json(
                    "the admin API is off, or a cross-site, Basic or CSRF-less request to act",
                    "Error",
                ),
                "StoreUnavailable": _json("the store did not answer", "Error"),
            },
        },
        "paths": {
            f"{prefix}/health": {
                "get": {
                    "summary": "Health of store, rules and recorder (public)",
                    "responses": {"200": _json("health; read status", "Health")},
                }
            },
            f"{prefix}/tz.js": {
                "get": {
                    "summary": "The script that stores the visitor's time zone (public)",
                    "responses": {
                        "200": {
                            "description": "JavaScript; cacheable for a day, with an ETag",
                            "content": {"text/javascript": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "not modified (If-None-Match)"},
                    },
                }
            },
            f"{prefix}/convert": {
                "post": {
                    "summary": "Conversion beacon (public)",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["goal"],
                                    "properties": {
                                        "goal": {"type": "string"},
                                        "value": {"type": "number"},
                                    },
                                    "additionalProperties": False,
                                }
                            }
                        }
                    },
                    "responses": {
                        "202": _json("accepted", "Counted"),
                        "400": _json("bad body", "Error"),
                        "413": _json("body too large", "Error"),
                        "403": _json("a page of an origin beacon_origins does not allow", "Error"),
                        "415": _json("wrong content type", "Error"),
                        "422": _json("unknown or non-beacon goal", "Error"),
                        "429": _json("too many beacons from this visitor or client", "Error"),
                    },
                }
            },
            f"{prefix}/login": {
                "get": {
                    "summary": "The login form (public)",
                    "parameters": [
                        {"name": "next", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _html("the form"), "403": _html("admin pages off")},
                },
                "post": {
                    "summary": "Log in: a name and the admin token, or a named user's password",
                    "requestBody": _form("LoginForm"),
                    "responses": {
                        "303": _redirect("logged in: the session cookie is set"),
                        "400": _html("a bad name or form"),
                        "401": _html("name and password or token do not match"),
                        "403": _html("cross-site, or admin pages off"),
                        "429": _html("too many failed logins from this client"),
                    },
                },
            },
            f"{prefix}/logout": {
                "post": {
                    "summary": "Log out (clears the session cookie)",
                    "security": ACT_FORM,
                    "requestBody": _form("LogoutForm"),
                    "responses": {
                        "303": _redirect("to the login page"),
                        "403": _html("cross-site, or the CSRF token is missing"),
                    },
                }
            },
            f"{prefix}/metrics": {
                "get": {
                    "summary": "Prometheus metrics of this worker and the store's totals",
                    "security": READ,
                    "responses": {
                        "200": {
                            "description": "Prometheus text format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/": {
                "get": {
                    "summary": "The board: one traffic light per experiment",
                    "security": READ,
                    "responses": {"200": _html("the board"), **PAGE_ERRORS},
                }
            },
            f"{prefix}/experiments/{{name}}": {
                "get": {
                    "summary": "An experiment's page: arms, segments, actions, history",
                    "security": READ,
                    "parameters": [
                        name,
                        {
                            "name": "channel",
                            "in": "query",
                            "required": False,
                            "description": "with channels: the grid of this channel only "
                            "(unknown or absent: every channel)",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": _html("the page"),
                        "404": _html("unknown experiment"),
                        **PAGE_ERRORS,
                    },
                }
            },
            f"{prefix}/experiments/{{name}}/{{action}}": {
                "get": {
                    "summary": "The confirmation step of an action, in words",
                    "security": READ,
                    "parameters": [name, action],
                    "responses": {
                        "200": _html("what will happen, and the form"),
                        "404": _html("unknown experiment or action"),
                        "409": _html("not possible in the current state"),
                        **PAGE_ERRORS,
                    },
                },
                "post": {
                    "summary": "Act from the pages (a form with the session's CSRF token)",
                    "security": ACT_FORM,
                    "parameters": [name, action],
                    "requestBody": _form("ActionForm"),
                    "responses": {
                        "303": _redirect("done: back to the experiment's page"),
                        "400": _html("a bad form"),
                        "403": _html("cross-site, HTTP Basic, or no CSRF token"),
                        "404": _html("unknown experiment or action"),
                        "409": _html("not possible now"),
                        "422": _html("completing needs a valid winner"),
                    },
                },
            },
            f"{prefix}/holdouts/{{rule}}": {
                "get": {
                    "summary": "A rule's holdout: what adapting earns against the default",
                    "security": READ,
                    "parameters": [rule],
                    "responses": {
                        "200": _html("the page"),
                        "404": _html("no holdout prices that rule"),
                        **PAGE_ERRORS,
                    },
                }
            },
            f"{prefix}/export.csv": {
                "get": {
                    "summary": "Every arm and segment as CSV, experiments' and holdouts'",
                    "security": READ,
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {}}},
                        **PAGE_ERRORS,
                    },
                }
            },
            f"{prefix}/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": READ,
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/experiments": {
                "get": {
                    "summary": "Reports of every experiment",
                    "security": READ,
                    "responses": {"200": _json_list("reports", "Report"), **ERROR_RESPONSES},
                }
            },
            f"{prefix}/api/experiments/{{name}}": {
                "get": {
                    "summary": "Report of one experiment: arms, segments, SRM, state",
                    "security": READ,
                    "parameters": [name],
                    "responses": {
                        "200": _json("report", "Report"),
                        "404": _json("unknown experiment", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/experiments/{{name}}/daily": {
                "get": {
                    "summary": "The experiment per day: visitors, conversions, cumulative rate "
                    "with its interval and P(beat control), per arm",
                    "security": READ,
                    "parameters": [
                        name,
                        {
                            "name": "days",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 400},
                        },
                    ],
                    "responses": {
                        "200": _json("the series", "Timeline"),
                        "400": _json("bad days", "Error"),
                        "404": _json("unknown experiment", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/experiments/{{name}}/audit": {
                "get": {
                    "summary": "Rollout history (audit log), oldest first",
                    "security": READ,
                    "parameters": [name],
                    "responses": {
                        "200": _json_list("entries", "AuditEntry"),
                        "404": _json("unknown experiment", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/experiments/{{name}}/{{action}}": {
                "post": {
                    "summary": "Change the rollout: " + ", ".join(ACTIONS),
                    "security": ACT,
                    "parameters": [name, action, actor],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("ActionBody")}},
                    },
                    "responses": {
                        "200": _json("the new state", "RolloutState"),
                        "400": _json("bad body or X-Daypart-Actor", "Error"),
                        "404": _json("unknown experiment or action", "Error"),
                        "409": _json("not allowed now, or a concurrent change", "Error"),
                        "413": _json("body too large", "Error"),
                        "422": _json("completing needs a valid winner", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/holdouts": {
                "get": {
                    "summary": "What every adaptive rule earns against the default variant",
                    "security": READ,
                    "responses": {"200": _json_list("holdouts", "Holdout"), **ERROR_RESPONSES},
                }
            },
            f"{prefix}/api/holdouts/{{rule}}": {
                "get": {
                    "summary": "One rule's holdout: per goal, both arms pooled and per segment",
                    "security": READ,
                    "parameters": [rule],
                    "responses": {
                        "200": _json("the holdout", "Holdout"),
                        "404": _json("no holdout prices that rule", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
            f"{prefix}/api/rules": {
                "get": {
                    "summary": "Loaded rules and the last reload error",
                    "security": READ,
                    "responses": {"200": _json("rules", "Rules"), **ERROR_RESPONSES},
                }
            },
            f"{prefix}/api/rules/reload": {
                "post": {
                    "summary": "Reload the rule file now",
                    "security": ACT,
                    "parameters": [actor],
                    "responses": {
                        "200": _json("result", "Reloaded"),
                        "409": _json("the rules were not given as a file", "Error"),
                        **ERROR_RESPONSES,
                    },
                }
            },
        },
    }
