"""The events and session steps answered before Starlette's router answer byte for byte as
the router's routes do: status, headers and body, for answers, repeats and every error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app, hot_routes
from roamlike.service.http import MAX_BODY_BYTES

MB = 1_000_000


def _record(record_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "subscriber_id": "alice",
        "plan_id": "de-meter",
        "event_type": "data",
        "home_country": "DE",
        "visited_country": "FR",
        "started_at": "2026-02-01T10:00:00Z",
        "volume_bytes": 3 * MB,
        **extra,
    }


def _open(session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "subscriber_id": "bob",
        "plan_id": "de-meter",
        "event_type": "data",
        "visited_country": "FR",
        "started_at": "2026-02-01T10:00:00Z",
        "requested_units": 2 * MB,
        "validity_s": 3600,
    }


def _update(n: int, used: int = MB, requested: int = 2 * MB) -> dict[str, Any]:
    return {"request_number": n, "used_units": used, "requested_units": requested}


# (method, path, JSON body or raw bytes, headers beyond the key: None drops the key)
_REQUESTS: list[tuple[str, str, Any, dict[str, str] | None]] = [
    ("POST", "/v1/events", {"records": [_record("e1")]}, {}),
    ("POST", "/v1/events", {"records": [_record("e1")]}, {}),  # a retry: the first answer
    ("POST", "/v1/events", {"records": [_record("e2"), _record("e3", plan_id="nope")]}, {}),
    ("POST", "/v1/events", {"records": [_record("e4")]}, None),  # no key
    ("POST", "/v1/events", {"records": []}, {"authorization": "Bearer rlk_00000000_" + "A" * 43}),
    ("POST", "/v1/events", {"records": []}, {"authorization": "Basic abc"}),
    ("POST", "/v1/events", b"{not json", {}),
    ("POST", "/v1/events", {"records": [{"record_id": 5}]}, {}),
    ("POST", "/v1/events", {"records": [_record("e5", started_at="yesterday")]}, {}),
    ("POST", "/v1/events/", {"records": [_record("e6")]}, {}),  # left to Starlette
    ("GET", "/v1/events", None, {}),  # 405, left to Starlette
    ("POST", "/v1/sessions", _open("s1"), {}),
    ("POST", "/v1/sessions/s1/update", _update(1), {}),
    ("POST", "/v1/sessions/s1/update", _update(1), {}),  # a repeat: the stored answer
    ("POST", "/v1/sessions/s1/update", _update(2, used=-1), {}),
    ("POST", "/v1/sessions/s1/update", b"[]", {}),
    ("POST", "/v1/sessions/nobody/update", _update(1), {}),
    ("POST", "/v1/sessions/s1/update", _update(2), None),
    ("POST", "/v1/sessions/s1/terminate", _update(3, used=MB // 2), {}),
    ("POST", "/v1/sessions/s1/update", _update(4), {}),  # terminated: 409
    ("POST", "/v1/sessions/s1/cancel", _update(5), {}),  # no such route
    ("POST", "/v1/sessions//update", _update(5), {}),  # no session id
]


@pytest.fixture
def worked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the hot layer answered (its handlers' calls)."""
    calls: list[str] = []
    work = hot_routes.commit

    async def counted(*args: Any) -> bytes:
        sid, term = args[-2:]
        calls.append("events" if sid is None else f"{sid}:{term}")
        return await work(*args)

    monkeypatch.setattr(hot_routes, "commit", counted)
    return calls


def _app(state: str, hot: bool, monkeypatch: pytest.MonkeyPatch) -> Starlette:
    with monkeypatch.context() as m:
        m.setattr(hot_routes, "ENABLED", hot)
        return create_app(ServiceConfig(state=state))


def _answers(app: Starlette, key: str) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    out = []
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for method, path, body, extra in _REQUESTS:
            headers = {"content-type": "application/json"}
            if extra is not None:
                headers = {"authorization": f"Bearer {key}", **headers, **extra}
            content = body if isinstance(body, bytes) or body is None else json.dumps(body)
            r = client.request(method, path, content=content, headers=headers)
            out.append((r.status_code, list(r.headers.multi_items()), r.content))
    return out


def test_hot_layer_answers_as_the_router_does(
    twin_stores: tuple[str, str, str], worked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, key = twin_stores
    plain = _answers(_app(first, False, monkeypatch), key)
    assert worked == []
    hot = _answers(_app(second, True, monkeypatch), key)
    # every request the layer matched and got past the key and body checks reached a handler
    assert worked == ["events"] * 6 + ["s1:False"] * 4 + ["nobody:False", "s1:True", "s1:False"]
    statuses = [status for status, _, _ in hot]
    assert statuses == [200, 200, 200, 401, 401, 401, 400, 400, 200, 307, 405, 200,
                        200, 200, 400, 400, 404, 401, 200, 409, 404, 404]  # fmt: skip
    for (method, path, _, _), a, b in zip(_REQUESTS, plain, hot, strict=True):
        assert a == b, (method, path)


async def _call(app: Starlette, scope_headers: list[tuple[bytes, bytes]], chunks: list[bytes]
                ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:  # fmt: skip
    """One request through the ASGI app, its body in ``chunks`` (several messages)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/events", "raw_path": b"/v1/events", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": scope_headers,
    }  # fmt: skip
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[0]["headers"], b"".join(m.get("body", b"") for m in sent[1:])


def test_hot_layer_reads_bodies_and_limits_as_the_router(
    twin_stores: tuple[str, str, str], worked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, key = twin_stores
    body = json.dumps({"records": [_record("c1")]}).encode()
    auth = (b"authorization", f"Bearer {key}".encode())
    cases = [
        ([auth], [body[:10], body[10:20], body[20:]]),  # the body in three messages
        ([auth, (b"content-length", str(MAX_BODY_BYTES + 1).encode())], [b"{}"]),  # 413
        ([(b"content-length", b"99999999999")], [b"{}"]),  # the key first: 401
    ]
    answers = {}
    for state, hot in ((first, False), (second, True)):
        app = _app(state, hot, monkeypatch)
        with TestClient(app):  # its lifespan: the store opened
            answers[hot] = [asyncio.run(_call(app, headers, chunks)) for headers, chunks in cases]
    assert [a[0] for a in answers[True]] == [200, 413, 401]
    assert answers[True] == answers[False]
    assert worked == ["events"]


def test_hot_layer_counts_requests_under_route_templates(
    twin_stores: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, second, key = twin_stores
    with TestClient(_app(second, True, monkeypatch)) as client:
        headers = {"authorization": f"Bearer {key}"}
        client.post("/v1/events", json={"records": [_record("m1")]}, headers=headers)
        client.post("/v1/sessions", json=_open("m"), headers=headers)
        client.post("/v1/sessions/m/update", json=_update(1), headers=headers)
        client.post("/v1/sessions/m/update", json=_update(1), headers={})
        text = client.get("/metrics").text
    assert 'method="POST",route="/v1/events",status="200"} 1' in text
    assert 'route="/v1/sessions/{session_id}/update",status="200"} 1' in text
    assert 'route="/v1/sessions/{session_id}/update",status="401"} 1' in text
    assert 'roamlike_http_request_duration_seconds_count{route="/v1/events"} 1' in text
