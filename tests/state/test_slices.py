"""Compaction in slices (``roamlike.state.slices``): a pass folds the tenant's log rows up to
its bound, a range of subscribers at a time, leaves later rows and other tenants alone, and
records its bound; on SQLite and on a real PostgreSQL server. (That no reader sees a
difference is the Hypothesis model of ``test_log.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.state.log import append_rows, compact, lock_tenant, log_rows, pending_rows
from roamlike.state.schema import LOGGED
from roamlike.state.slices import Slice, compact_slice, last_seq, slice_end


def _write(tx: Transaction, tenant: str, subscribers: list[str], n: int) -> None:
    """One write of each log for ``subscribers`` (three sequence numbers)."""
    append_rows(
        tx,
        "state_periods",
        tenant,
        [(s, "p", "2026-03-01", n, n, n, n, n, 0, 0, 0, 0) for s in subscribers],
    )
    append_rows(tx, "state_subscribers", tenant, [(s, "FR", n, f"r{n}") for s in subscribers])
    append_rows(
        tx,
        "state_days",
        tenant,
        [(s, "2026-03-02", "DE", n, n, n, n, "", 0, 0, 0, 0) for s in subscribers],
    )


def _filled(store: Store) -> None:
    """Tenant ``t``: writes of subscribers a-b, c-d, a-c-e and f (seq 1-12); ``u``: one."""
    migrate(store)
    for n, subs in enumerate([["a", "b"], ["c", "d"], ["a", "c", "e"], ["f"]], start=1):
        with store.transaction() as tx:
            _write(tx, "t", subs, n)
    with store.transaction() as tx:
        _write(tx, "u", ["a"], 9)


def _slice(store: Store, tenant: str, through: int, after: str, rows: int) -> Slice:
    with store.transaction() as tx:
        lock_tenant(tx, tenant)
        return compact_slice(tx, tenant, through, after, rows)


def _rows(store: Store, table: str, tenant: str) -> list[tuple[str, int]]:
    with store.transaction() as tx:
        found = tx.execute(
            f"SELECT subscriber_id, seq FROM {table}_log WHERE tenant = ? ORDER BY 1, 2",
            (tenant,),
        )
    return [(str(s), int(q)) for s, q in found]


def test_a_pass_folds_its_rows_a_range_of_subscribers_at_a_time(store_url: str) -> None:
    with open_store(store_url) as store:
        _filled(store)
        with store.transaction() as tx:
            assert last_seq(tx, "t") == 12
            assert last_seq(tx, "nobody") == 0
            # rows of each log by subscriber: a a b c c d e f; the 3rd after "": b, after b: d
            assert slice_end(tx, "t", "", 3) == "b"
            assert slice_end(tx, "t", "b", 3) == "d"
            assert slice_end(tx, "t", "d", 3) is None  # e, f: fewer
        first = _slice(store, "t", 9, "", 3)  # a pass bound at seq 9: the first three writes
        assert first.last == "b"
        assert first.result.log_rows == {
            "state_periods": 3,
            "state_subscribers": 3,
            "state_days": 3,
        }
        with store.transaction() as tx:  # the bound from the first slice on
            assert tx.execute("SELECT folded_seq FROM state_log_seq WHERE tenant = 't'") == [(9,)]
        with store.transaction() as tx:  # a write during the pass: above its bound
            _write(tx, "t", ["a", "d"], 5)
        second = _slice(store, "t", 9, "b", 3)
        assert second.last == "d"
        third = _slice(store, "t", 9, "d", 3)
        assert third.last is None  # the pass is done
        # left: each subscriber's rows above the bound (f's write, seq 10-12; the new write)
        assert _rows(store, "state_periods", "t") == [("a", 13), ("d", 13), ("f", 10)]
        assert _rows(store, "state_days", "t") == [("a", 15), ("d", 15), ("f", 12)]
        assert _rows(store, "state_periods", "u") == [("a", 1)]  # another tenant: untouched
        with store.transaction() as tx:
            assert pending_rows(tx, "t") == 9 == sum(log_rows(tx, "t").values())
            assert log_rows(tx, "u") == dict.fromkeys(LOGGED, 1)


def test_a_whole_compaction_records_the_last_seq_as_folded(store_url: str) -> None:
    with open_store(store_url) as store:
        _filled(store)
        with store.transaction() as tx:
            assert compact(tx, "t").through == 12
            assert tx.execute("SELECT folded_seq FROM state_log_seq WHERE tenant = 't'") == [(12,)]
            assert compact(tx, "nobody").through == 0
        # a pass with a lower bound leaves the recorded bound as it was
        assert _slice(store, "t", 5, "", 100).last is None
        with store.transaction() as tx:
            assert tx.execute("SELECT folded_seq FROM state_log_seq WHERE tenant = 't'") == [(12,)]


def test_a_slice_of_no_rows_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx, pytest.raises(ValueError, match="at least one row"):
            compact_slice(tx, "t", 1, "", 0)


def test_a_slice_reads_the_logs_by_their_key(tmp_path: Path) -> None:
    """SQLite's plan of each statement of a slice that reads a log takes a range of the log's
    primary key (its neighbouring rows), never the tenant's whole log."""
    with open_store(tmp_path / "s.db") as store:
        _filled(store)
        run: list[str] = []
        with store.transaction() as tx:
            tx.connection.set_trace_callback(run.append)  # each statement, values bound
            compact_slice(tx, "t", 12, "b", 3)
            tx.connection.set_trace_callback(None)
            reads = [sql for sql in run if "_log" in sql and "state_log_seq" not in sql]
            assert len(reads) == 3 * len(LOGGED)  # the slice's end, then a fold and a delete
            for sql in reads:
                plan = " ".join(str(r[3]) for r in tx.execute(f"EXPLAIN QUERY PLAN {sql}"))
                assert "PRIMARY KEY (tenant=? AND subscriber_id>?" in plan, (sql, plan)
