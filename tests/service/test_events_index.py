"""``roamlike.service.events_index`` on SQLite and on a real PostgreSQL server: a subscriber's
stored events counted and listed as an index of the answers would give them, whether they
are folded into the table or still above its bound; the bound moves only once enough events
are above it; the events writer folds after answering, and a failed fold changes no answer; a
store of service version 5 migrates keeping every count."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from roamlike.law import default_catalog
from roamlike.service import events_index
from roamlike.service.overview import recent_events
from roamlike.service.schema import EVENTS_BY_SUBSCRIBER_VERSION
from roamlike.state import Transaction, migrate, open_store
from roamlike.synth.generator import generate
from service.conftest import (
    commit_records,
    metric,
    metric_once_at,
    store_tenant,
    synthetic_client,
)

CATALOG = default_catalog()
SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")


def _scanned(tx: Transaction, tenant: str, sid: str) -> list[tuple[Any, ...]]:
    """The subscriber's events by a scan of every stored event, newest first."""
    rows = tx.execute(
        "SELECT record_id, subscriber_id, received_at, answer_json FROM service_events "
        "WHERE tenant_id = ?",
        (tenant,),
    )
    return sorted((r for r in rows if r[1] == sid), key=lambda r: (r[2], r[0]), reverse=True)


def _bound(tx: Transaction) -> int:
    return int(tx.execute(f"SELECT through FROM {events_index.BOUND}")[0][0])


def test_counts_and_lists_equal_a_scan_before_and_after_each_fold(store_url: str) -> None:
    rnd = random.Random(3)
    names = ["s1", "s2", "s3", "", "s 4"]
    with open_store(store_url) as store:
        acme, other = (
            store_tenant(store, "acme", SYNTH.plans),
            store_tenant(store, "other", SYNTH.plans),
        )
        bounds = set()
        for n in range(8):
            for tenant in (acme, other):
                subs: list[str | None] = [rnd.choice(names) for _ in range(rnd.randint(1, 5))]
                subs.append(None)  # rejected MISSING_FIELD, stored under ""
                commit_records(store, tenant, PLAN["id"], f"g{n}", subs)
            events_index.fold_store(store, 7)  # as the events writer does after a group
            with store.transaction() as tx:
                if store.dialect == "sqlite":
                    bounds.add(_bound(tx))
                for tenant in (acme, other):
                    for sid in [*names, "nobody"]:
                        scanned = _scanned(tx, tenant, sid)
                        assert events_index.events_stored(tx, tenant, sid) == len(scanned)
                        assert events_index.recent_of(tx, tenant, sid, 500) == scanned
                        assert events_index.recent_of(tx, tenant, sid, 3) == scanned[:3]
        listed = recent_events(store, acme, "s1", limit=500)
        with store.transaction() as tx:
            assert [e.record_id for e in listed] == [r[0] for r in _scanned(tx, acme, "s1")]
            if store.dialect == "sqlite":
                # folded more than once, and the table holds exactly the events up to the bound
                assert len(bounds - {0}) > 1
                through = _bound(tx)
                assert sorted(tx.execute(f"SELECT * FROM {events_index.TABLE}")) == sorted(
                    tx.execute(
                        "SELECT tenant_id, subscriber_id, rowid FROM service_events "
                        "WHERE rowid <= ?",
                        (through,),
                    )
                )
                last = tx.execute("SELECT max(rowid) FROM service_events")[0][0]
                assert 0 <= last - through < 7  # folded once 7 are above the bound


def test_a_fold_waits_for_enough_events_above_the_bound(store_url: str) -> None:
    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        commit_records(store, tenant, PLAN["id"], "a", ["s1", "s2", "s1"])
        with store.transaction() as tx:
            if store.dialect != "sqlite":  # PostgreSQL keeps the index: nothing to fold
                assert events_index.fold(tx, 1) == 0
                return
            assert events_index.fold(tx) == 0  # 3 of FOLD_ROWS: not due
            assert _bound(tx) == 0
            assert events_index.fold(tx, 4) == 0
            assert events_index.fold(tx, 3) == 3
            assert _bound(tx) == 3
            assert events_index.fold(tx, 0) == 0  # nothing above the bound
            assert events_index.events_stored(tx, tenant, "s1") == 2


def test_a_store_without_events_folds_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert events_index.fold(tx, 0) == 0
            assert events_index.events_stored(tx, "t", "s") == 0
            assert events_index.recent_of(tx, "t", "s", 5) == []


def _as_version_5_left_it(tx: Transaction) -> None:
    """The store as a roamlike of service version 5 left it: the index, no table."""
    if tx.dialect == "sqlite":
        tx.execute(f"DROP TABLE {events_index.TABLE}")
        tx.execute(f"DROP TABLE {events_index.BOUND}")
        tx.execute(
            "CREATE INDEX service_events_subscriber ON service_events (tenant_id, subscriber_id)"
        )
    tx.execute("DELETE FROM roamlike_schema_version WHERE component = 'service' AND version > 5")


def test_a_store_of_service_version_5_migrates_keeping_every_count(store_url: str) -> None:
    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        commit_records(store, tenant, PLAN["id"], "a", ["s1", "s2", "s1", None])
        with store.transaction() as tx:
            _as_version_5_left_it(tx)
        assert [(m.component, m.version) for m in migrate(store)] == [
            ("service", EVENTS_BY_SUBSCRIBER_VERSION)
        ]
        commit_records(store, tenant, PLAN["id"], "c", ["s1"])
        with store.transaction() as tx:
            for sid, n in (("s1", 3), ("s2", 1), ("s3", 0), ("", 1)):
                assert events_index.events_stored(tx, tenant, sid) == n
                assert events_index.recent_of(tx, tenant, sid, 500) == _scanned(tx, tenant, sid)
            if tx.dialect == "sqlite":
                assert _bound(tx) == 4  # every event of version 5's store folded
                indexes = tx.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
                assert ("service_events_subscriber",) not in indexes


def _wire(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"record_id": f"{tag}{i}", "subscriber_id": f"s{i % 7}", "plan_id": PLAN["id"],
         "event_type": "data", "started_at": f"2026-01-05T10:{i // 60:02d}:{i % 60:02d}Z",
         "utc_offset_min": 60, "home_country": "DE", "visited_country": "FR",
         "volume_bytes": 1_000}
        for i in range(count)
    ]  # fmt: skip


def test_the_events_writer_folds_after_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_index, "CHECK_EVERY", 10)
    monkeypatch.setattr(events_index, "FOLD_ROWS", 25)
    state = str(tmp_path / "s.db")
    with synthetic_client(state, SYNTH) as (client, headers):
        for n in range(6):  # 6 requests of 10: checked after each, folded twice
            response = client.post(
                "/v1/events", json={"records": _wire(10, f"r{n}-")}, headers=headers
            )
            assert response.status_code == 200, response.text
        assert metric_once_at(client, "events_folds", 2) == 2
        assert client.get("/v1/subscribers/s1", headers=headers).json()["events_stored"] == 12
    with open_store(state) as store, store.transaction() as tx:
        assert _bound(tx) == 60  # folded at 30 and at 60 stored


def test_a_failed_fold_is_counted_and_changes_no_answer(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(*_: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(events_index, "CHECK_EVERY", 10)
    monkeypatch.setattr(events_index, "fold_store", fails)
    sqlite = not store_url.startswith("postgresql")
    with synthetic_client(store_url, SYNTH) as (client, headers):
        for n in range(3):
            response = client.post(
                "/v1/events", json={"records": _wire(10, f"r{n}-")}, headers=headers
            )
            assert len(response.json()["rated"]) == 10
        assert metric_once_at(client, "events_folds_failed", 3) == 3
        assert metric(client, "events_folds") == 0
        assert client.get("/v1/subscribers/s0", headers=headers).json()["events_stored"] == 6
    if sqlite:
        with open_store(store_url) as store, store.transaction() as tx:
            assert _bound(tx) == 0
