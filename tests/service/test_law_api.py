"""The public law endpoints answer exactly the CLI's JSON; bad queries are 4xx problems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roamlike.cli import app

runner = CliRunner()


def _cli_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("home", "visited", "on"),
    [("RS", "ME", "2020-03-01"), ("de", "at", "2018-03-01"), ("RS", "DE", "2023-10-01")],
)
def test_rules_equal_cli_json(client: TestClient, home: str, visited: str, on: str) -> None:
    response = client.get("/v1/rules", params={"home": home, "visited": visited, "on": on})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == _cli_json("rules", home, visited, "--on", on)


def test_timeline_equals_cli_json(client: TestClient) -> None:
    response = client.get(
        "/v1/timeline", params={"home": "RS", "visited": "ME", "from": "2019-01-01"}
    )
    assert response.status_code == 200
    assert response.json() == _cli_json("timeline", "RS", "ME", "--from", "2019-01-01")


def test_countries_equal_cli_json(client: TestClient) -> None:
    response = client.get("/v1/countries", params={"on": "2026-02-01"})
    assert response.status_code == 200
    assert response.json() == _cli_json("countries", "--on", "2026-02-01")
    ua = next(c for c in response.json() if c["code"] == "UA")
    assert ua["currency"] == "UAH"


def test_sources_equal_cli_json(client: TestClient) -> None:
    response = client.get("/v1/sources")
    assert response.status_code == 200
    assert response.json() == _cli_json("sources")


def test_instruments_equal_cli_json(client: TestClient) -> None:
    response = client.get("/v1/instruments")
    assert response.status_code == 200
    assert response.json() == _cli_json("instruments")


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status
    assert {"type", "title", "status", "detail"} <= set(doc)
    return doc


def test_rules_missing_parameter_is_400(client: TestClient) -> None:
    doc = _problem(client.get("/v1/rules", params={"home": "RS", "visited": "ME"}), 400)
    assert "'on' is required" in doc["detail"]


def test_rules_bad_date_is_400(client: TestClient) -> None:
    doc = _problem(
        client.get("/v1/rules", params={"home": "RS", "visited": "ME", "on": "2020-13-01"}), 400
    )
    assert "YYYY-MM-DD" in doc["detail"]
    assert doc["type"] == "urn:roamlike:problem:bad-date"


def test_rules_unknown_country_is_400(client: TestClient) -> None:
    doc = _problem(
        client.get("/v1/rules", params={"home": "ZZ", "visited": "ME", "on": "2020-03-01"}), 400
    )
    assert "unknown country code 'ZZ'" in doc["detail"]


def test_rules_outside_coverage_is_422(client: TestClient) -> None:
    doc = _problem(
        client.get("/v1/rules", params={"home": "DE", "visited": "AT", "on": "1990-01-01"}), 422
    )
    assert "no rule in force" in doc["detail"]


def test_timeline_period_reversed_is_400(client: TestClient) -> None:
    params = {"home": "RS", "visited": "ME", "from": "2022-01-01", "to": "2020-01-01"}
    doc = _problem(client.get("/v1/timeline", params=params), 400)
    assert "is after" in doc["detail"]


def test_unknown_path_is_404_problem(client: TestClient) -> None:
    doc = _problem(client.get("/v1/nothing-here"), 404)
    assert "/v1/openapi.json" in doc["detail"]


def test_wrong_method_is_405_problem(client: TestClient) -> None:
    doc = _problem(client.post("/v1/rules"), 405)
    assert "POST" in doc["detail"]
