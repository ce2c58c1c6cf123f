"""The service over granian's RSGI interface: ``granian --interface rsgi --factory
roamlike.service.rsgi:app`` (what ``roamlike serve`` runs unless ``ROAMLIKE_INTERFACE=asgi``).

Granian's ASGI interface builds a scope dictionary, its header list and two awaitables per
request, and the app answers with two messages; a memoised quote, a dictionary look-up, cost
about twice the CPU of the same answer over RSGI, where the request is an object read
attribute by attribute, its body one ``await protocol()`` and the answer one
``protocol.response_bytes`` call (``docs/service-speed.md``, "Round 11"). So :class:`RsgiService`
answers the busiest requests itself — ``POST /v1/quote`` (memo hit and miss),
``POST /v1/events``, ``POST /v1/sessions/{id}/update`` and ``/terminate``, the key check
included — with the same handlers' code as the Starlette routes (:meth:`QuoteApi.answer`,
:func:`roamlike.service.hot_routes.commit`), the same problem handlers for their errors and the
same metrics under the same route templates; every other request (web pages, GETs, metrics,
the OpenAPI document, uploads, anything not matched exactly) goes to the Starlette app through
:class:`~roamlike.service.rsgi_bridge.AsgiBridge`, whose lifespan (the store opened, the writer
started, the engine warmed, ``gc.freeze``) runs before the worker serves. Status, headers and
bodies are the ASGI app's, byte for byte (``tests/service/test_rsgi.py``). HTTP only:
``roamlike serve`` starts granian with websockets off (no route takes one).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable

from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian.rsgi import Scope
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from roamlike.errors import RoamlikeError
from roamlike.service import group_trace
from roamlike.service.app import Service, build_service
from roamlike.service.config import ServiceConfig
from roamlike.service.hot_routes import TERMINATE, RouteTemplate, commit, match_commit
from roamlike.service.http import check_body_size
from roamlike.service.problems import (
    PROBLEM_MEDIA_TYPE,
    ProblemError,
    on_problem,
    on_roamlike_error,
    on_unexpected,
)
from roamlike.service.rsgi_bridge import AsgiBridge, asgi_scope, bounded_length, rsgi_headers

#: Environment variable choosing the server's interface: ``rsgi`` (default) or ``asgi`` (every
#: request through granian's ASGI interface and the Starlette app, for A/B runs).
INTERFACE_ENV = "ROAMLIKE_INTERFACE"
QUOTE = RouteTemplate("/v1/quote")
_JSON = "application/json"


def interface() -> str:
    """``"rsgi"`` or ``"asgi"``, from :data:`INTERFACE_ENV`.

    Raises
    ------
    ValueError
        Any other value.
    """
    chosen = os.environ.get(INTERFACE_ENV, "rsgi").strip().lower()
    if chosen not in ("rsgi", "asgi"):
        raise ValueError(f"{INTERFACE_ENV} is rsgi or asgi, found {chosen!r}")
    return chosen


class RsgiService:
    """An RSGI application: the hot routes answered directly, the rest by the ASGI app.

    Parameters
    ----------
    service : Service
        The worker's ASGI app and handlers (:func:`~roamlike.service.app.build_service`).
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self.bridge = AsgiBridge(service.app)
        self.tenants = service.events.tenants

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian, before serving: the app's lifespan startup."""
        self.bridge.startup(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian, after serving: the app's lifespan shutdown."""
        self.bridge.shutdown(loop)

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        """Answer one request (module docstring)."""
        if scope.method == "POST":
            path = scope.path
            if path == "/v1/quote":
                await self._answer(scope, proto, QUOTE, None)
                return
            found = match_commit(path)
            if found is not None:
                await self._answer(scope, proto, *found)
                return
        await self.bridge(scope, proto)

    async def _answer(
        self, scope: Scope, proto: HTTPProtocol, route: RouteTemplate, session_id: str | None
    ) -> None:
        """Answer a quote, an event commit or a session step; count it under ``route``."""
        start = time.perf_counter()
        status = 500
        try:
            status, media, body = await self._work(scope, proto, route, session_id)
            proto.response_bytes(
                status, [("content-length", str(len(body))), ("content-type", media)], body
            )
        except (ClientDisconnect, ProtocolClosed):
            return  # the client went away: nothing to answer
        except ProblemError as exc:
            status = await self._problem(on_problem(self._request(scope), exc), proto)
        except RoamlikeError as exc:
            status = await self._problem(on_roamlike_error(self._request(scope), exc), proto)
        except Exception as exc:  # what Starlette's server-error middleware answers
            status = await self._problem(on_unexpected(self._request(scope), exc), proto)
        finally:
            self.service.metrics.observe("POST", route.path, status, time.perf_counter() - start)
            if group_trace.TRACE is not None:
                group_trace.TRACE.add(
                    {"kind": "request", "route": route.path, "t0": start, "t1": group_trace.now()}
                )

    async def _work(
        self, scope: Scope, proto: HTTPProtocol, route: RouteTemplate, session_id: str | None
    ) -> tuple[int, str, bytes]:
        headers = scope.headers
        if route is QUOTE:
            body = await _body(scope, proto)
            status, answer = await self.service.quotes.answer(
                body, headers.get("authorization") or ""
            )
            return status, _JSON if status == 200 else PROBLEM_MEDIA_TYPE, answer
        # the key first, then the body (as the routes: a request without a key reads no body)
        tenant = await self.tenants.tenant_for(headers.get("authorization") or "")
        body = await _body(scope, proto)
        service = self.service
        answer = await commit(
            service.events, service.sessions, tenant, body, session_id, route is TERMINATE
        )
        return 200, _JSON, answer

    def _request(self, scope: Scope) -> Request:
        """A Starlette request for the app's problem handlers (they read its path)."""
        return Request(asgi_scope(scope, self.bridge.state))

    @staticmethod
    async def _problem(handler: Awaitable[Response], proto: HTTPProtocol) -> int:
        response = await handler
        proto.response_bytes(
            response.status_code, rsgi_headers(response.raw_headers), bytes(response.body)
        )
        return response.status_code


async def _body(scope: Scope, proto: HTTPProtocol) -> bytes:
    """The request body, at most :data:`~roamlike.service.http.MAX_BODY_BYTES` (the same
    :func:`~roamlike.service.http.check_body_size` as the routes').

    Raises
    ------
    ProblemError
        413 when the body is larger.
    """
    check_body_size(scope.headers.get("content-length"))
    if bounded_length(scope):
        return bytes(await proto())
    chunks: list[bytes] = []
    size = 0
    async for chunk in proto:
        size += len(chunk)
        check_body_size(size)
        chunks.append(bytes(chunk))
    return b"".join(chunks)


def app() -> RsgiService:
    """Build the RSGI application of one worker from the environment."""
    return RsgiService(build_service(ServiceConfig.from_env()))
