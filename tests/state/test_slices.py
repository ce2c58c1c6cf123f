"""Compaction in slices (``roamlike.state.slices``): a slice folds the tenant's log rows up to
a sequence number found through the logs' (tenant, seq) index, never splits one write, leaves
other tenants and later rows alone, and records what it folded; on SQLite and on a real
PostgreSQL server. (That no reader sees a difference is the Hypothesis model of
``test_log.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.state.log import append_rows, compact, lock_tenant, log_rows, pending_rows
from roamlike.state.schema import LOGGED
from roamlike.state.slices import compact_slice, slice_bound


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
    """Tenant ``t``: writes of 2, 2, 3 and 1 subscribers (seq 1-12); tenant ``u``: one."""
    migrate(store)
    for n, subs in enumerate([["a", "b"], ["c", "d"], ["a", "c", "e"], ["f"]], start=1):
        with store.transaction() as tx:
            _write(tx, "t", subs, n)
    with store.transaction() as tx:
        _write(tx, "u", ["a"], 9)


def _folded(store: Store, tenant: str, rows: int) -> tuple[int, dict[str, int], int]:
    with store.transaction() as tx:
        lock_tenant(tx, tenant)
        done = compact_slice(tx, tenant, rows)
        [(folded,)] = tx.execute("SELECT folded_seq FROM state_log_seq WHERE tenant = ?", (tenant,))
        return done.through, done.log_rows, int(folded)


def test_a_slice_folds_the_oldest_rows_up_to_a_bound_and_records_it(store_url: str) -> None:
    with open_store(store_url) as store:
        _filled(store)
        with store.transaction() as tx:
            # the 3rd oldest row of each log: of the second write (seq 4, 5, 6); the least
            assert slice_bound(tx, "t", 3) == 4
            assert slice_bound(tx, "t", 5) == 7  # the third write's periods (seq 7)
            assert slice_bound(tx, "t", 100) == 12  # fewer rows: every log whole
            assert slice_bound(tx, "nobody", 3) is None
        through, read, folded = _folded(store, "t", 3)
        # seq 1-4: the first write whole and the second's periods; never half a write
        assert (through, folded) == (4, 4)
        assert read == {"state_periods": 4, "state_subscribers": 2, "state_days": 2}
        with store.transaction() as tx:
            assert log_rows(tx, "t") == {
                "state_periods": 4,
                "state_subscribers": 6,
                "state_days": 6,
            }
            assert pending_rows(tx, "t") == 16
            assert log_rows(tx, "u") == dict.fromkeys(LOGGED, 1)  # another tenant: untouched
            [(seq,)] = tx.execute("SELECT min(seq) FROM state_subscribers_log WHERE tenant = 't'")
            assert seq == 5
        # the rest: 16 rows, through the last seq
        assert _folded(store, "t", 100) == (
            12,
            {"state_periods": 4, "state_subscribers": 6, "state_days": 6},
            12,
        )
        with store.transaction() as tx:
            assert pending_rows(tx, "t") == 0
            assert compact_slice(tx, "t").through == 0  # empty logs: nothing to do


def test_a_whole_compaction_records_the_last_seq_as_folded(store_url: str) -> None:
    with open_store(store_url) as store:
        _filled(store)
        with store.transaction() as tx:
            assert compact(tx, "t").through == 12
            assert tx.execute("SELECT folded_seq FROM state_log_seq WHERE tenant = 't'") == [(12,)]
            assert compact(tx, "nobody").through == 0


def test_a_slice_of_no_rows_is_refused(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx, pytest.raises(ValueError, match="at least one row"):
            compact_slice(tx, "t", 0)


def test_a_slice_reads_the_logs_through_their_seq_index(tmp_path: Path) -> None:
    """SQLite's plan of each statement of a slice that reads a log takes the log's (tenant,
    seq) index, never the tenant's whole log by its key (which a slice of a large log cannot
    afford)."""
    with open_store(tmp_path / "s.db") as store:
        _filled(store)
        run: list[str] = []
        with store.transaction() as tx:
            tx.connection.set_trace_callback(run.append)  # each statement, values bound
            compact_slice(tx, "t", 3)
            tx.connection.set_trace_callback(None)
            reads = [sql for sql in run if "_log" in sql and "state_log_seq" not in sql]
            assert len(reads) == 3 + 2 * len(LOGGED)  # bounds, then a fold and a delete each
            for sql in reads:
                plan = " ".join(str(r[3]) for r in tx.execute(f"EXPLAIN QUERY PLAN {sql}"))
                for table in LOGGED:
                    if f"FROM {table}_log l" in sql or f"FROM {table}_log WHERE" in sql:
                        assert f"{table}_log_seq (tenant=?" in plan, (sql, plan)
