"""``roamlike.service.written_keys`` on SQLite and on a real PostgreSQL server: every commit
group of the service leaves a row of the ``seq`` values it took and the subscribers it wrote;
a write of another kind (``roamlike rate --state``) is a span no row covers; rows far below
the last ``seq`` are deleted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from roamlike.law import default_catalog
from roamlike.reference import CounterStates
from roamlike.reference.history import SubscriberState
from roamlike.service import events_index, written_keys, written_states
from roamlike.service.state_rows import save_states_rows
from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.state.log import lock_tenant
from roamlike.synth.generator import generate
from service.conftest import commit_records, store_tenant

CATALOG = default_catalog()
SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")


def test_each_commit_group_names_what_it_wrote(store_url: str) -> None:
    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        commit_records(store, tenant, PLAN["id"], "a", ["s1", "s2"])
        commit_records(store, tenant, PLAN["id"], "b", ["s3"])
        commit_records(
            store, tenant, PLAN["id"], "a", ["s1", "s2"]
        )  # retries: nothing written, no row
        with store.transaction() as tx:
            lock_tenant(tx, tenant)  # as rate --state writes (one seq): no row
            save_states_rows(tx, CounterStates({}, {"s9": SubscriberState("FR")}), tenant)
        commit_records(store, tenant, PLAN["id"], "c", ["s2", " s4 "])
        with store.transaction() as tx:
            last = written_keys.last_seq(tx, tenant)
            spans = written_keys.changes(tx, tenant, 0, last)
            assert [names for _, _, names in spans] == [["s1", "s2"], ["s3"], None, ["s2", "s4"]]
            # contiguous, each group's periods, subscribers and days: three seqs
            assert [(a, b) for a, b, _ in spans] == [(1, 3), (4, 6), (7, 7), (8, 10)]
            assert last == 10
            assert written_keys.changes(tx, tenant, 3, 6) == [(4, 6, ["s3"])]
            assert written_keys.changes(tx, tenant, 6, 6) == []
            assert written_keys.untouched(tx, tenant, 7, ["s1", "s3"])
            assert not written_keys.untouched(tx, tenant, 7, ["s4"])
            assert not written_keys.untouched(tx, tenant, 6, ["s1"])  # the unknown write
            assert written_keys.changes(tx, "another tenant", 0, 5) == [(1, 5, None)]


def test_rows_far_below_the_last_seq_are_deleted(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(written_keys, "KEEP_SEQS", 4)
    monkeypatch.setattr(written_keys, "PRUNE_EVERY", 1)
    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        for tag in "abc":
            commit_records(store, tenant, PLAN["id"], tag, ["s1"])
        with store.transaction() as tx:
            rows = tx.execute(
                f"SELECT first_seq, last_seq FROM {written_keys.TABLE} WHERE tenant_id = ? "
                "ORDER BY last_seq",
                (tenant,),
            )
            assert [tuple(map(int, r)) for r in rows] == [(4, 6), (7, 9)]
            # a span asked for from before the rows kept: not known
            assert written_keys.changes(tx, tenant, 0, 9)[0] == (1, 3, None)


def test_old_rows_are_deleted_only_by_a_group_crossing_a_multiple_of_prune_every(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(written_keys, "KEEP_SEQS", 2)
    monkeypatch.setattr(written_keys, "PRUNE_EVERY", 6)

    def kept(store: Store, tenant: str) -> list[tuple[int, ...]]:
        with store.transaction() as tx:
            rows = tx.execute(
                f"SELECT first_seq, last_seq FROM {written_keys.TABLE} WHERE tenant_id = ? "
                "ORDER BY last_seq",
                (tenant,),
            )
        return [tuple(map(int, r)) for r in rows]

    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        # seq 1-3: 3 // 6 == 0 // 6, nothing deleted
        commit_records(store, tenant, PLAN["id"], "a", ["s1"])
        assert kept(store, tenant) == [(1, 3)]
        # seq 4-6 crosses 6: rows up to 6 - 2 go
        commit_records(store, tenant, PLAN["id"], "b", ["s1"])
        assert kept(store, tenant) == [(4, 6)]
        # seq 7-9: no crossing, (4, 6) stays
        commit_records(store, tenant, PLAN["id"], "c", ["s1"])
        assert kept(store, tenant) == [(4, 6), (7, 9)]
        # seq 10-12 crosses 12: up to 10 go
        commit_records(store, tenant, PLAN["id"], "d", ["s1"])
        assert kept(store, tenant) == [(10, 12)]


def test_end_without_begin_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx, pytest.raises(RuntimeError, match="begin"):
            written_keys.Mark("t").end(tx)
        mark = written_keys.Mark("t")
        with store.transaction() as tx:
            mark.begin(tx)
        with store.transaction() as tx, pytest.raises(RuntimeError, match="begin"):
            mark.end(tx)  # begun in another transaction


class _Counted(Transaction):
    """A transaction that keeps the statements it runs."""

    def __init__(self, tx: Transaction) -> None:
        super().__init__(tx.dialect, tx.connection)
        self.statements: list[str] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.statements.append(sql.split()[0])
        return super().execute(sql, params)


def test_the_row_takes_the_seqs_the_writes_took_without_reading_them(store_url: str) -> None:
    """The mark reads no seq: its row is its one statement, spanning the seqs its tenant's
    writes took (another tenant's write in between is not its own)."""
    states = CounterStates({}, {"s1": SubscriberState("FR")})
    seen: list[int] = []
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as plain:
            save_states_rows(plain, states, "t")  # seq 1 of t, unmarked
            tx = _Counted(plain)
            mark, other = written_keys.Mark("t", seen.append), written_keys.Mark("u")
            mark.begin(tx)
            other.begin(tx)
            save_states_rows(tx, states, "t")  # seq 2
            save_states_rows(tx, states, "u")  # u's seq 1
            save_states_rows(tx, states, "t")  # seq 3
            mark.wrote(["s1"])
            tx.statements.clear()
            mark.end(tx)
            assert tx.statements == ["INSERT"]
            assert written_keys.changes(tx, "t", 0, 3) == [(1, 1, None), (2, 3, ["s1"])]
            assert seen == [3]
            other.end(tx)
            assert written_keys.changes(tx, "u", 0, 1) == [(1, 1, [])]
            nothing = written_keys.Mark("t")
            nothing.begin(tx)
            tx.statements.clear()
            nothing.end(tx)  # no write since: no row, no statement
            assert tx.statements == []


def test_a_store_of_service_version_4_migrates_to_5_keeping_its_rows(store_url: str) -> None:
    """Forward-only: a store left by a roamlike of service version 4 gets the table of the
    counters large groups leave (``roamlike.service.written_states``), empty, and keeps its
    written keys' rows."""
    with open_store(store_url) as store:
        tenant = store_tenant(store, "acme", SYNTH.plans)
        commit_records(store, tenant, PLAN["id"], "a", ["s1", "s2"])
        with store.transaction() as tx:  # as a roamlike of service version 4 left it
            tx.execute(f"DROP TABLE {written_states.TABLE}")
            if tx.dialect == "sqlite":  # and without version 6's table of the events' index
                tx.execute(f"DROP TABLE {events_index.TABLE}")
                tx.execute(f"DROP TABLE {events_index.BOUND}")
                tx.execute(
                    "CREATE INDEX service_events_subscriber "
                    "ON service_events (tenant_id, subscriber_id)"
                )
            tx.execute(
                "DELETE FROM roamlike_schema_version WHERE component = 'service' AND version > 4"
            )
        assert [(m.component, m.version) for m in migrate(store)] == [
            ("service", 5),
            ("service", 6),
        ]
        with store.transaction() as tx:
            assert written_keys.changes(tx, tenant, 0, 3) == [(1, 3, ["s1", "s2"])]
            assert tx.execute(f"SELECT * FROM {written_states.TABLE}") == []
