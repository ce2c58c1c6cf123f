"""An ASGI application served through granian's RSGI interface: requests, bodies and lifespan.

The service answers its busiest requests itself over RSGI (:mod:`roamlike.service.rsgi`) and
hands every other one — the web pages, the GETs, the metrics, the OpenAPI document, plans and
exchange-rate uploads, every error of routing — to the Starlette app through
:class:`AsgiBridge`, which builds the scope granian's own ASGI interface builds and turns the
app's messages into the RSGI protocol's calls:

* the scope: ``type``, ``asgi`` (3.0, spec 2.3), ``http_version``, ``server`` and ``client``
  (host and port as text, as granian's ASGI gives them), ``scheme``, ``method``, ``path`` (the
  percent-decoded path), ``raw_path`` (the path percent-encoded again: RSGI gives no raw path,
  and neither Starlette nor the app reads it), ``query_string``, ``root_path`` (""), the
  headers as lower-case byte pairs, the extension ``http.response.pathsend``, and a copy of the
  lifespan's ``state``;
* ``receive``: the body in one ``http.request`` message when a ``Content-Length`` bounds it,
  chunk by chunk otherwise; then ``http.disconnect`` once the client went away;
* ``send``: ``http.response.start`` and a last ``http.response.body`` answer with
  ``response_bytes``; a body in several messages streams (``response_stream``); ``pathsend``
  hands the file to granian (``response_file``), as granian's ASGI interface does;
* the lifespan: :meth:`AsgiBridge.startup` runs the app's ``lifespan.startup`` on the worker's
  event loop before it serves (granian calls ``__rsgi_init__`` then), and
  :meth:`AsgiBridge.shutdown` its ``lifespan.shutdown`` once it stopped (``__rsgi_del__``).

References
----------
ASGI HTTP and lifespan specifications, https://asgi.readthedocs.io/en/latest/specs/
RSGI specification, https://github.com/emmett-framework/granian/blob/master/docs/spec/RSGI.md
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian.rsgi import Scope
from starlette.types import ASGIApp, Message

#: The ASGI version and HTTP spec version the bridge speaks (granian's ASGI interface's).
ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}


def _address(text: str) -> tuple[str, str]:
    """``host:port`` as (host, port), both text, as granian's ASGI interface gives them."""
    host, _, port = text.rpartition(":")
    return host, port


def asgi_scope(scope: Scope, state: dict[str, Any]) -> dict[str, Any]:
    """The ASGI ``http`` scope of an RSGI request (module docstring)."""
    path = scope.path
    return {
        "type": "http",
        "asgi": ASGI_VERSION,
        "extensions": {"http.response.pathsend": {}},
        "http_version": scope.http_version,
        "server": _address(scope.server),
        "client": _address(scope.client),
        "scheme": scope.scheme,
        "method": scope.method,
        "root_path": "",
        "path": path,
        "raw_path": quote(path).encode("ascii"),
        "query_string": scope.query_string.encode("latin-1"),
        "headers": [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in scope.headers.items()
        ],
        "state": state.copy(),
    }


def rsgi_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """ASGI response headers (byte pairs) as RSGI's text pairs."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


def bounded_length(scope: Scope) -> bool:
    """Whether the request's ``Content-Length`` header bounds its body (one read takes it
    whole; the server refuses a body longer than the header says)."""
    length = scope.headers.get("content-length")
    return length is not None and length.isdigit()


class _Exchange:
    """One request's ``receive`` and ``send`` over an RSGI protocol."""

    __slots__ = ("chunks", "ended", "headers", "proto", "sent", "status", "stream", "whole")

    def __init__(self, proto: HTTPProtocol, whole: bool) -> None:
        self.proto = proto
        self.whole = whole  # the body taken in one read
        self.chunks: AsyncIterator[bytes] | None = None
        self.ended = False  # the last http.request message given
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.stream: Any = None  # the RSGI stream transport of a body in several messages
        self.sent = False  # the response complete

    async def receive(self) -> Message:
        if self.ended:
            await self.proto.client_disconnect()
            return {"type": "http.disconnect"}
        if self.whole:
            self.ended = True
            return {"type": "http.request", "body": await self.proto(), "more_body": False}
        if self.chunks is None:
            self.chunks = self.proto.__aiter__()
        try:
            chunk = await self.chunks.__anext__()
        except StopAsyncIteration:
            self.ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": bytes(chunk), "more_body": True}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = rsgi_headers(message.get("headers", []))
        elif kind == "http.response.body":
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.stream is None:
                if not more:
                    self.proto.response_bytes(self.status, self.headers, body)
                    self.sent = True
                    return
                self.stream = self.proto.response_stream(self.status, self.headers)
            if body:
                await self.stream.send_bytes(body)
            self.sent = not more
        elif kind == "http.response.pathsend":
            self.proto.response_file(self.status, self.headers, message["path"])
            self.sent = True


class AsgiBridge:
    """An ASGI app as an RSGI application's fallback (module docstring).

    Parameters
    ----------
    app : ASGIApp
        The app; its lifespan runs from :meth:`startup` to :meth:`shutdown`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}  # the lifespan's state, copied into every scope
        self._inbox: asyncio.Queue[Message] | None = None
        self._replies: asyncio.Queue[Message] | None = None
        self._task: asyncio.Future[None] | None = None

    async def __call__(self, scope: Scope, proto: HTTPProtocol) -> None:
        """Answer one RSGI HTTP request with the app.

        Raises
        ------
        RuntimeError
            The app ended without a complete response (after raising, its error goes on to
            the server, as from an ASGI server).
        """
        exchange = _Exchange(proto, bounded_length(scope))
        await self.app(asgi_scope(scope, self.state), exchange.receive, exchange.send)
        if not exchange.sent:
            raise RuntimeError(f"the app ended without a complete response to {scope.path}")

    def startup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the app's lifespan startup on ``loop`` (not yet running: granian's
        ``__rsgi_init__``); the lifespan task then waits on the loop for the shutdown.

        Raises
        ------
        RuntimeError
            The app's startup failed (its message).
        """
        loop.run_until_complete(self._start())

    def shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the app's lifespan shutdown on ``loop`` (stopped: granian's ``__rsgi_del__``)."""
        if self._task is not None:
            loop.run_until_complete(self._stop())

    async def _start(self) -> None:
        self._inbox = asyncio.Queue()
        self._replies = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        self._task = asyncio.ensure_future(self.app(scope, self._inbox.get, self._replies.put))
        await self._step("startup")

    async def _stop(self) -> None:
        assert self._task is not None
        await self._step("shutdown")
        await self._task
        self._task = None

    async def _step(self, name: str) -> None:
        assert self._inbox is not None
        assert self._replies is not None
        assert self._task is not None
        await self._inbox.put({"type": f"lifespan.{name}"})
        reply = asyncio.ensure_future(self._replies.get())
        either: set[asyncio.Future[Any]] = {reply, self._task}
        done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if reply not in done:
            reply.cancel()
            self._task.result()  # the app's own error, if it raised one
            raise RuntimeError(f"the app's lifespan ended before its {name} completed")
        message = reply.result()
        if message["type"] != f"lifespan.{name}.complete":
            # the app raises after saying so: its error is the cause
            await asyncio.wait([self._task])
            cause = self._task.exception()
            detail = message.get("message", "")
            raise RuntimeError(f"the app's lifespan {name} failed: {detail}") from cause
