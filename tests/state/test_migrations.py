"""``roamlike.state.migrations``: forward-only schema versions per component, on SQLite and
on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from roamlike.errors import StoreError
from roamlike.state import (
    Store,
    Transaction,
    migrate,
    open_store,
    register_migration,
    require_current,
    status,
)
from roamlike.state import migrations as mig
from roamlike.state.counters import claim_record_ids
from roamlike.state.record_blocks import stored_record_ids


@pytest.fixture
def registry() -> Iterator[dict[str, dict[int, mig.Migration]]]:
    """The migration registry, restored after the test (tests register a ``demo`` component)."""
    mig.load_components()
    saved = {c: dict(v) for c, v in mig._REGISTRY.items()}
    yield mig._REGISTRY
    mig._REGISTRY.clear()
    mig._REGISTRY.update(saved)


def _tables(url: str) -> set[str]:
    with open_store(url) as store, store.transaction() as tx:
        if tx.dialect == "sqlite":
            rows = tx.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = tx.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in rows}


def test_state_component_migrates_from_empty_and_is_current(store_url: str) -> None:
    with open_store(store_url) as store:
        with pytest.raises(StoreError, match="roamlike state init"):
            require_current(store)
        applied = migrate(store)
        assert ("state", 1) in [(m.component, m.version) for m in applied]
        require_current(store)
        assert migrate(store) == []  # idempotent
        current, latest = status(store)["state"]
        assert current == latest >= 1
    assert {"roamlike_schema_version", "state_runs"} <= _tables(store_url)


#: The ``state`` component's latest schema version.
STATE_LATEST = 8


def _forget_versions_after(tx: Transaction, version: int) -> None:
    """The version rows of a store left by a roamlike of ``state`` version ``version``."""
    tx.execute(
        "DELETE FROM roamlike_schema_version WHERE component = 'state' AND version > ?",
        (version,),
    )


def _migrates_from(store: Store, version: int) -> None:
    """A store at ``state`` version ``version`` is refused until migrated, then every later
    step is applied in order and it is current."""
    with pytest.raises(
        StoreError, match=rf"version {version}, this roamlike needs {STATE_LATEST}.*state migrate"
    ):
        require_current(store)
    applied = migrate(store)
    assert [(m.component, m.version) for m in applied] == [
        ("state", v) for v in range(version + 1, STATE_LATEST + 1)
    ]
    require_current(store)


def test_a_store_of_state_version_3_migrates_to_the_latest_keeping_its_rows(
    store_url: str,
) -> None:
    """Forward-only: a store left by a roamlike of state version 3 gets migrations 4 (prunes),
    5 (counter logs), 6 (the logs' index by seq), 7 (packed logs, that index dropped) and 8
    (record-id blocks); its rows stay, and the merged views show them."""
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:  # as a roamlike of state version 3 left it
            tx.execute("DROP TABLE state_record_blocks")
            tx.execute("DROP TABLE state_packs")
            for view in ("state_periods_now", "state_subscribers_now", "state_days_now"):
                tx.execute(f"DROP VIEW {view}")
            for table in (
                "state_periods_log",
                "state_subscribers_log",
                "state_days_log",
                "state_log_seq",
                "state_pruned",
            ):
                tx.execute(f"DROP TABLE {table}")
            _forget_versions_after(tx, 3)
            tx.execute("INSERT INTO state_records (tenant, record_id) VALUES ('', 'r1')")
            tx.execute(
                "INSERT INTO state_subscribers (tenant, subscriber_id, last_visited_country, "
                "last_started_at_us, last_record_id) VALUES ('', 's1', 'FR', 5, 'r1')"
            )
        _migrates_from(store, 3)
        with store.transaction() as tx:
            assert tx.execute("SELECT record_id FROM state_records") == [("r1",)]
            assert tx.execute("SELECT count(*) FROM state_pruned") == [(0,)]
            assert tx.execute("SELECT * FROM state_subscribers_now") == [("", "s1", "FR", 5, "r1")]


def test_each_component_has_its_own_numbering(store_url: str, registry: object) -> None:
    register_migration("demo", 1, "demo table", ["CREATE TABLE demo_a (x BIGINT)"])
    with open_store(store_url) as store:
        migrate(store)
        assert status(store)["demo"] == (1, 1)
        # a later roamlike adds demo 2: only that step is applied, state is untouched
        register_migration(
            "demo",
            2,
            "second table",
            mig.dialect_sql(["CREATE TABLE demo_b (x BLOB)"], ["CREATE TABLE demo_b (x BYTEA)"]),
        )
        assert [(m.component, m.version) for m in migrate(store)] == [("demo", 2)]
        assert status(store)["demo"] == (1 + 1, 2)
        require_current(store, ["state", "demo"])
        with store.transaction() as tx:
            rows = tx.execute(
                "SELECT component, version FROM roamlike_schema_version ORDER BY 1, 2"
            )
        assert ("demo", 1) in rows
        assert ("demo", 2) in rows


def test_migrate_only_named_components(tmp_path: Path, registry: object) -> None:
    register_migration("demo", 1, "demo table", ["CREATE TABLE demo_a (x BIGINT)"])
    with open_store(tmp_path / "s.db") as store:
        assert {m.component for m in migrate(store, ["demo"])} == {"demo"}
        assert status(store)["state"][0] == 0
        with pytest.raises(StoreError, match="'state' is at schema version 0"):
            require_current(store)


def test_a_failing_step_is_applied_not_at_all(store_url: str, registry: object) -> None:
    register_migration(
        "demo", 1, "half good", ["CREATE TABLE demo_a (x BIGINT)", "CREATE TABLE broken ("]
    )
    with open_store(store_url) as store:
        with pytest.raises(StoreError):
            migrate(store, ["demo"])
        assert status(store)["demo"] == (0, 1)
    assert "demo_a" not in _tables(store_url)


def test_a_store_from_a_newer_roamlike_is_refused(store_url: str, registry: object) -> None:
    register_migration("demo", 1, "one", ["CREATE TABLE demo_a (x BIGINT)"])
    register_migration("demo", 2, "two", ["CREATE TABLE demo_b (x BIGINT)"])
    with open_store(store_url) as store:
        migrate(store)
    del registry["demo"][2]  # this (older) roamlike only knows demo 1
    with open_store(store_url) as store, pytest.raises(StoreError, match="upgrade roamlike"):
        migrate(store)


def test_an_applied_step_may_not_be_edited(tmp_path: Path, registry: object) -> None:
    register_migration("demo", 1, "one", ["CREATE TABLE demo_a (x BIGINT)"])
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        registry["demo"][1] = mig.Migration(
            "demo", 1, "one", {"sqlite": ["CREATE TABLE demo_a (y BIGINT)"], "postgresql": []}
        )
        with pytest.raises(StoreError, match="forward-only"):
            status(store)


def test_registration_rules(registry: object) -> None:
    with pytest.raises(StoreError, match="next is 1"):
        register_migration("demo", 2, "skips one", ["SELECT 1"])
    first = register_migration("demo", 1, "one", ["SELECT 1"])
    assert register_migration("demo", 1, "one", ["SELECT 1"]) == first  # re-import is harmless
    with pytest.raises(StoreError, match="twice"):
        register_migration("demo", 1, "one", ["SELECT 2"])
    with pytest.raises(StoreError, match="sqlite and postgresql"):
        register_migration("demo", 2, "sqlite only", {"sqlite": ["SELECT 1"]})


def test_checksum_ignores_whitespace_only() -> None:
    a = mig.Migration("c", 1, "d", {"sqlite": ["SELECT  1\n"], "postgresql": ["SELECT 1"]})
    b = mig.Migration("c", 1, "d", {"sqlite": ["SELECT 1"], "postgresql": ["SELECT 1"]})
    c = mig.Migration("c", 1, "d", {"sqlite": ["SELECT 2"], "postgresql": ["SELECT 1"]})
    assert a.checksum == b.checksum != c.checksum


def _log_indexes(tx: Transaction) -> set[str]:
    if tx.dialect == "sqlite":
        rows = tx.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        rows = tx.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    return {r[0] for r in rows if r[0].endswith("_log_seq")}


def _undo_version_8(tx: Transaction) -> None:
    """The store as a roamlike of ``state`` version 7 left it."""
    tx.execute("DROP TABLE state_record_blocks")
    _forget_versions_after(tx, 7)


def _undo_version_7(tx: Transaction) -> None:
    """The store as a roamlike of ``state`` version 6 left it."""
    _undo_version_8(tx)
    tx.execute("DROP TABLE state_packs")
    for table in ("state_periods", "state_subscribers", "state_days"):
        tx.execute(f"CREATE INDEX {table}_log_seq ON {table}_log (tenant, seq)")
    _forget_versions_after(tx, 6)


def _undo_version_6(tx: Transaction) -> None:
    """The store as a roamlike of ``state`` version 5 left it."""
    _undo_version_7(tx)
    for table in ("state_periods", "state_subscribers", "state_days"):
        tx.execute(f"DROP INDEX {table}_log_seq")
    tx.execute("ALTER TABLE state_log_seq DROP COLUMN folded_seq")
    _forget_versions_after(tx, 5)


def _logged_row(tx: Transaction) -> None:
    tx.execute("INSERT INTO state_log_seq (tenant, seq, log_rows) VALUES ('t', 1, 1)")
    tx.execute(
        "INSERT INTO state_subscribers_log (tenant, seq, subscriber_id, "
        "last_visited_country, last_started_at_us, last_record_id) "
        "VALUES ('t', 1, 's1', 'FR', 5, 'r1')"
    )


def test_a_store_of_state_version_5_migrates_with_folded_seq_and_no_seq_index(
    store_url: str,
) -> None:
    """Forward-only: a store left by a roamlike of state version 5 (log-structured counters)
    gets migration 6 (the highest sequence number folded, 0 until a compaction; the (tenant,
    seq) index of each log) and 7, which drops that index again; its log rows stay and read
    as before."""
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            _undo_version_6(tx)
            _logged_row(tx)
            assert _log_indexes(tx) == set()
        _migrates_from(store, 5)
        with store.transaction() as tx:
            assert _log_indexes(tx) == set()
            assert tx.execute("SELECT * FROM state_subscribers_now") == [("t", "s1", "FR", 5, "r1")]
            assert tx.execute("SELECT seq, log_rows, folded_seq FROM state_log_seq") == [(1, 1, 0)]


def test_a_store_of_state_version_6_migrates_to_7_with_packs_and_without_seq_indexes(
    store_url: str,
) -> None:
    """Migration 7: the (tenant, seq) index of each log of version 6 is dropped (each append
    wrote a second B-tree entry) and the table of packed logs is created, empty; the log rows
    stay and read as before."""
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            _undo_version_7(tx)
            _logged_row(tx)
            assert _log_indexes(tx) == {
                "state_periods_log_seq",
                "state_subscribers_log_seq",
                "state_days_log_seq",
            }
        _migrates_from(store, 6)
        with store.transaction() as tx:
            assert _log_indexes(tx) == set()
            assert tx.execute("SELECT count(*) FROM state_packs") == [(0,)]
            assert tx.execute("SELECT * FROM state_subscribers_now") == [("t", "s1", "FR", 5, "r1")]
            assert tx.execute("SELECT seq, log_rows, folded_seq FROM state_log_seq") == [(1, 1, 0)]


def test_a_store_of_state_version_7_migrates_to_8_and_its_record_ids_stay_known(
    store_url: str,
) -> None:
    """Migration 8: the table of record-id blocks is created, empty; the ids stored as rows
    before stay known, and a claim of ids beyond them is stored as one block (SQLite)."""
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            _undo_version_8(tx)
            tx.execute("INSERT INTO state_records (tenant, record_id) VALUES ('', 'r0001')")
        _migrates_from(store, 7)
        ids = pl.Series([f"r{i:04d}" for i in range(1, 1_501)])
        with store.transaction() as tx:
            assert tx.execute("SELECT count(*) FROM state_record_blocks") == [(0,)]
            assert claim_record_ids(tx, ids).to_list() == ["r0001"]
            assert claim_record_ids(tx, pl.Series([f"s{i:04d}" for i in range(1_500)])).len() == 0
            blocks = tx.execute("SELECT first_id, last_id, ids FROM state_record_blocks")
            assert blocks == ([("s0000", "s1499", 1_500)] if tx.dialect == "sqlite" else [])
            assert stored_record_ids(tx).len() == 3_000
