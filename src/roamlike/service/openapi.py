"""The OpenAPI 3.1 document of the service, served at ``/v1/openapi.json``.

Built here from the request types (msgspec JSON Schema) and kept in ``docs/api/openapi.json``
(a test checks the two are equal; ``python -m roamlike.service.openapi > docs/api/openapi.json``
rewrites it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

from roamlike.service import schemas

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_TEXT = {"type": "string"}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_OBJECT = {"type": "object"}
_ARRAY = {"type": "array", "items": {"type": "object"}}


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {
            "description": "problem details (RFC 9457)",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
        for s in statuses
    }


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _query(name: str, schema: dict[str, Any], required: bool, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def _body(ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_PLANS_BODY = {
    "required": True,
    "description": "the bytes of a plans file (a mapping with one key, 'plans')",
    "content": {
        "application/yaml": {"schema": _TEXT},
        "application/json": {"schema": _OBJECT},
    },
}
_SESSION_ID = {
    "name": "session_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
_COUNTRY = {"type": "string", "minLength": 1, "maxLength": 8}
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-able dict)."""
    _, components = msgspec.json.schema_components(
        schemas.REQUEST_TYPES, ref_template="#/components/schemas/{name}"
    )
    components["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": _TEXT,
            "title": _TEXT,
            "status": {"type": "integer"},
            "detail": _TEXT,
        },
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "responses": _ok(_OBJECT),
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text format 0.0.4)",
                "operationId": "metrics",
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {"schema": _TEXT}}}
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": _ok(_OBJECT),
            }
        },
        "/v1/rules": {
            "get": {
                "summary": "Rules between two countries on a day (= roamlike rules --json)",
                "operationId": "rules",
                "parameters": [
                    _query("home", _COUNTRY, True, "home country, ISO 3166 alpha-2 (XK Kosovo)"),
                    _query("visited", _COUNTRY, True, "visited country, ISO 3166 alpha-2"),
                    _query("on", _DATE, True, "the governing day, YYYY-MM-DD"),
                ],
                "responses": {**_ok(_OBJECT), **_problems(400, 422)},
            }
        },
        "/v1/timeline": {
            "get": {
                "summary": "Every change of regime or cap (= roamlike timeline --json)",
                "operationId": "timeline",
                "parameters": [
                    _query("home", _COUNTRY, True, "home country"),
                    _query("visited", _COUNTRY, True, "visited country"),
                    _query("from", _DATE, False, "first day (default: start of coverage)"),
                    _query("to", _DATE, False, "last day (default: end of coverage)"),
                ],
                "responses": {**_ok(_ARRAY), **_problems(400, 422)},
            }
        },
        "/v1/countries": {
            "get": {
                "summary": "Countries with currency, MCCs, VAT and zones (= roamlike countries)",
                "operationId": "countries",
                "parameters": [_query("on", _DATE, False, "the day (default: today)")],
                "responses": {**_ok(_ARRAY), **_problems(400, 422)},
            }
        },
        "/v1/sources": {
            "get": {
                "summary": "The source registry of the catalog (= roamlike sources --json)",
                "operationId": "sources",
                "responses": _ok(_ARRAY),
            }
        },
        "/v1/instruments": {
            "get": {
                "summary": "Legal instruments the catalog cites (= roamlike instruments --json)",
                "operationId": "instruments",
                "responses": _ok(_ARRAY),
            }
        },
        "/v1/quote": {
            "post": {
                "summary": "The price of one hypothetical event, rated by the engine (read-only)",
                "security": [{}, {"bearer": []}],
                "operationId": "quote",
                "description": "An inline plan needs no key; a stored plan (plan_id) needs one.",
                "requestBody": _body("QuoteRequest"),
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 404, 413, 422)},
            }
        },
        "/v1/audit": {
            "post": {
                "summary": "Audit findings for a plans file (= roamlike audit --json)",
                "operationId": "audit",
                "parameters": [_query("on", _DATE, True, "the audit day, YYYY-MM-DD")],
                "requestBody": _PLANS_BODY,
                "responses": {**_ok(_ARRAY), **_problems(400, 413, 415, 422)},
            }
        },
        "/v1/events": {
            "post": {
                "summary": "Rate and durably commit usage records (idempotent by record_id)",
                "operationId": "events",
                "security": _SECURED,
                "requestBody": _body("EventsRequest"),
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 413, 503)},
            }
        },
        "/v1/subscribers/{subscriber_id}": {
            "get": {
                "summary": "A subscriber's counters (the tenant's own; 404 for anyone else's)",
                "operationId": "subscriber",
                "security": _SECURED,
                "parameters": [
                    {
                        "name": "subscriber_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "responses": {**_ok(_OBJECT), **_problems(401, 404, 503)},
            }
        },
        "/v1/sessions": {
            "post": {
                "summary": "Open a credit-control session: reserve units up to the next threshold",
                "operationId": "openSession",
                "security": _SECURED,
                "requestBody": _body("SessionOpen"),
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 404, 409, 413, 422, 503)},
            }
        },
        "/v1/sessions/{session_id}/update": {
            "post": {
                "summary": "Report used units (rated like an event) and reserve more",
                "operationId": "updateSession",
                "security": _SECURED,
                "parameters": [_SESSION_ID],
                "requestBody": _body("SessionUpdate"),
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 404, 409, 413, 422, 503)},
            }
        },
        "/v1/sessions/{session_id}/terminate": {
            "post": {
                "summary": "Report the final used units (rated like an event) and close",
                "operationId": "terminateSession",
                "security": _SECURED,
                "parameters": [_SESSION_ID],
                "requestBody": _body("SessionUpdate"),
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 404, 409, 413, 422, 503)},
            }
        },
        "/v1/fx": {
            "put": {
                "summary": "The tenant's exchange rates (CSV date,currency,units_per_eur)",
                "operationId": "putFx",
                "security": _SECURED,
                "requestBody": {
                    "required": True,
                    "content": {"text/csv": {"schema": _TEXT}},
                },
                "responses": {**_ok(_OBJECT), **_problems(400, 401, 413, 415, 422, 503)},
            }
        },
        "/v1/plans": {
            "put": {
                "summary": "Upload a new version of the tenant's plans (strict validation)",
                "operationId": "putPlans",
                "security": _SECURED,
                "parameters": [
                    _query(
                        "from",
                        {"type": "string", "format": "date-time"},
                        False,
                        "UTC time from which the version rates events (default: now)",
                    )
                ],
                "requestBody": _PLANS_BODY,
                "responses": {
                    "201": {
                        "description": "stored",
                        "content": {"application/json": {"schema": _OBJECT}},
                    },
                    **_problems(400, 401, 409, 413, 415, 422, 503),
                },
            },
            "get": {
                "summary": "The tenant's plan versions",
                "operationId": "getPlans",
                "security": _SECURED,
                "responses": {**_ok(_ARRAY), **_problems(401, 503)},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "roamlike",
            "version": "1",
            "description": "Roaming regulation as cited, dated rules: law lookups, quotes, "
            "rating of usage events and credit control with durable counters. Every error is "
            "an RFC 9457 problem document.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
