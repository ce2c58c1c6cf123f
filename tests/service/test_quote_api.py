"""``POST /v1/quote`` equals the engine on random quotes; ``POST /v1/audit`` equals the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import httpx2 as httpx
import polars as pl
import pytest
import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roamlike.cli import app as cli_app
from roamlike.rating import rate_usage
from roamlike.service import ServiceConfig, create_app
from roamlike.service.quotes import QUOTE_COLUMNS
from roamlike.tariffs import FxTable, load_plans

ROOT = Path(__file__).parents[2]
PLANS_FILE = ROOT / "examples" / "plans_illustrative.yaml"
FX_FILE = ROOT / "examples" / "fx_illustrative.csv"
# every rated column of a quote; those three are compared in their JSON form below
COMPARED = [c for c in QUOTE_COLUMNS if c not in ("local_date", "billing_period_start", "vat_rate")]


def _raw_plans() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(PLANS_FILE.read_text(encoding="utf-8"))
    return {p["id"]: json.loads(json.dumps(p, default=str)) for p in doc["plans"]}


RAW_PLANS = _raw_plans()
PLANS = load_plans(PLANS_FILE)
FX = FxTable.from_csv(FX_FILE)
EVENTS = ("voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "mms_mo")
VISITED = ("FR", "AT", "RS", "ME", "AL", "UA", "MD", "CH", "GB", "US", "DE", "HR", "XK")


def _random_quote(rng: random.Random) -> dict[str, Any]:
    plan_id = rng.choice(sorted(RAW_PLANS))
    event = rng.choice(EVENTS)
    day = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(0, 8 * 365))
    body: dict[str, Any] = {
        "plan": RAW_PLANS[plan_id],
        "event_type": event,
        "visited_country": rng.choice(VISITED),
        "started_at": f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
        "utc_offset_min": rng.choice((0, 60, 120, -300)),
    }
    if event.startswith("voice"):
        body["duration_s"] = rng.randrange(0, 4000)
    elif event == "data":
        body["volume_bytes"] = rng.choice((0, 1, 999, 10**6, 3 * 10**9, 60 * 10**9))
    else:
        body["count"] = rng.randrange(0, 5)
    if rng.random() < 0.2:
        body["is_beyond_fair_use"] = True
    return body


def _engine(body: dict[str, Any]) -> dict[str, Any]:
    plan_id = body["plan"]["id"]
    record = {
        "record_id": "r",
        "subscriber_id": "s",
        "plan_id": plan_id,
        "event_type": body["event_type"],
        "started_at": body["started_at"],
        "utc_offset_min": body["utc_offset_min"],
        "home_country": PLANS[plan_id].home_country,
        "visited_country": body["visited_country"],
        "destination_country": None,
        "duration_s": body.get("duration_s"),
        "volume_bytes": body.get("volume_bytes"),
        "count": body.get("count"),
        "is_beyond_fair_use": body.get("is_beyond_fair_use", False),
    }
    result = rate_usage(pl.DataFrame([record]), PLANS, FX)
    if result.rejects.height:
        return {"reason_code": result.rejects["reason_code"][0]}
    return result.rated.to_dicts()[0]


def test_quotes_equal_the_engine_on_random_quotes() -> None:
    rng = random.Random(20261201)
    bodies = [_random_quote(rng) for _ in range(120)]
    app = create_app(ServiceConfig(fx=FX))

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            # concurrent: misses are gathered into shared engine calls
            return await asyncio.gather(*(client.post("/v1/quote", json=b) for b in bodies))

    responses = asyncio.run(post_all())
    rated = 0
    for body, response in zip(bodies, responses, strict=True):
        expected = _engine(body)
        if "reason_code" in expected:
            assert response.status_code == 422, response.text
            assert response.json()["reason_code"] == expected["reason_code"]
            continue
        assert response.status_code == 200, response.text
        got = response.json()
        rated += 1
        for name in COMPARED:
            assert got[name] == expected[name], (name, body)
        assert got["vat_rate"] == str(expected["vat_rate"])
        assert got["local_date"] == expected["local_date"].isoformat()
        assert got["billing_period_start"] == expected["billing_period_start"].isoformat()
        ids = sorted(p["id"] for p in got["parameters"])
        assert ";".join(ids) == (expected["parameters"] or "")
    assert rated >= 30  # many random quotes are rateable (others are rejects, compared too)


def test_quote_answers_components_and_parameters(client: TestClient) -> None:
    body = {
        "plan": RAW_PLANS["rs_signatory_ok"],
        "event_type": "data",
        "visited_country": "ME",
        "started_at": "2020-03-01T12:00:00Z",
        "volume_bytes": 10**6,
    }
    response = client.post("/v1/quote", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["regime"], got["rule_kind"]) == ("wb_rra", "surcharge_cap")
    assert got["charge_incl_vat_micros"] == got["charge_excl_vat_micros"] + got["vat_micros"]
    assert got["surcharge_micros"] > 0
    for p in got["parameters"]:
        assert set(p) == {"id", "value", "unit", "basis", "grade"}
        assert p["grade"] in {"legal", "official", "secondary", "inference"}
    # the memo answers the same question with the same bytes, by its body or by its meaning
    assert client.post("/v1/quote", json=body).content == response.content
    spaced = client.post(
        "/v1/quote",
        content=json.dumps(body, indent=1),
        headers={"content-type": "application/json"},
    )
    assert spaced.content == response.content
    # another question with a body the memo holds nothing for is rated, not served from it
    other = client.post("/v1/quote", json={**body, "volume_bytes": 2 * 10**6})
    assert other.json()["charge_excl_vat_micros"] != got["charge_excl_vat_micros"]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    return doc


BASE = {"event_type": "sms_mo", "visited_country": "FR", "started_at": "2024-05-01T10:00:00Z"}


def test_quote_needs_exactly_one_plan(client: TestClient) -> None:
    assert "exactly one" in _problem(client.post("/v1/quote", json=BASE), 400)["detail"]
    both = {**BASE, "plan": RAW_PLANS["de_unlimited_ok"], "plan_id": "x"}
    assert "exactly one" in _problem(client.post("/v1/quote", json=both), 400)["detail"]


def test_quote_on_stored_plan_without_key_is_401(client: TestClient) -> None:
    response = client.post("/v1/quote", json={**BASE, "plan_id": "de_unlimited_ok"})
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_quote_bad_body_names_the_member(client: TestClient) -> None:
    doc = _problem(client.post("/v1/quote", json={**BASE, "count": "three"}), 400)
    assert "$.count" in doc["detail"]
    doc = _problem(client.post("/v1/quote", json={**BASE, "colour": 1}), 400)
    assert "colour" in doc["detail"]
    doc = _problem(client.post("/v1/quote", json={**BASE, "count": 10**30}), 400)
    assert "$.count" in doc["detail"]
    doc = _problem(client.post("/v1/quote", content=b"{not json"), 400)
    assert "not valid JSON" in doc["detail"]


def test_quote_invalid_inline_plan_is_422(client: TestClient) -> None:
    plan = {**RAW_PLANS["de_unlimited_ok"], "price": 35.0}
    doc = _problem(client.post("/v1/quote", json={**BASE, "plan": plan}), 422)
    assert "price" in doc["detail"]
    assert doc["type"] == "urn:roamlike:problem:invalid-plans"


def test_quote_rejected_event_gives_reason_code(client: TestClient) -> None:
    body = {**BASE, "plan": RAW_PLANS["de_unlimited_ok"], "started_at": "2024-05-01T25:00:00Z"}
    doc = _problem(client.post("/v1/quote", json=body), 422)
    assert doc["reason_code"] == "BAD_TIMESTAMP"


def test_quote_with_a_subscriber_needs_a_key(client: TestClient) -> None:
    body = {**BASE, "plan": RAW_PLANS["de_unlimited_ok"], "subscriber_id": "s1"}
    _problem(client.post("/v1/quote", json=body), 401)


def test_audit_equals_cli_json() -> None:
    result = CliRunner().invoke(
        cli_app,
        ["audit", str(PLANS_FILE), "--on", "2026-03-01", "--fx", str(FX_FILE), "--json"],
    )
    expected = json.loads(result.stdout)
    with TestClient(create_app(ServiceConfig(fx=FX))) as client:
        response = client.post(
            "/v1/audit",
            params={"on": "2026-03-01"},
            content=PLANS_FILE.read_bytes(),
            headers={"content-type": "application/yaml"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_audit_errors(client: TestClient) -> None:
    yaml_type = {"content-type": "application/yaml"}
    doc = _problem(client.post("/v1/audit", content=b"plans: []", headers=yaml_type), 400)
    assert "'on'" in doc["detail"]
    url = "/v1/audit?on=2026-03-01"
    doc = _problem(client.post(url, content=b"x", headers={"content-type": "text/csv"}), 415)
    assert "application/yaml" in doc["detail"]
    doc = _problem(
        client.post(url, content=b"plans:\n  - id: a\n    id: b\n", headers=yaml_type), 422
    )
    assert "line 3" in doc["detail"]
    doc = _problem(client.post(url, content=b"\xff\xfe", headers=yaml_type), 400)
    assert "UTF-8" in doc["detail"]


@pytest.mark.parametrize("path", ["/v1/quote", "/v1/audit"])
def test_get_is_405(client: TestClient, path: str) -> None:
    _problem(client.get(path), 405)
