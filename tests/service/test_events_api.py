"""``POST /v1/events``: same results as the batch engine, idempotent, isolated, reason codes."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from roamlike.cli import app as cli_app
from roamlike.service import ServiceConfig, create_app
from roamlike.service.quotes import QUOTE_COLUMNS
from roamlike.synth.generator import generate
from roamlike.tariffs import FxTable
from service.conftest import make_tenant
from service.conftest import records_of as _records

SYNTH = generate(400, seed=11, start=dt.date(2026, 1, 1), months=2)
FX = FxTable.from_rows(SYNTH.fx_rows, source="synthetic reference")
PLANS_JSON = json.dumps({"plans": SYNTH.plans}, default=str)
#: The period's records four times over under new ids, 2 minutes later each time: more
#: records per subscriber, for requests of hundreds of records (the same plans and FX).
LARGE = pl.concat(
    SYNTH.usage.with_columns(
        pl.col("record_id") + f"-{k}", pl.col("started_at") + pl.duration(minutes=2 * k)
    )
    for k in range(4)
).sort("started_at", maintain_order=True)


@pytest.fixture
def state_db(store_url: str) -> str:
    """These tests run on SQLite and on a real PostgreSQL server (the root conftest's store)."""
    return store_url


@pytest.fixture
def events_client(state_db: str) -> Any:
    yield from _client_with_plans(ServiceConfig(state=state_db, fx=FX))


def _client_with_plans(config: ServiceConfig) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of an app with ``config``, a tenant and its plans (from 2017)."""
    assert config.state is not None
    with TestClient(create_app(config)) as client:
        key = make_tenant(config.state, "acme")
        headers = {"authorization": f"Bearer {key}"}
        put = client.put(
            "/v1/plans?from=2017-01-01T00:00:00Z",
            content=PLANS_JSON,
            headers={**headers, "content-type": "application/json"},
        )
        assert put.status_code == 201, put.text
        yield client, headers


def _batch(
    tmp_path: Path, records: pl.DataFrame = SYNTH.usage
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``roamlike rate --state`` over all the records at once, into a fresh store."""
    usage = tmp_path / "usage.parquet"
    records.write_parquet(usage)
    plans = tmp_path / "plans.json"
    plans.write_text(PLANS_JSON, encoding="utf-8")
    fx = tmp_path / "fx.csv"
    fx.write_text(
        "date,currency,units_per_eur\n"
        + "".join(f"{d.isoformat()},{c},{r}\n" for d, c, r in SYNTH.fx_rows),
        encoding="utf-8",
    )
    store = str(tmp_path / "batch.db")
    init = CliRunner().invoke(cli_app, ["state", "init", "--state", store])
    assert init.exit_code == 0, init.output
    args = ["rate", str(usage), "--plans", str(plans), "--fx", str(fx), "--quiet", "--state", store]
    out = [tmp_path / "rated.parquet", tmp_path / "rejects.parquet", tmp_path / "notes.parquet"]
    result = CliRunner().invoke(
        cli_app,
        [*args, "--out", str(out[0]), "--rejects", str(out[1]), "--notifications", str(out[2])],
    )
    assert result.exit_code in (0, 1), result.output
    rated, rejects, notes = (pl.read_parquet(p) for p in out)
    return rated, rejects, notes


def test_events_in_random_chunks_equal_the_batch_run(events_client: Any, tmp_path: Path) -> None:
    client, headers = events_client
    _assert_chunks_equal_the_batch_run(client, headers, tmp_path, (1, 1, 2, 7, 30, 80))


def test_events_in_large_chunks_with_compactions_equal_the_batch_run(
    state_db: str, tmp_path: Path
) -> None:
    """Requests of 301 to 700 records (large groups: the engine, worked out on a snapshot on
    SQLite) with the state logs compacted by the service between them."""
    config = ServiceConfig(state=state_db, fx=FX, compact_log_rows=100)
    for client, headers in _client_with_plans(config):
        _assert_chunks_equal_the_batch_run(client, headers, tmp_path, (301, 450, 700), LARGE)
        metrics = client.get("/metrics").text
        assert "roamlike_compactions_total" in metrics


def _assert_chunks_equal_the_batch_run(
    client: TestClient,
    headers: dict[str, str],
    tmp_path: Path,
    sizes: tuple[int, ...],
    usage: pl.DataFrame = SYNTH.usage,
) -> None:
    """Post the synthetic period's records (``usage``) in order, in chunks of random ``sizes``,
    and compare every rated value, reject and notification with ``roamlike rate --state``."""
    records = _records(usage)
    rng = random.Random(5)
    got_rated: list[dict[str, Any]] = []
    got_rejects: list[dict[str, Any]] = []
    got_notes: list[dict[str, Any]] = []
    i = 0
    while i < len(records):
        size = rng.choice(sizes)
        response = client.post(
            "/v1/events", json={"records": records[i : i + size]}, headers=headers
        )
        assert response.status_code == 200, response.text
        doc = response.json()
        assert len(doc["rated"]) + len(doc["rejects"]) == len(records[i : i + size])
        got_rated += doc["rated"]
        got_rejects += doc["rejects"]
        got_notes += doc["notifications"]
        i += size
    rated, rejects, notes = _batch(tmp_path, usage)
    assert len(got_rated) == rated.height > 300
    by_id = {r["record_id"]: r for r in got_rated}
    # every rated column of the contract; dates and the VAT rate are compared as text below
    compared = [
        c for c in QUOTE_COLUMNS if c not in ("local_date", "billing_period_start", "vat_rate")
    ]
    for row in rated.to_dicts():
        mine = by_id[row["record_id"]]
        for name in compared:
            assert mine[name] == row[name], (row["record_id"], name)
        assert mine["local_date"] == row["local_date"].isoformat()
        assert mine["vat_rate"] == str(row["vat_rate"])
    assert sorted((r["record_id"], r["reason_code"]) for r in got_rejects) == sorted(
        rejects.select("record_id", "reason_code").iter_rows()
    )
    key = ("record_id", "kind", "threshold_micros")
    assert sorted(tuple(n[k] for k in key) for n in got_notes) == sorted(
        notes.select(*key).iter_rows()
    )
    # the subscriber's counters: GET /v1/subscribers/{id} = `roamlike state show` of the batch
    for sub in sorted({r["subscriber_id"] for r in records})[:5]:
        served = client.get(f"/v1/subscribers/{sub}", headers=headers).json()
        shown = CliRunner().invoke(
            cli_app, ["state", "show", sub, "--state", str(tmp_path / "batch.db"), "--json"]
        )
        assert shown.exit_code == 0, shown.output
        expected = json.loads(shown.stdout)
        for part in ("periods", "last_event", "history"):
            assert served[part] == expected[part], (sub, part)


def test_events_are_idempotent_by_record_id(events_client: Any) -> None:
    client, headers = events_client
    records = _records(SYNTH.usage.head(40))
    first = client.post("/v1/events", json={"records": records}, headers=headers)
    sub = records[0]["subscriber_id"]
    before = client.get(f"/v1/subscribers/{sub}", headers=headers).json()
    retry = client.post("/v1/events", json={"records": records}, headers=headers)
    assert retry.status_code == first.status_code == 200
    assert retry.content == first.content
    assert client.get(f"/v1/subscribers/{sub}", headers=headers).json() == before
    assert before["events_stored"] == sum(r["subscriber_id"] == sub for r in records)


def test_bad_records_are_rejects_with_reason_codes(events_client: Any) -> None:
    client, headers = events_client
    good = _records(SYNTH.usage.head(1))[0]
    bad = [
        {**good, "record_id": "x1", "event_type": "fax"},
        {**good, "record_id": "x2", "started_at": "yesterday"},
        {**good, "record_id": "x3", "plan_id": "no-such-plan"},
        {"record_id": "x4"},
        {**good, "record_id": "x5", "subscriber_id": "s\x00"},
    ]
    response = client.post("/v1/events", json={"records": bad}, headers=headers)
    assert response.status_code == 200
    codes = {r["record_id"]: r["reason_code"] for r in response.json()["rejects"]}
    assert codes == {
        "x1": "BAD_EVENT_TYPE",
        "x2": "BAD_TIMESTAMP",
        "x3": "UNKNOWN_PLAN",
        "x4": "MISSING_FIELD",
        "x5": "BAD_ID",
    }


def test_events_body_errors_are_400(events_client: Any) -> None:
    client, headers = events_client
    for body in ({"records": []}, {"records": [{"subscriber_id": "s"}]}, {"rows": []}):
        response = client.post("/v1/events", json=body, headers=headers)
        assert response.status_code == 400, body
    assert client.post("/v1/events", json={"records": [{"record_id": "a"}]}).status_code == 401


def test_a_record_id_twice_in_a_request_is_stored_once_whatever_its_answers(
    events_client: Any,
) -> None:
    """Found by the OpenAPI fuzzer: an id repeated in one request whose repeat was rejected for
    an earlier reason than DUPLICATE_RECORD_ID (here MISSING_FIELD) was stored twice: 409."""
    client, headers = events_client
    good = _records(SYNTH.usage.head(1))[0]
    body = {
        "records": [
            {"record_id": "z"},
            {"record_id": "z"},
            good,
            {**good, "record_id": " " + good["record_id"]},
        ]
    }
    first = client.post("/v1/events", json=body, headers=headers)
    assert first.status_code == 200, first.text
    codes = [(r["record_id"], r["reason_code"]) for r in first.json()["rejects"]]
    assert codes == [
        ("z", "MISSING_FIELD"),
        ("z", "MISSING_FIELD"),
        (" " + good["record_id"], "DUPLICATE_RECORD_ID"),
    ]
    retry = client.post("/v1/events", json=body, headers=headers)
    assert retry.content == first.content
    alone = client.post("/v1/events", json={"records": [body["records"][3]]}, headers=headers)
    assert alone.json()["rejects"] == first.json()["rejects"][2:]  # its first answer, stored


def test_a_record_id_holding_nul_is_400_and_stores_nothing(events_client: Any) -> None:
    """The idempotency key must be stored as itself: "a\\x00b" (which a SQLite JSON function
    would cut to "a", and PostgreSQL's text refuses) is a bad body, not a record."""
    client, headers = events_client
    good = _records(SYNTH.usage.head(1))[0]
    body = {"records": [{**good, "record_id": "a\x00b"}]}
    response = client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 400
    assert "$.records[0].record_id" in response.json()["detail"]
    response = client.post(
        "/v1/events", json={"records": [{**good, "record_id": "a"}]}, headers=headers
    )
    assert response.status_code == 200
    assert [r["record_id"] for r in response.json()["rated"]] == ["a"]


def test_tenants_are_isolated_on_events_and_subscribers(events_client: Any, state_db: str) -> None:
    client, headers = events_client
    other = {"authorization": f"Bearer {make_tenant(state_db, 'bravo')}"}
    records = _records(SYNTH.usage.head(5))
    assert client.post("/v1/events", json={"records": records}, headers=headers).status_code == 200
    sub = records[0]["subscriber_id"]
    assert client.get(f"/v1/subscribers/{sub}", headers=headers).status_code == 200
    # bravo guesses acme's subscriber id and record ids: nothing of acme's is visible
    assert client.get(f"/v1/subscribers/{sub}", headers=other).status_code == 404
    mine = client.post("/v1/events", json={"records": records[:1]}, headers=other).json()
    assert [r["reason_code"] for r in mine["rejects"]] == ["UNKNOWN_PLAN"]  # bravo has no plans


def test_a_tenants_own_exchange_rates_apply_to_its_events_only(state_db: str) -> None:
    usage = SYNTH.usage.filter(
        (pl.col("home_country") != pl.col("visited_country"))
        & pl.col("plan_id").is_in([p["id"] for p in SYNTH.plans if p["currency"] != "EUR"])
    )
    record = _records(usage.head(1))[0]
    csv_text = "date,currency,units_per_eur\n" + "".join(
        f"{d.isoformat()},{c},{r}\n" for d, c, r in SYNTH.fx_rows
    )
    with TestClient(create_app(ServiceConfig(state=state_db))) as client:  # no server rates
        tenants = {}
        for name in ("acme", "bravo"):
            headers = {"authorization": f"Bearer {make_tenant(state_db, name)}"}
            client.put(
                "/v1/plans?from=2017-01-01T00:00:00Z",
                content=PLANS_JSON,
                headers={**headers, "content-type": "application/json"},
            )
            tenants[name] = headers
        before = client.post("/v1/events", json={"records": [record]}, headers=tenants["acme"])
        assert [r["reason_code"] for r in before.json()["rejects"]] == ["NO_FX_RATE"]
        put = client.put(
            "/v1/fx", content=csv_text, headers={**tenants["acme"], "content-type": "text/csv"}
        )
        assert put.status_code == 200, put.text
        again = {**record, "record_id": record["record_id"] + "-2"}
        after = client.post("/v1/events", json={"records": [again]}, headers=tenants["acme"])
        assert len(after.json()["rated"]) == 1
        other = client.post("/v1/events", json={"records": [again]}, headers=tenants["bravo"])
        assert [r["reason_code"] for r in other.json()["rejects"]] == ["NO_FX_RATE"]
        bad = client.put(
            "/v1/fx", content="day,cur\n", headers={**tenants["acme"], "content-type": "text/csv"}
        )
        assert bad.status_code == 422
        assert "date,currency,units_per_eur" in bad.json()["detail"]
