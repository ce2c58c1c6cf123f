"""The dashboard's queries (``roamlike.service.overview``): a tenant reads only its own rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app
from roamlike.service.overview import (
    NOTIFICATION_FLAGS,
    batch_runs,
    counter_periods,
    recent_events,
    subscriber_count,
)
from roamlike.service.tenants import add_tenant
from roamlike.state import migrate, open_store
from roamlike.state.ledger import LedgerRun, record_run
from roamlike.tariffs import FxTable

EXAMPLES = Path(__file__).parents[2] / "examples"


def _plans() -> str:
    doc = yaml.safe_load((EXAMPLES / "plans_illustrative.yaml").read_text(encoding="utf-8"))
    return yaml.safe_dump({"plans": [p for p in doc["plans"] if p["id"] == "de_unlimited_ok"]})


def _record(rid: str, sub: str, mb: int, at: str) -> dict[str, Any]:
    return {
        "record_id": rid,
        "subscriber_id": sub,
        "plan_id": "de_unlimited_ok",
        "event_type": "data",
        "started_at": at,
        "utc_offset_min": 0,
        "home_country": "DE",
        "visited_country": "FR",
        "volume_bytes": mb * 10**6,
    }


def _run(run_id: str, name: str) -> LedgerRun:
    return LedgerRun(
        run_id, name, run_id * 4, 10, 3, "2026-03-01T00:00:00+00:00",
        "2026-03-01T00:00:01+00:00", 2, 1, 0, 0, {}, {},
    )  # fmt: skip


def test_overview_is_scoped_to_the_tenant(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    with open_store(state) as store:
        migrate(store)
        acme, key_a = add_tenant(store, "acme")
        other, key_b = add_tenant(store, "other")
    fx = FxTable.from_csv(EXAMPLES / "fx_illustrative.csv")
    with TestClient(create_app(ServiceConfig(state=state, fx=fx))) as client:
        for key, subs in ((key_a, ("a1", "a2")), (key_b, ("b1",))):
            auth = {"authorization": f"Bearer {key}"}
            put = client.put(
                "/v1/plans?from=2017-01-01T00:00:00Z",
                content=_plans(),
                headers={**auth, "content-type": "application/yaml"},
            )
            assert put.status_code == 201, put.text
            records = [
                _record(f"{s}-{i}", s, 100 * (i + 1), f"2026-03-0{i + 1}T10:00:00Z")
                for s in subs
                for i in range(2)
            ]
            records.append({"record_id": f"{subs[0]}-bad", "subscriber_id": subs[0]})
            answer = client.post("/v1/events", json={"records": records}, headers=auth)
            assert answer.status_code == 200, answer.text
        api_a1 = client.get("/v1/subscribers/a1", headers={"authorization": f"Bearer {key_a}"})
    with open_store(state) as store:
        with store.transaction() as tx:
            record_run(tx, _run("r-acme", "acme-day.csv"), tenant=acme.tenant_id)
            record_run(tx, _run("r-other", "other-day.csv"), tenant=other.tenant_id)
            record_run(tx, _run("r-none", "no-tenant.csv"))
        assert subscriber_count(store, acme.tenant_id) == 2
        assert subscriber_count(store, other.tenant_id) == 1
        periods = counter_periods(store, acme.tenant_id)
        assert {p.subscriber_id for p in periods} == {"a1", "a2"}
        [a1] = counter_periods(store, acme.tenant_id, "a1")
        [doc] = api_a1.json()["periods"]
        assert (a1.data_used_bytes, a1.fup_used_bytes, a1.billshock_spend_micros) == (
            doc["data_used_bytes"],
            doc["fup_used_bytes"],
            doc["billshock_spend_micros"],
        )
        assert list(a1.notifications_sent) == [n for n in NOTIFICATION_FLAGS if doc[f"has_{n}"]]
        assert counter_periods(store, acme.tenant_id, "b1") == []
        events = recent_events(store, acme.tenant_id)
        assert {ev.subscriber_id for ev in events} == {"a1", "a2"}
        assert len(events) == 5
        [bad] = [ev for ev in events if ev.reject is not None]
        assert bad.record_id == "a1-bad"
        assert bad.rated is None
        rated = [ev for ev in events if ev.rated is not None]
        assert all(ev.rated["subscriber_id"] in ("a1", "a2") for ev in rated if ev.rated)
        assert recent_events(store, acme.tenant_id, "b1") == []
        assert len(recent_events(store, acme.tenant_id, limit=2)) == 2
        assert [r.run_id for r in batch_runs(store, acme.tenant_id)] == ["r-acme"]
        assert [r.run_id for r in batch_runs(store, other.tenant_id)] == ["r-other"]
        assert batch_runs(store, "guessed") == []
