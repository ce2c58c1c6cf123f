"""The app shell: health, metrics, OpenAPI document kept in docs/, the real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
from starlette.testclient import TestClient

from roamlike.service.openapi import openapi_document
from service.server import free_port, running_server

DOCS_OPENAPI = Path(__file__).parents[2] / "docs" / "api" / "openapi.json"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/v1/rules", params={"home": "RS", "visited": "ME", "on": "2020-03-01"})
    client.get("/v1/rules", params={"home": "RS", "visited": "ME"})
    text = client.get("/metrics").text
    assert 'roamlike_http_requests_total{method="GET",route="/v1/rules",status="200"} 1' in text
    assert 'roamlike_http_requests_total{method="GET",route="/v1/rules",status="400"} 1' in text
    assert 'roamlike_http_request_duration_seconds_count{route="/v1/rules"} 2' in text


def test_openapi_served_equals_docs_copy(client: TestClient) -> None:
    served = client.get("/v1/openapi.json").json()
    assert served["openapi"] == "3.1.0"
    assert served == openapi_document()
    kept = json.loads(DOCS_OPENAPI.read_text(encoding="utf-8"))
    assert kept == served, (
        "docs/api/openapi.json is stale: python -m roamlike.service.openapi > docs/api/openapi.json"
    )


def test_roamlike_serve_runs_granian(tmp_path: Path) -> None:
    with running_server(tmp_path, "--state", str(tmp_path / "s.db")) as (base, _):
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        rules = httpx.get(
            f"{base}/v1/rules", params={"home": "RS", "visited": "ME", "on": "2020-03-01"}
        )
        assert rules.status_code == 200
        assert rules.json()["regime"] == "wb_rra"
        # every worker's event loop is uvloop's (roamlike serve chooses it)
        metrics = httpx.get(f"{base}/metrics").text
        assert 'roamlike_event_loop_info{implementation="uvloop"} 1' in metrics


def test_serve_rejects_bad_fx_file(tmp_path: Path) -> None:
    bad = tmp_path / "fx.csv"
    bad.write_text("nonsense\n", encoding="utf-8")
    exe = Path(sys.executable).with_name("roamlike")
    done = subprocess.run(
        [str(exe), "serve", "--fx", str(bad), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert "error:" in done.stderr


def test_web_pages_are_mounted_at_root(client: TestClient) -> None:
    response = client.get("/rules", params={"home": "RS", "visited": "ME", "on": "2020-03-01"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "wb_rra" in response.text or "Regional Roaming" in response.text
    assert client.get("/", follow_redirects=False).status_code == 302
