"""Small HTTP helpers of the service: msgspec JSON responses, bodies and query parameters.

Every helper answers bad input with a :class:`~roamlike.service.problems.ProblemError` (4xx)
whose message says what was expected and what was found.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from roamlike.service.problems import ProblemError

T = TypeVar("T")

#: Largest request body accepted [bytes].
MAX_BODY_BYTES = 32 * 1024 * 1024

_encoder = msgspec.json.Encoder(decimal_format="string")


def encode_json(content: Any) -> bytes:
    """JSON bytes by msgspec (decimals as strings, dates ISO 8601)."""
    return _encoder.encode(content)


def json_response(content: Any, status: int = 200) -> Response:
    """A JSON response encoded by msgspec (decimals as strings, dates ISO 8601)."""
    return Response(_encoder.encode(content), status_code=status, media_type="application/json")


async def body_bytes(request: Request) -> bytes:
    """The request body, at most :data:`MAX_BODY_BYTES`.

    Raises
    ------
    ProblemError
        413 when the body is larger.
    """
    check_body_size(request.headers.get("content-length"))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        check_body_size(size)
        chunks.append(chunk)
    return b"".join(chunks)


def check_body_size(size: int | str | bytes | None) -> None:
    """Refuse a body of ``size`` bytes (a count, or a ``Content-Length`` header's value; a
    missing or non-numeric header is left to the count of the bytes read) over
    :data:`MAX_BODY_BYTES`.

    Raises
    ------
    ProblemError
        413.
    """
    if isinstance(size, str | bytes):
        size = int(size) if size.isdigit() else None
    if size is not None and size > MAX_BODY_BYTES:
        raise ProblemError(413, f"request body over {MAX_BODY_BYTES} bytes", "body-too-large")


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode and validate a JSON body with a typed msgspec decoder.

    Raises
    ------
    ProblemError
        400 naming the JSON path of the first invalid member (``at `$.records[3].count```).
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ProblemError(400, f"invalid request body: {exc}", "invalid-body") from exc
    except msgspec.DecodeError as exc:
        raise ProblemError(400, f"request body is not valid JSON: {exc}", "invalid-json") from exc


def query_text(request: Request, name: str, *, required: bool = True) -> str | None:
    """A query parameter as text (None when absent and not required).

    Raises
    ------
    ProblemError
        400 when a required parameter is missing or empty.
    """
    value = request.query_params.get(name)
    if value is None:
        if required:
            raise ProblemError(400, f"query parameter {name!r} is required", "missing-parameter")
        return None
    if not value:
        raise ProblemError(400, f"query parameter {name!r} is empty", "missing-parameter")
    return value


def required_text(request: Request, name: str) -> str:
    """A required query parameter (400 problem when missing or empty)."""
    value = query_text(request, name)
    assert value is not None
    return value


def required_date(request: Request, name: str) -> dt.date:
    """A required ``YYYY-MM-DD`` query parameter (400 problem when missing or bad)."""
    return parse_day(required_text(request, name), name)


def query_date(request: Request, name: str, *, required: bool = True) -> dt.date | None:
    """A ``YYYY-MM-DD`` query parameter.

    Raises
    ------
    ProblemError
        400 when it is missing (and required) or not a date.
    """
    text = query_text(request, name, required=required)
    if text is None:
        return None
    return parse_day(text, name)


def parse_day(text: str, name: str) -> dt.date:
    """Parse a ``YYYY-MM-DD`` date or raise a 400 problem naming ``name``."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            400, f"{name}: expected a date written YYYY-MM-DD, found {text!r}", "bad-date"
        ) from None


def utc_text(value: str, name: str) -> str:
    """An ISO 8601 time as normalised UTC text (400 problem when unreadable).

    A time without an offset is taken as UTC.
    """
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError(
            400,
            f"{name}: expected an ISO 8601 time such as 2026-01-01T00:00:00Z, found {value!r}",
            "bad-time",
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")
