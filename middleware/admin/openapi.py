"""The OpenAPI 3.1 description of the admin JSON API."""

from __future__ import annotations

from typing import Any

from daypart.experiments.rollout import ACTIONS


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def openapi_document(prefix: str) -> dict[str, Any]:
    error = {"type": "object", "properties": {"error": {"type": "string"}}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"basic": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "daypart admin API", "version": "1"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {"Error": error},
        },
        "paths": {
            f"{prefix}/health": {
                "get": {"summary": "Health (public)", "responses": {"200": _json("health")}}
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
                        "202": _json("accepted", {"type": "object"}),
                        "400": _json("bad body", error),
                        "413": _json("body too large", error),
                        "415": _json("wrong content type", error),
                        "422": _json("unknown or non-beacon goal", error),
                    },
                }
            },
            f"{prefix}/api/experiments": {
                "get": {
                    "summary": "Reports of every experiment",
                    "security": secured,
                    "responses": {"200": _json("reports", {"type": "array"})},
                }
            },
            f"{prefix}/api/experiments/{{name}}": {
                "get": {
                    "summary": "Report of one experiment: arms, segments, SRM, state",
                    "security": secured,
                    "parameters": [name],
                    "responses": {"200": _json("report"), "404": _json("unknown", error)},
                }
            },
            f"{prefix}/api/experiments/{{name}}/audit": {
                "get": {
                    "summary": "Rollout history (audit log)",
                    "security": secured,
                    "parameters": [name],
                    "responses": {"200": _json("entries", {"type": "array"})},
                }
            },
            f"{prefix}/api/experiments/{{name}}/{{action}}": {
                "post": {
                    "summary": "Change the rollout: " + ", ".join(ACTIONS),
                    "security": secured,
                    "parameters": [
                        name,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(ACTIONS)},
                        },
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "winner": {"type": "string"},
                                        "reason": {"type": "string"},
                                    },
                                    "additionalProperties": False,
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("new state"),
                        "409": _json("not allowed now", error),
                    },
                }
            },
            f"{prefix}/api/rules": {
                "get": {
                    "summary": "Loaded rules and the last reload error",
                    "security": secured,
                    "responses": {"200": _json("rules")},
                }
            },
            f"{prefix}/api/rules/reload": {
                "post": {
                    "summary": "Reload the rule file now",
                    "security": secured,
                    "responses": {"200": _json("result")},
                }
            },
            f"{prefix}/export.csv": {
                "get": {
                    "summary": "Every arm and segment as CSV",
                    "security": secured,
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}},
                }
            },
        },
    }
