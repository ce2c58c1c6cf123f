"""The fold of the day logs (``roamlike.state.days_fold``): log rows added up per key onto the
base row by the upsert itself, the latest home country, the latest non-empty regime else the
base row's; on SQLite and on a real PostgreSQL server. (That no reader sees a difference in
any interleaving of writes, compactions and slices is the Hypothesis model of
``test_log.py``.)"""

from __future__ import annotations

from pathlib import Path

from roamlike.state import Store, migrate, open_store
from roamlike.state.days_fold import fold_days_sql
from roamlike.state.log import append_rows, compact, lock_tenant
from roamlike.state.slices import compact_slice, last_seq

_DAY = "2026-03-02"


def _days(store: Store, tenant: str, rows: list[tuple[str, str, int, str]]) -> None:
    """One write of day rows (subscriber, home country, events, regime) of ``_DAY``."""
    with store.transaction() as tx:
        append_rows(
            tx,
            "state_days",
            tenant,
            [
                (s, _DAY, home, n, n * 10, 0, 0, regime, n, n * 100, 0, 0)
                for s, home, n, regime in rows
            ],
        )


def _rows(store: Store, tenant: str, table: str = "state_days") -> dict[str, tuple[object, ...]]:
    """The tenant's day rows of ``_DAY`` in ``table`` (the base table, or the current rows of
    ``state_days_now``), by subscriber."""
    with store.transaction() as tx:
        found = tx.execute(
            "SELECT subscriber_id, home_country, home_events, home_data_bytes, rlah_regime, "
            f"rlah_events, rlah_data_bytes FROM {table} WHERE tenant = ? ORDER BY 1",
            (tenant,),
        )
    return {str(r[0]): tuple(r[1:]) for r in found}


def test_a_fold_adds_the_log_rows_onto_the_base_rows(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        # base rows: a with a regime, b without, c none at all
        _days(store, "t", [("a", "DE", 1, "eu_rlah"), ("b", "DE", 2, "")])
        _days(store, "u", [("a", "FR", 7, "wb_rra")])  # another tenant, never folded here
        with store.transaction() as tx:
            lock_tenant(tx, "t")
            compact(tx, "t")
            # sequence numbers across a change of their number of digits (99, 100, 101…)
            tx.execute("UPDATE state_log_seq SET seq = 98 WHERE tenant = ?", ("t",))
        _days(store, "t", [("a", "AT", 2, "wb_rra"), ("b", "DE", 3, ""), ("c", "DE", 1, "")])
        _days(store, "t", [("a", "BE", 3, ""), ("b", "CH", 1, "wb_rra"), ("c", "FR", 2, "")])
        _days(store, "t", [("a", "CZ", 4, ""), ("c", "IT", 3, "")])
        seen = _rows(store, "t", "state_days_now")
        with store.transaction() as tx:
            lock_tenant(tx, "t")
            assert last_seq(tx, "t") == 101
            done = compact_slice(tx, "t", 101)
        assert done.result.base_rows["state_days"] == 3  # a and b updated, c inserted
        assert _rows(store, "t") == seen
        assert seen == {
            # latest home country; the latest non-empty regime of the log rows
            "a": ("CZ", 10, 100, "wb_rra", 10, 1000),
            # the latest non-empty regime is the last row's
            "b": ("CH", 6, 60, "wb_rra", 6, 600),
            # no regime in any row, none in a base row: empty
            "c": ("IT", 6, 60, "", 6, 600),
        }
        assert _rows(store, "u", "state_days_now") == {"a": ("FR", 7, 70, "wb_rra", 7, 700)}
        # a base row's regime stays when no folded row has one
        _days(store, "t", [("a", "DE", 1, "")])
        with store.transaction() as tx:
            lock_tenant(tx, "t")
            compact(tx, "t")
        assert _rows(store, "t")["a"] == ("DE", 11, 110, "wb_rra", 11, 1100)


def test_the_days_fold_reads_the_log_by_its_key_and_sorts_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path / "state.db") as store:
        migrate(store)
        with store.transaction() as tx:
            plan = tx.execute(
                "EXPLAIN QUERY PLAN "
                + fold_days_sql(
                    "sqlite",
                    "l.tenant = ? AND l.seq <= 9 AND l.subscriber_id > ? AND l.subscriber_id <= ?",
                ),
                ("t", "a", "b"),
            )
    details = [str(row[-1]) for row in plan]
    assert any("state_days_log" in d or "USING PRIMARY KEY" in d for d in details), details
    assert not any("TEMP B-TREE" in d for d in details), details
    assert not any(d.startswith("SCAN") for d in details), details
