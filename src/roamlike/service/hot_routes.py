"""The busiest tenant-scoped endpoints answered in a plain ASGI layer, before Starlette's router.

``POST /v1/events`` and ``POST /v1/sessions/{session_id}/update`` (and ``/terminate``) are the
requests a charging front end sends thousands of times a second, each a few hundred bytes. Through
Starlette each one built a ``Request``, its ``Headers``, tried the routes in turn, ran the route's
wrappers and exception middleware and a ``Response`` object: about 0.05 ms of CPU per request on
the event loop before and after the handler's own work (``docs/service-speed.md``, "Round 10").
Here the method and path are compared directly, the two headers read from the scope's list, the
body taken from ``receive`` and the answer sent as the two ASGI messages a ``Response`` sends —
byte for byte the same status, headers and body.

The handlers' work is the same code as the Starlette routes' (:meth:`EventsApi.commit_events`,
:meth:`SessionsApi.step`, :meth:`TenantsApi.tenant_for`); an error they raise is answered by the
app's own problem handlers, and any request not matched exactly (another method, a trailing
slash, a ``root_path``) goes on to Starlette unchanged. The layer sits inside the metrics
middleware, so the requests are counted and timed under their route templates as before.
``ROAMLIKE_HOT_ROUTES=off`` in the server's environment leaves every request to Starlette (an A/B
run, ``benchmarks/bench_service.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roamlike.errors import RoamlikeError
from roamlike.service.events_api import EventsApi
from roamlike.service.http import check_body_size
from roamlike.service.problems import ProblemError
from roamlike.service.sessions_api import SessionsApi
from roamlike.service.tenants import Tenant

#: ``/v1/sessions/{session_id}/update`` or ``/terminate``, as Starlette matches the routes'
#: parameter (``[^/]+``); anything else (a newline at the end, which ``$`` lets through) is
#: left to Starlette.
_STEP_PATH = re.compile(r"/v1/sessions/([^/]+)/(update|terminate)")
_JSON_HEADERS = b"application/json"
#: Whether :func:`~roamlike.service.app.create_app` puts the layer in (module docstring).
ENABLED = os.environ.get("ROAMLIKE_HOT_ROUTES", "on") != "off"

_Handler = Callable[[Request, Exception], Awaitable[Response]]


class RouteTemplate:
    """A route the layer answers: its path template (what the metrics middleware reads of a
    matched route, ``scope["route"].path``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


EVENTS = RouteTemplate("/v1/events")
UPDATE = RouteTemplate("/v1/sessions/{session_id}/update")
TERMINATE = RouteTemplate("/v1/sessions/{session_id}/terminate")
_STEPS = {"update": UPDATE, "terminate": TERMINATE}


def match_commit(path: str) -> tuple[RouteTemplate, str | None] | None:
    """The route of a ``POST`` to ``path`` answered through the events writer — events
    (session id None), a session's update or terminate (its session id) — or None: not one of
    them exactly (also :mod:`roamlike.service.rsgi`)."""
    if path == "/v1/events":
        return EVENTS, None
    step = _STEP_PATH.fullmatch(path) if path.startswith("/v1/sessions/") else None
    if step is None:
        return None
    return _STEPS[step[2]], step[1]


async def commit(
    events: EventsApi, sessions: SessionsApi, tenant: Tenant, body: bytes, session_id: str | None,
    terminate: bool,
) -> bytes:  # fmt: skip
    """The answer of an event commit (``session_id`` None) or a session step, once committed:
    the routes' own code (:meth:`EventsApi.commit_events`, :meth:`SessionsApi.step`)."""
    if session_id is None:
        return await events.commit_events(tenant, body)
    return await sessions.step(tenant, session_id, body, terminate)


class HotRoutes:
    """ASGI middleware answering the events and session steps itself (module docstring).

    Parameters
    ----------
    app : ASGIApp
        The rest of the app (Starlette's exception middleware and router).
    events : EventsApi
    sessions : SessionsApi
    on_problem, on_roamlike_error : callable
        The app's handlers of :class:`ProblemError` and :class:`RoamlikeError` (problem
        documents); other exceptions propagate to the server-error middleware, as from a route.
    """

    def __init__(
        self,
        app: ASGIApp,
        events: EventsApi,
        sessions: SessionsApi,
        on_problem: _Handler,
        on_roamlike_error: _Handler,
    ) -> None:
        self.app = app
        self.events = events
        self.sessions = sessions
        self.on_problem = on_problem
        self.on_roamlike_error = on_roamlike_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        found = match_commit(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        route, session_id = found
        scope["route"] = route
        if session_id is not None:
            scope["path_params"] = {"session_id": session_id}
        await self._answer(scope, receive, send, session_id, route is TERMINATE)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, session_id: str | None, terminate: bool
    ) -> None:
        """Answer one request: an event commit (``session_id`` None) or a session step."""
        try:
            authorization, length = _headers(scope)
            tenant = await self.events.tenants.tenant_for(authorization)
            body = await _body(receive, length)
            answer = await commit(self.events, self.sessions, tenant, body, session_id, terminate)
        except ProblemError as exc:
            await self._problem(self.on_problem, exc, scope, receive, send)
            return
        except RoamlikeError as exc:
            await self._problem(self.on_roamlike_error, exc, scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(answer)).encode()),
                    (b"content-type", _JSON_HEADERS),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    @staticmethod
    async def _problem(
        handler: _Handler, exc: Exception, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)


def _headers(scope: Scope) -> tuple[str, bytes | None]:
    """The ``Authorization`` header's value ("" when none) and ``Content-Length``'s bytes.

    The first of each, as Starlette's ``Headers.get`` reads them (ASGI servers give the names
    lower-cased)."""
    authorization: str | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and length is None:
            length = value
    return authorization or "", length


async def _body(receive: Receive, length: bytes | None) -> bytes:
    """The request body, at most :data:`~roamlike.service.http.MAX_BODY_BYTES` (what
    :func:`~roamlike.service.http.body_bytes` reads through a ``Request``; the same
    :func:`~roamlike.service.http.check_body_size`).

    Raises
    ------
    ProblemError
        413 when the body is larger.
    ClientDisconnect
        The client went away before the body ended.
    """
    check_body_size(length)
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        check_body_size(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
