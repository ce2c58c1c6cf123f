"""Fixtures of the service tests: in-process clients over :func:`create_app`, tenants, stores.

(A package, so this conftest is imported as ``service.conftest`` and never shadows the suite's
root ``conftest`` module.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from starlette.testclient import TestClient

from roamlike.law import default_catalog
from roamlike.service import ServiceConfig, create_app
from roamlike.service.events import Submission, commit_group
from roamlike.service.schemas import EventRecord
from roamlike.service.tenants import add_tenant, plan_versions, put_plans
from roamlike.state import Store, migrate, open_store
from roamlike.synth.generator import SynthResult
from roamlike.tariffs import FxTable


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of an app without a state store, with the illustrative FX table."""
    fx = FxTable.from_csv(Path(__file__).parents[2] / "examples" / "fx_illustrative.csv")
    with TestClient(create_app(ServiceConfig(fx=fx)), raise_server_exceptions=False) as c:
        yield c


FX_FILE = Path(__file__).parents[2] / "examples" / "fx_illustrative.csv"


def make_tenant(state: str, name: str) -> str:
    """Create a tenant in the store ``state``; return its API key."""
    with open_store(state) as store:
        migrate(store)
        _, key = add_tenant(store, name)
    return key


def store_tenant(store: Store, name: str, plans: list[dict[str, Any]]) -> str:
    """Add a tenant holding ``plans`` (from 2017) to ``store``, migrated first; its id."""
    migrate(store)
    tenant, _ = add_tenant(store, name)
    content = json.dumps({"plans": plans}, default=str)
    put_plans(store, tenant.tenant_id, content, "json", "2017-01-01T00:00:00.000000+00:00")
    return tenant.tenant_id


def commit_records(
    store: Store,
    tenant: str,
    plan_id: str,
    tag: str,
    subscribers: list[str | None],
    volume_bytes: int = 1_000,
) -> None:
    """Commit one group straight to the store (no app): a data record of ``volume_bytes`` per
    subscriber (None: a reject), ids ``TAG-i``, a second apart from 2026-01-05 10:00 UTC,
    German SIMs in France."""
    records = [
        EventRecord(
            record_id=f"{tag}-{i}",
            subscriber_id=sid,
            plan_id=plan_id,
            event_type="data",
            started_at=f"2026-01-05T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            utc_offset_min=60,
            home_country="DE",
            visited_country="FR",
            volume_bytes=volume_bytes,
        )
        for i, sid in enumerate(subscribers)
    ]
    loop = asyncio.new_event_loop()
    try:
        group = [Submission(tenant, plan_versions(store, tenant), records, loop.create_future())]
        commit_group(store, group, FxTable(), default_catalog())
    finally:
        loop.close()


def metric(client: TestClient, name: str) -> int:
    """The counter ``roamlike_NAME_total`` of the app's ``/metrics`` (0 if not there)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"roamlike_{name}_total "):
            return int(line.split()[1])
    return 0


def metric_once_at(client: TestClient, name: str, n: int) -> int:
    """The counter ``roamlike_NAME_total`` once it reached ``n``, or as it is after 60 s.

    For what the service does after it answered (the writer's folds and compaction slices,
    the WAL checkpointer's thread): the last answer may come before it is done, and a loaded
    machine (a CI run) may take seconds. The caller compares the count returned with ``n``,
    so that one more or fewer than expected still fails.
    """
    deadline = time.monotonic() + 60
    while (found := metric(client, name)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def records_of(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The usage records of ``frame`` as ``POST /v1/events`` takes them (``started_at`` as
    ISO 8601 text, nulls left out)."""
    out = []
    for row in frame.to_dicts():
        row["started_at"] = row["started_at"].isoformat()
        out.append({k: v for k, v in row.items() if v is not None})
    return out


@contextlib.contextmanager
def synthetic_client(state: str, synth: SynthResult) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of an app on the store ``state`` with a tenant holding ``synth``'s plans (from
    2017) and exchange rates; the tenant's authorization header."""
    headers = {"authorization": f"Bearer {make_tenant(state, 'acme')}"}
    fx = FxTable.from_rows(synth.fx_rows, source="synthetic reference")
    with TestClient(create_app(ServiceConfig(state=state, fx=fx))) as client:
        put = client.put(
            "/v1/plans?from=2017-01-01T00:00:00Z",
            content=json.dumps({"plans": synth.plans}, default=str),
            headers={**headers, "content-type": "application/json"},
        )
        assert put.status_code == 201, put.text
        yield client, headers


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """A fresh SQLite store path."""
    return str(tmp_path / "state.db")


@pytest.fixture
def store_client(state_db: str) -> Iterator[TestClient]:
    """A client of an app over a SQLite store, with the illustrative FX table."""
    config = ServiceConfig(state=state_db, fx=FxTable.from_csv(FX_FILE))
    with TestClient(create_app(config), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def twin_stores(tmp_path: Path) -> tuple[str, str, str]:
    """Two copies of one store holding a tenant with the plans of ``test_sessions_api``; the
    tenant's key (the same requests posted to each, one app per copy, answer alike)."""
    from service.test_sessions_api import PLANS

    first = str(tmp_path / "a.db")
    key = make_tenant(first, "acme")
    with TestClient(create_app(ServiceConfig(state=first))) as client:
        put = client.put(
            "/v1/plans?from=2020-01-01T00:00:00Z",
            content=PLANS,
            headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
        )
        assert put.status_code == 201, put.text
    second = str(tmp_path / "b.db")
    shutil.copyfile(first, second)
    return first, second, key
