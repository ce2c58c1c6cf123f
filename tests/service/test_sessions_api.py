"""Credit control: grants stop at the bill-shock limit (Regulation (EU) 2022/612 Art. 14), used
units are rated like events, repeats answered from the store, reservations released."""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

from roamlike.rating import rate_usage
from roamlike.service import ServiceConfig, create_app
from roamlike.tariffs import parse_plans
from service.conftest import make_tenant

PLANS = """
plans:
  - id: de-meter
    name: Metered data (test)
    home_country: DE
    currency: EUR
    price: "5.00"
    price_includes_vat: true
    billing_period: month
    data_allowance_gb: "0"
    voice_allowance_min: "0"
    sms_allowance: "0"
    out_of_bundle: {voice_per_min: "0.10", sms: "0.10", data_per_mb: "1.00"}
    billshock_limit_eur: "10"
"""
MB = 1_000_000


@pytest.fixture
def state_db(store_url: str) -> str:
    """These tests run on SQLite and on a real PostgreSQL server (the root conftest's store)."""
    return store_url


@pytest.fixture
def cc(state_db: str) -> Any:
    with TestClient(create_app(ServiceConfig(state=state_db))) as client:
        headers = {"authorization": f"Bearer {make_tenant(state_db, 'acme')}"}
        put = client.put(
            "/v1/plans?from=2020-01-01T00:00:00Z",
            content=PLANS,
            headers={**headers, "content-type": "application/yaml"},
        )
        assert put.status_code == 201, put.text
        yield client, headers


def _open(session_id: str, requested: int, **extra: Any) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "subscriber_id": "alice",
        "plan_id": "de-meter",
        "event_type": "data",
        "visited_country": "FR",
        "started_at": "2026-03-02T09:00:00Z",
        "requested_units": requested,
        **extra,
    }


def test_art14_grant_stops_before_the_billshock_limit(cc: Any) -> None:
    client, headers = cc
    first = client.post("/v1/sessions", json=_open("s1", 100 * MB), headers=headers)
    assert first.status_code == 200, first.text
    grant = first.json()
    # 10 EUR excl. VAT at 1.00 EUR incl. 19 % VAT per MB: 11.9 MB before the limit
    assert grant["threshold"] == "billshock_limit"
    assert grant["final_unit_indication"] is True
    assert 10 * MB <= grant["granted_units"] <= 11_900_000
    used = grant["granted_units"]
    update = client.post(
        "/v1/sessions/s1/update",
        json={"request_number": 1, "used_units": used, "requested_units": 50 * MB},
        headers=headers,
    )
    assert update.status_code == 200, update.text
    doc = update.json()
    assert doc["granted_units"] < 2 * MB
    assert doc["final_unit_indication"] is True
    rated = doc["usage"]["rated"][0]
    # the same usage rated by the batch engine: the same charge, to the micro-unit
    batch = rate_usage(
        pl.DataFrame(
            [
                {
                    "record_id": "s1#000000001",
                    "subscriber_id": "alice",
                    "plan_id": "de-meter",
                    "event_type": "data",
                    "started_at": "2026-03-02T09:00:00Z",
                    "utc_offset_min": 0,
                    "home_country": "DE",
                    "visited_country": "FR",
                    "volume_bytes": used,
                }
            ]
        ),
        parse_plans(PLANS, "yaml"),
    ).rated.row(0, named=True)
    for name in ("charge_excl_vat_micros", "vat_micros", "is_blocked_by_cutoff", "billed_units"):
        assert rated[name] == batch[name], name
    assert rated["charge_excl_vat_micros"] <= 10_000_000


def test_repeated_request_number_is_answered_from_the_store(cc: Any) -> None:
    client, headers = cc
    client.post("/v1/sessions", json=_open("s2", 5 * MB), headers=headers)
    body = {"request_number": 1, "used_units": 3 * MB, "requested_units": 1 * MB}
    first = client.post("/v1/sessions/s2/update", json=body, headers=headers)
    again = client.post("/v1/sessions/s2/update", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    alice = client.get("/v1/subscribers/alice", headers=headers).json()
    assert alice["events_stored"] == 1
    assert alice["periods"][0]["data_used_bytes"] == 3 * MB
    # repeating the opening request too
    assert client.post("/v1/sessions", json=_open("s2", 5 * MB), headers=headers).status_code == 200
    clash = client.post("/v1/sessions", json=_open("s2", 6 * MB), headers=headers)
    assert clash.status_code == 409


def test_terminate_rates_final_units_and_closes(cc: Any) -> None:
    client, headers = cc
    client.post("/v1/sessions", json=_open("s3", 2 * MB), headers=headers)
    end = client.post(
        "/v1/sessions/s3/terminate", json={"request_number": 1, "used_units": MB}, headers=headers
    )
    assert end.status_code == 200, end.text
    assert "granted_units" not in end.json()
    assert end.json()["usage"]["rated"][0]["volume_bytes"] == MB
    after = client.post(
        "/v1/sessions/s3/update", json={"request_number": 2, "used_units": 1}, headers=headers
    )
    assert after.status_code == 409


def test_open_sessions_hold_units_until_they_expire(cc: Any) -> None:
    client, headers = cc
    # a holds for 3 s and b must come while it holds: a slow machine has 3 s for one request
    a = client.post("/v1/sessions", json=_open("a", 4 * MB, validity_s=3), headers=headers).json()
    assert a["granted_units"] == 4 * MB
    b = client.post("/v1/sessions", json=_open("b", 4 * MB), headers=headers).json()
    assert b["granted_units"] < 4 * MB  # a's reservation is subtracted from what is left
    time.sleep(3.2)
    c = client.post("/v1/sessions", json=_open("c", 4 * MB), headers=headers).json()
    assert c["granted_units"] > b["granted_units"] - MB  # a expired: its units are free again
    late = client.post(
        "/v1/sessions/a/update", json={"request_number": 1, "used_units": 1}, headers=headers
    )
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]


def test_sessions_are_isolated_between_tenants(cc: Any, state_db: str) -> None:
    client, headers = cc
    other = {"authorization": f"Bearer {make_tenant(state_db, 'bravo')}"}
    client.post("/v1/sessions", json=_open("s4", MB), headers=headers)
    guess = client.post(
        "/v1/sessions/s4/update", json={"request_number": 1, "used_units": 1}, headers=other
    )
    assert guess.status_code == 404
    assert client.post("/v1/sessions", json=_open("x", MB), headers=other).status_code == 404


def test_session_errors(cc: Any) -> None:
    client, headers = cc
    assert client.post("/v1/sessions", json=_open("e", MB)).status_code == 401
    bad = client.post("/v1/sessions", json=_open("e", MB, started_at="soon"), headers=headers)
    assert bad.status_code == 400
    assert client.post("/v1/sessions", json=_open("e", -1), headers=headers).status_code == 400
    rejected = client.post(
        "/v1/sessions", json=_open("e", MB, visited_country="ZZ"), headers=headers
    )
    assert rejected.status_code == 422
    assert rejected.json()["reason_code"] == "UNKNOWN_COUNTRY"


def test_ids_holding_nul_are_bad_requests_not_store_errors(cc: Any) -> None:
    """No store can keep U+0000 in a text (PostgreSQL refuses it, SQLite's JSON functions cut
    at it): such an id is a 400 at open and an unknown session after, never a 5xx."""
    client, headers = cc
    for member in ("session_id", "subscriber_id", "plan_id"):
        body = {**_open("n", MB), member: "x\x00y"}
        response = client.post("/v1/sessions", json=body, headers=headers)
        assert response.status_code == 400, member
        assert f"$.{member}" in response.json()["detail"]
    step = client.post(
        "/v1/sessions/x%00y/update",
        json={"request_number": 1, "used_units": 0, "requested_units": MB},
        headers=headers,
    )
    assert step.status_code == 404
    assert client.get("/v1/subscribers/alice%00", headers=headers).status_code == 404
    assert client.post("/v1/sessions", json=_open("n", MB), headers=headers).status_code == 200


def test_quote_with_the_subscribers_counters_equals_the_next_event(cc: Any) -> None:
    client, headers = cc
    first = {
        "record_id": "e1",
        "subscriber_id": "bob",
        "plan_id": "de-meter",
        "event_type": "data",
        "started_at": "2026-03-02T09:00:00Z",
        "utc_offset_min": 0,
        "home_country": "DE",
        "visited_country": "FR",
        "volume_bytes": 9 * MB,
    }
    assert client.post("/v1/events", json={"records": [first]}, headers=headers).status_code == 200
    question = {
        "plan_id": "de-meter",
        "subscriber_id": "bob",
        "event_type": "data",
        "visited_country": "FR",
        "started_at": "2026-03-02T10:00:00Z",
        "volume_bytes": 5 * MB,
    }
    quote = client.post("/v1/quote", json=question, headers=headers)
    assert quote.status_code == 200, quote.text
    fresh = client.post("/v1/quote", json={**question, "subscriber_id": "nobody"}, headers=headers)
    # bob has spent 9 MB of his 10 EUR limit: the quote is cut at the limit, a fresh one is not
    assert quote.json()["charge_excl_vat_micros"] < fresh.json()["charge_excl_vat_micros"]
    second = {
        **first,
        "record_id": "e2",
        "started_at": question["started_at"],
        "volume_bytes": 5 * MB,
    }
    event = client.post("/v1/events", json={"records": [second]}, headers=headers).json()
    rated = event["rated"][0]
    for name in (
        "charge_excl_vat_micros",
        "vat_micros",
        "is_blocked_by_cutoff",
        "surcharge_micros",
    ):
        assert quote.json()[name] == rated[name], name
    # the quote stored nothing: bob's counters moved only with the event
    assert client.get("/v1/subscribers/bob", headers=headers).json()["events_stored"] == 2
