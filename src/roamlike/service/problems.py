"""RFC 9457 problem details: every error the service answers, as ``application/problem+json``.

A handler raises :class:`ProblemError`; the app turns it, Starlette's HTTP errors, roamlike's own
errors and any unexpected exception into a problem document. Bad input is a 4xx with a message;
an unexpected fault is a 500 whose body names no internals (the traceback goes to the log).

References
----------
RFC 9457, Problem Details for HTTP APIs, https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from roamlike.errors import (
    FxError,
    NotInForceError,
    RoamlikeError,
    StoreConflictError,
    StoreError,
    TariffError,
    UnknownCountryError,
    UsageInputError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("roamlike.service")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemError(Exception):
    """An error answered as a problem document.

    Parameters
    ----------
    status : int
        The HTTP status code.
    detail : str
        What was expected, what was found, and how to fix it.
    code : str, optional
        A stable machine-readable code (``type`` becomes ``urn:roamlike:problem:<code>``).
    extra : dict, optional
        Extension members (RFC 9457 §3.2), e.g. ``reason_code`` or ``line``.
    """

    def __init__(self, status: int, detail: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.extra = extra


def encode_problem(status: int, detail: str, code: str | None = None, **extra: Any) -> bytes:
    """The JSON bytes of a problem document (``type``, ``title``, ``status``, ``detail``)."""
    body: dict[str, Any] = {
        "type": f"urn:roamlike:problem:{code}" if code else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return msgspec.json.encode(body)


def problem_response(
    status: int,
    detail: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A ``application/problem+json`` response (see :func:`encode_problem`)."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="roamlike"'}
    return Response(
        encode_problem(status, detail, code, **extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def status_for(exc: RoamlikeError) -> tuple[int, str]:
    """The HTTP status and problem code of a roamlike error raised by a lower layer."""
    if isinstance(exc, UnknownCountryError):
        return 400, "unknown-country"
    if isinstance(exc, NotInForceError):
        return 422, "no-rule-in-force"
    if isinstance(exc, TariffError):
        return 422, "invalid-plans"
    if isinstance(exc, FxError):
        return 422, "no-fx-rate"
    if isinstance(exc, UsageInputError):
        return 400, "invalid-usage"
    if isinstance(exc, StoreConflictError):
        return 409, "conflict"
    if isinstance(exc, StoreError):
        return 503, "store-unavailable"
    return 500, "internal"


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.detail, exc.code, **exc.extra)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no resource at {request.url.path}: see /v1/openapi.json for the API"
    if exc.status_code == 405:
        detail = f"method {request.method} is not allowed on {request.url.path}"
    return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}))


async def on_roamlike_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RoamlikeError)
    status, code = status_for(exc)
    if status == 503:
        _log.error("store error on %s: %s", request.url.path, exc)
        return problem_response(503, f"the state store failed: {exc}", code)
    if status >= 500:
        _log.exception("unexpected roamlike error on %s", request.url.path, exc_info=exc)
        return problem_response(500, "internal error: the service log has the details", code)
    return problem_response(status, str(exc), code)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem_response(500, "internal error: the service log has the details", "internal")
