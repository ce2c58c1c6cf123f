"""Tenants, API keys and versioned plans: 401 without a valid key, isolation between tenants."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roamlike.cli import app as cli_app
from roamlike.service.tenants import key_hash
from roamlike.state import open_store
from service.conftest import make_tenant

PLANS_FILE = Path(__file__).parents[2] / "examples" / "plans_illustrative.yaml"
YAML = {"content-type": "application/yaml"}
KEY = re.compile(r"^rlk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")
runner = CliRunner()


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _plans_text(**changes: Any) -> str:
    doc = yaml.safe_load(PLANS_FILE.read_text(encoding="utf-8"))
    plans = [p for p in doc["plans"] if p["id"] in ("de_unlimited_ok", "fr_surcharge_above_cap")]
    for plan in plans:
        plan.update(copy.deepcopy(changes))  # no shared objects: YAML aliases are refused
    return yaml.safe_dump({"plans": plans})


def test_tenants_add_prints_the_key_last_and_stores_only_its_hash(state_db: str) -> None:
    result = runner.invoke(cli_app, ["tenants", "add", "acme", "--state", state_db])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert KEY.match(key)
    with open_store(state_db) as store, store.transaction() as tx:
        rows = tx.execute("SELECT key_hash FROM service_keys")
    assert rows == [(key_hash(key),)]
    listed = runner.invoke(cli_app, ["tenants", "list", "--state", state_db, "--json"])
    assert listed.exit_code == 0
    assert key not in listed.stdout
    assert json.loads(listed.stdout)[0]["name"] == "acme"


def test_tenants_add_twice_is_an_error(state_db: str) -> None:
    assert runner.invoke(cli_app, ["tenants", "add", "acme", "--state", state_db]).exit_code == 0
    again = runner.invoke(cli_app, ["tenants", "add", "acme", "--state", state_db])
    assert again.exit_code == 3
    assert "exists already" in again.output


def test_tenant_name_is_checked(state_db: str) -> None:
    bad = runner.invoke(cli_app, ["tenants", "add", "no spaces", "--state", state_db])
    assert bad.exit_code == 3
    assert "tenant name" in bad.output


def test_no_or_wrong_key_is_401(store_client: TestClient, state_db: str) -> None:
    make_tenant(state_db, "acme")
    for headers in (
        {},
        {"authorization": "Basic abc"},
        _auth("rlk_00000000_" + "A" * 43),
        _auth("nonsense"),
    ):
        response = store_client.get("/v1/plans", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    response = store_client.put("/v1/plans", content=_plans_text(), headers=YAML)
    assert response.status_code == 401


def test_revoked_key_is_401(store_client: TestClient, state_db: str) -> None:
    key = make_tenant(state_db, "acme")
    assert store_client.get("/v1/plans", headers=_auth(key)).status_code == 200
    key_id = key.split("_")[1]
    revoked = runner.invoke(cli_app, ["tenants", "revoke", key_id, "--state", state_db])
    assert revoked.exit_code == 0, revoked.output
    assert store_client.get("/v1/plans", headers=_auth(key)).status_code == 401
    again = runner.invoke(cli_app, ["tenants", "revoke", key_id, "--state", state_db])
    assert again.exit_code == 3
    assert "revoked already" in again.output


def test_put_plans_versions_and_get(store_client: TestClient, state_db: str) -> None:
    key = make_tenant(state_db, "acme")
    first = store_client.put("/v1/plans", content=_plans_text(), headers={**YAML, **_auth(key)})
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    assert first.json()["plans"] == ["de_unlimited_ok", "fr_surcharge_above_cap"]
    as_json = json.dumps(yaml.safe_load(_plans_text()))
    second = store_client.put(
        "/v1/plans",
        content=as_json,
        headers={"content-type": "application/json", **_auth(key)},
    )
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    listed = store_client.get("/v1/plans", headers=_auth(key)).json()
    assert [v["version"] for v in listed] == [1, 2]


def test_put_plans_errors_name_the_line(store_client: TestClient, state_db: str) -> None:
    key = make_tenant(state_db, "acme")
    bad = "plans:\n  - id: a\n    home_country: DE\n    home_country: FR\n"
    response = store_client.put("/v1/plans", content=bad, headers={**YAML, **_auth(key)})
    assert response.status_code == 422
    assert "line 4" in response.json()["detail"]
    response = store_client.put(
        "/v1/plans", content=_plans_text(price=35.5), headers={**YAML, **_auth(key)}
    )
    assert response.status_code == 422
    assert "price" in response.json()["detail"]


def _quote(plan_id: str, started_at: str) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "event_type": "voice_mo",
        "visited_country": "DE",
        "started_at": started_at,
        "duration_s": 600,
    }


def test_plans_version_in_force_at_the_event_time(store_client: TestClient, state_db: str) -> None:
    key = make_tenant(state_db, "acme")
    headers = {**YAML, **_auth(key)}
    oob = {"sms": "0.09", "data_per_mb": "0.01"}
    old = _plans_text(voice_allowance_min="0", out_of_bundle={**oob, "voice_per_min": "0.10"})
    new = _plans_text(voice_allowance_min="0", out_of_bundle={**oob, "voice_per_min": "0.20"})
    for start, text in (("2020-01-01", old), ("2025-01-01", new)):
        put = store_client.put(f"/v1/plans?from={start}T00:00:00Z", content=text, headers=headers)
        assert put.status_code == 201, put.text
    plan = "fr_surcharge_above_cap"  # an FR plan: a call from DE is roaming at the domestic price
    before = store_client.post(
        "/v1/quote", json=_quote(plan, "2024-06-01T10:00:00Z"), headers=_auth(key)
    )
    after = store_client.post(
        "/v1/quote", json=_quote(plan, "2025-06-01T10:00:00Z"), headers=_auth(key)
    )
    assert before.status_code == 200, before.text
    assert after.status_code == 200, after.text
    # 10 min at 0.10 then 0.20 EUR incl. VAT (FR 20 %): 0.833333 then 1.666667 EUR excl. VAT
    assert (before.json()["domestic_micros"], after.json()["domestic_micros"]) == (833333, 1666667)
    too_early = store_client.post(
        "/v1/quote", json=_quote(plan, "2019-06-01T10:00:00Z"), headers=_auth(key)
    )
    assert too_early.status_code == 404
    backwards = store_client.put(
        "/v1/plans?from=2021-01-01T00:00:00Z", content=old, headers=headers
    )
    assert backwards.status_code == 409


def test_stored_plan_quote_equals_inline_quote(store_client: TestClient, state_db: str) -> None:
    key = make_tenant(state_db, "acme")
    text = _plans_text()
    store_client.put(
        "/v1/plans?from=2020-01-01T00:00:00Z", content=text, headers={**YAML, **_auth(key)}
    )
    inline_plan = json.loads(json.dumps(yaml.safe_load(text)["plans"][0], default=str))
    body = _quote("de_unlimited_ok", "2024-06-01T10:00:00Z")
    stored = store_client.post("/v1/quote", json=body, headers=_auth(key))
    del body["plan_id"]
    inline = store_client.post("/v1/quote", json={**body, "plan": inline_plan})
    assert stored.status_code == inline.status_code == 200
    assert stored.json() == inline.json()


def test_a_tenant_never_sees_another_tenants_plans(store_client: TestClient, state_db: str) -> None:
    key_a = make_tenant(state_db, "acme")
    key_b = make_tenant(state_db, "bravo")
    store_client.put(
        "/v1/plans?from=2020-01-01T00:00:00Z",
        content=_plans_text(),
        headers={**YAML, **_auth(key_a)},
    )
    assert store_client.get("/v1/plans", headers=_auth(key_b)).json() == []
    # b guesses a's plan ids: not found, exactly as a plan that exists nowhere
    for guess in ("de_unlimited_ok", "fr_surcharge_above_cap", "nothing"):
        response = store_client.post(
            "/v1/quote", json=_quote(guess, "2024-06-01T10:00:00Z"), headers=_auth(key_b)
        )
        assert response.status_code == 404, guess
    ok = store_client.post(
        "/v1/quote", json=_quote("de_unlimited_ok", "2024-06-01T10:00:00Z"), headers=_auth(key_a)
    )
    assert ok.status_code == 200


def test_store_endpoints_without_store_are_503(client: TestClient) -> None:
    response = client.get("/v1/plans", headers=_auth("rlk_00000000_" + "A" * 43))
    assert response.status_code == 503
    assert "--state" in response.json()["detail"]
