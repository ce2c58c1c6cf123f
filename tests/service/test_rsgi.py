"""The RSGI application answers every route byte for byte as the ASGI app does: status, headers
and body, for the requests it answers itself (quotes, events, session steps) and for those its
bridge hands to the Starlette app (pages, GETs, uploads, errors of routing, a static file); the
bridge streams, reads bodies in chunks and runs the app's lifespan; over real granian servers,
``ROAMLIKE_INTERFACE=asgi`` and the default answer alike."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app, hot_routes
from roamlike.service.app import build_service
from roamlike.service.rsgi import INTERFACE_ENV, RsgiService, interface
from roamlike.service.rsgi_bridge import AsgiBridge
from roamlike.web.routes import STATIC_DIR
from service.conftest import make_tenant
from service.server import running_server
from service.test_hot_routes import _REQUESTS
from service.test_sessions_api import PLANS

_INLINE = {
    "id": "inline",
    "name": "Inline",
    "home_country": "DE",
    "currency": "EUR",
    "price": "5.00",
    "price_includes_vat": True,
    "billing_period": "month",
    "data_allowance_gb": "1",
    "voice_allowance_min": "10",
    "sms_allowance": "0",
    "out_of_bundle": {"voice_per_min": "0.10", "sms": "0.10", "data_per_mb": "1.00"},
}


def _quote(**extra: Any) -> dict[str, Any]:
    return {
        "plan": _INLINE,
        "event_type": "voice_mo",
        "visited_country": "FR",
        "started_at": "2026-02-01T10:00:00Z",
        "duration_s": 90,
        **extra,
    }


def _stored(**extra: Any) -> dict[str, Any]:
    body = {k: v for k, v in _quote(**extra).items() if k != "plan"}
    return {"plan_id": "de-meter", **body}


# (method, path with query, JSON body or raw bytes, headers beyond the key: None drops the key)
_MORE: list[tuple[str, str, Any, dict[str, str] | None]] = [
    ("POST", "/v1/quote", _quote(), None),  # a miss, then
    ("POST", "/v1/quote", _quote(), None),  # the same body: a hit
    ("POST", "/v1/quote", _quote(duration_s=91), {}),
    ("POST", "/v1/quote", _quote(visited_country="ZZ"), None),  # 422 rejected
    ("POST", "/v1/quote", _quote(started_at="1999-01-01T00:00:00Z"), None),  # 422
    ("POST", "/v1/quote", _quote(plan_id="de-meter"), None),  # 400 both plans
    ("POST", "/v1/quote", b"{", None),
    ("POST", "/v1/quote", _stored(), None),  # 401: a stored plan needs the key
    ("POST", "/v1/quote", _stored(), {}),
    ("POST", "/v1/quote", _stored(plan_id="nope"), {}),  # 404
    ("POST", "/v1/quote", _stored(subscriber_id="alice"), {}),  # with alice's counters
    ("GET", "/v1/quote", None, {}),  # 405, bridged
    ("POST", "/v1/quote/", _quote(), None),  # a redirect, bridged
    ("GET", "/healthz", None, None),
    ("GET", "/v1/rules?home=RS&visited=ME&on=2020-03-01", None, None),
    ("GET", "/v1/rules?home=RS", None, None),  # 400
    ("GET", "/v1/openapi.json", None, None),
    ("GET", "/v1/plans", None, {}),
    ("GET", "/v1/subscribers/alice", None, {}),
    ("GET", "/v1/subscribers/nobody", None, {}),
    ("GET", "/v1/nothing here", None, None),  # 404 naming the decoded path
    ("PUT", "/v1/plans?from=2027-01-01T00:00:00Z", PLANS.encode(), {"content-type": "text/plain"}),
    ("GET", "/", None, None),
    ("GET", "/static/app.js", None, None),  # the file handed to the server (pathsend)
    ("HEAD", "/static/style.css", None, None),
]
REQUESTS = [*_REQUESTS, *_MORE]
STATUSES = [200, 200, 200, 401, 401, 401, 400, 400, 200, 307, 405, 200, 200, 200, 400, 400,
            404, 401, 200, 409, 404, 404,
            200, 200, 200, 422, 422, 400, 400, 401, 200, 404, 200, 405, 307, 200, 200, 400,
            200, 200, 404, 404, 404, 415, 302, 200, 200]  # fmt: skip


class FakeHeaders:
    """What an RSGI scope's ``headers`` offers (lower-case names, text values)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self.pairs if k == key), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class FakeScope:
    """An RSGI request scope, as granian builds it (the path percent-decoded)."""

    proto = "http"
    http_version = "1.1"
    rsgi_version = "1.6"
    server = "127.0.0.1:8080"
    client = "127.0.0.1:50000"
    scheme = "http"
    authority = None

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]]) -> None:
        path, _, query = target.partition("?")
        self.method = method
        self.path = path
        self.query_string = query
        self.headers = FakeHeaders(headers)


class FakeProtocol:
    """An RSGI HTTP protocol: the body from ``chunks``; the answer recorded."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.calls: list[str] = []

    async def __call__(self) -> bytes:
        self.calls.append("read")
        return b"".join(self.chunks)

    async def _iterate(self) -> AsyncIterator[bytes]:
        self.calls.append("iterate")
        for chunk in self.chunks:
            yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def client_disconnect(self) -> None:
        await asyncio.Event().wait()  # never, in these tests

    def _start(self, kind: str, status: int, headers: list[tuple[str, str]]) -> None:
        assert not self.status, "answered twice"
        self.calls.append(kind)
        self.status, self.headers = status, headers

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._start("bytes", status, headers)
        self.body = body

    def response_file(self, status: int, headers: list[tuple[str, str]], file: str) -> None:
        self._start("file", status, headers)
        self.body = Path(file).read_bytes()

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> FakeProtocol:
        self._start("stream", status, headers)
        return self

    async def send_bytes(self, data: bytes) -> None:
        self.body += data


Answer = tuple[int, list[tuple[str, str]], bytes]


def _headers(key: str, extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    return headers if extra is None else {"authorization": f"Bearer {key}", **headers, **extra}


def _content(body: Any) -> bytes | None:
    return body if isinstance(body, bytes) or body is None else json.dumps(body).encode()


def _asgi_answers(state: str, key: str) -> list[Answer]:
    out = []
    app = create_app(ServiceConfig(state=state))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for method, path, body, extra in REQUESTS:
            r = client.request(method, path, content=_content(body), headers=_headers(key, extra))
            out.append((r.status_code, list(r.headers.multi_items()), r.content))
    return out


def _rsgi_call(
    loop: asyncio.AbstractEventLoop, app: RsgiService, method: str, target: str,
    headers: dict[str, str], chunks: list[bytes],
) -> FakeProtocol:  # fmt: skip
    scope = FakeScope(method, target, list(headers.items()))
    proto = FakeProtocol(chunks)
    loop.run_until_complete(app.__rsgi__(scope, proto))  # type: ignore[arg-type]
    return proto


@pytest.fixture
def rsgi_run() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop for an RSGI app's life (granian's worker loop)."""
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


@contextmanager
def _rsgi_app(state: str, loop: asyncio.AbstractEventLoop) -> Iterator[RsgiService]:
    """The RSGI app of a store, between granian's init and del calls on ``loop``."""
    app = RsgiService(build_service(ServiceConfig(state=state)))
    app.__rsgi_init__(loop)
    try:
        yield app
    finally:
        app.__rsgi_del__(loop)


def _rsgi_answers(state: str, key: str, loop: asyncio.AbstractEventLoop) -> list[Answer]:
    out = []
    with _rsgi_app(state, loop) as app:
        for method, path, body, extra in REQUESTS:
            headers = _headers(key, extra)
            content = _content(body)
            headers["host"] = "testserver"  # as the test client sends it (redirects name it)
            if content is not None:  # as a client sends it: a length, lower-case names
                headers["content-length"] = str(len(content))
            proto = _rsgi_call(loop, app, method, path, headers, [content or b""])
            out.append((proto.status, proto.headers, proto.body))
    return out


def test_rsgi_answers_every_route_as_the_asgi_app(
    twin_stores: tuple[str, str, str],
    rsgi_run: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, key = twin_stores
    asgi = _asgi_answers(first, key)
    calls: list[str] = []
    commit = hot_routes.commit

    async def counted(*args: Any) -> bytes:
        calls.append("commit")
        return await commit(*args)

    monkeypatch.setattr("roamlike.service.rsgi.commit", counted)
    rsgi = _rsgi_answers(second, key, rsgi_run)
    assert [status for status, _, _ in rsgi] == STATUSES
    for (method, path, _, _), a, b in zip(REQUESTS, asgi, rsgi, strict=True):
        assert a == b, (method, path)
    # the events and steps past the key and body checks went through the RSGI layer
    assert calls == ["commit"] * 13
    assert rsgi[-2][2] == (STATIC_DIR / "app.js").read_bytes()


def test_rsgi_counts_its_requests_under_route_templates(
    twin_stores: tuple[str, str, str], rsgi_run: asyncio.AbstractEventLoop
) -> None:
    _, second, key = twin_stores
    with _rsgi_app(second, rsgi_run) as app:
        auth = {"authorization": f"Bearer {key}"}
        quote = json.dumps(_quote()).encode()
        for headers in (auth, {}):
            _rsgi_call(rsgi_run, app, "POST", "/v1/quote", headers, [quote])
        _rsgi_call(rsgi_run, app, "POST", "/v1/sessions/x/update", {}, [b"{}"])
        _rsgi_call(rsgi_run, app, "POST", "/v1/events", auth, [b"{"])
        text = _rsgi_call(rsgi_run, app, "GET", "/metrics", {}, [b""]).body.decode()
    assert 'method="POST",route="/v1/quote",status="200"} 2' in text
    assert 'route="/v1/sessions/{session_id}/update",status="401"} 1' in text
    assert 'method="POST",route="/v1/events",status="400"} 1' in text
    assert 'roamlike_http_request_duration_seconds_count{route="/v1/quote"} 2' in text
    assert 'implementation="uvloop"' not in text  # the test's loop: asyncio's own
    assert 'roamlike_event_loop_info{implementation="asyncio"} 1' in text


def test_rsgi_reads_a_body_without_length_in_chunks_and_limits_it(
    twin_stores: tuple[str, str, str],
    rsgi_run: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, second, key = twin_stores
    monkeypatch.setattr("roamlike.service.http.MAX_BODY_BYTES", 100)
    with _rsgi_app(second, rsgi_run) as app:
        quote = json.dumps(_quote()).encode()
        assert len(quote) > 100
        chunked = _rsgi_call(rsgi_run, app, "POST", "/v1/quote", {}, [quote[:60], quote[60:]])
        auth = {"authorization": f"Bearer {key}", "content-length": "101"}
        declared = _rsgi_call(rsgi_run, app, "POST", "/v1/events", auth, [b"{}"])
        small = {"authorization": f"Bearer {key}", "content-length": "2"}
        bounded = _rsgi_call(rsgi_run, app, "POST", "/v1/events", small, [b"{}"])
        yaml = {**auth, "content-type": "application/yaml"}
        bridged = _rsgi_call(rsgi_run, app, "PUT", "/v1/plans", yaml, [b"{}"])
    assert (chunked.status, chunked.calls) == (413, ["iterate", "bytes"])
    assert (declared.status, declared.calls) == (413, ["bytes"])  # refused before reading
    assert (bounded.status, bounded.calls) == (400, ["read", "bytes"])  # one read
    assert bridged.status == 413


async def _stream(request: Request) -> Response:
    body = await request.body()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"got ", body, b"!"):
            yield part

    return StreamingResponse(parts(), headers={"x-n": str(len(body))})


def test_bridge_streams_reads_chunks_and_runs_the_lifespan(
    rsgi_run: asyncio.AbstractEventLoop,
) -> None:
    seen: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        seen.append("startup")
        yield {"started": "yes"}
        seen.append("shutdown")

    async def state(request: Request) -> Response:
        return Response(request.state.started)

    app = Starlette(
        routes=[Route("/stream", _stream, methods=["POST"]), Route("/state", state)],
        lifespan=lifespan,
    )
    bridge = AsgiBridge(app)
    bridge.startup(rsgi_run)
    assert seen == ["startup"]
    proto = FakeProtocol([b"a", b"b", b"c"])
    rsgi_run.run_until_complete(bridge(FakeScope("POST", "/stream", []), proto))  # type: ignore[arg-type]
    said = FakeProtocol([])
    rsgi_run.run_until_complete(bridge(FakeScope("GET", "/state", []), said))  # type: ignore[arg-type]
    bridge.shutdown(rsgi_run)
    assert seen == ["startup", "shutdown"]
    assert (proto.status, proto.body, proto.calls) == (200, b"got abc!", ["iterate", "stream"])
    assert ("x-n", "3") in proto.headers
    assert (said.status, said.body) == (200, b"yes")


def test_bridge_startup_failure_is_raised(rsgi_run: asyncio.AbstractEventLoop) -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise OSError("no store here")
        yield

    with pytest.raises(RuntimeError, match="no store here"):
        AsgiBridge(Starlette(lifespan=lifespan)).startup(rsgi_run)


def test_interface_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTERFACE_ENV, raising=False)
    assert interface() == "rsgi"
    monkeypatch.setenv(INTERFACE_ENV, " ASGI")
    assert interface() == "asgi"
    monkeypatch.setenv(INTERFACE_ENV, "wsgi")
    with pytest.raises(ValueError, match="rsgi or asgi, found 'wsgi'"):
        interface()


def _http_answers(base: str, key: str) -> list[Answer]:
    """The answers over HTTP, but for the ``date``, the server's port in a redirect and
    ``connection: close``, which granian's ASGI interface sends (at times) after a body the
    app did not read, where its RSGI interface reads the rest and keeps the connection."""
    out = []
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as client:
        for method, path, body, extra in REQUESTS:
            r = client.request(method, path, content=_content(body), headers=_headers(key, extra))
            headers = [
                (k, v.replace(base, "BASE"))
                for k, v in r.headers.multi_items()
                if k not in ("date", "connection")
            ]
            out.append((r.status_code, headers, r.content))
    return out


def test_granian_serves_the_same_answers_over_rsgi_and_asgi(
    twin_stores: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, key = twin_stores
    answers = {}
    for state, chosen in ((first, "asgi"), (second, "rsgi")):
        monkeypatch.setenv(INTERFACE_ENV, chosen)
        with running_server(tmp_path, "--state", state) as (base, _):
            answers[chosen] = _http_answers(base, key)
    assert [status for status, _, _ in answers["rsgi"]] == STATUSES
    pairs = zip(REQUESTS, answers["asgi"], answers["rsgi"], strict=True)
    assert [(m, p, a, b) for (m, p, _, _), a, b in pairs if a != b] == []
    assert os.environ[INTERFACE_ENV] == "rsgi"


def test_rsgi_answers_as_the_asgi_app_on_each_store(
    store_url: str, rsgi_run: asyncio.AbstractEventLoop
) -> None:
    """On SQLite and PostgreSQL: one tenant's requests through the ASGI app, another's (the
    same plans, the same requests) through the RSGI app, answer alike."""
    keys = [make_tenant(store_url, name) for name in ("viaasgi", "viarsgi")]
    hot = [r for r in REQUESTS if r[0] == "POST" and r[1].startswith(("/v1/quote", "/v1/events",
           "/v1/sessions"))]  # fmt: skip
    with TestClient(create_app(ServiceConfig(state=store_url)), follow_redirects=False) as client:
        for key in keys:
            put = client.put(
                "/v1/plans?from=2020-01-01T00:00:00Z",
                content=PLANS,
                headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
            )
            assert put.status_code == 201, put.text
        asgi = []
        for method, path, body, extra in hot:
            headers = _headers(keys[0], extra)
            r = client.request(method, path, content=_content(body), headers=headers)
            asgi.append((r.status_code, list(r.headers.multi_items()), r.content))
    rsgi = []
    with _rsgi_app(store_url, rsgi_run) as app:
        for method, path, body, extra in hot:
            headers = {**_headers(keys[1], extra), "host": "testserver"}
            content = _content(body) or b""
            headers["content-length"] = str(len(content))
            proto = _rsgi_call(rsgi_run, app, method, path, headers, [content])
            rsgi.append((proto.status, proto.headers, proto.body))
    assert len(hot) == 33
    assert [
        (m, p, a, b) for (m, p, _, _), a, b in zip(hot, asgi, rsgi, strict=True) if a != b
    ] == []
