"""Packed logs (``roamlike.state.packs``, docs/state.md "Packed logs"): a write's rows of one
counters log in one row of ``state_packs``, read as the log rows they stand for, unpacked
into the row logs by the SQL readers and by compaction; on SQLite and on a real PostgreSQL
server. The Hypothesis model of any interleaving of packed and row writes, compactions and
slices is in ``test_log.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from test_log import _counters, _days

from roamlike.state import Transaction, migrate, open_store
from roamlike.state import packs as packs_module
from roamlike.state.counters import load_counters, save_counters, stored_counters
from roamlike.state.days import DAYS_OF_RATED_COLUMNS
from roamlike.state.log import append, compact, lock_tenant, log_rows, pending_rows
from roamlike.state.packs import (
    append_pack,
    has_packs,
    pack_rows,
    packed_rows,
    prepare_pack,
    readable,
    unpack,
)
from roamlike.state.slices import compact_slice, last_seq

MARCH, APRIL = dt.date(2026, 3, 1), dt.date(2026, 4, 1)


def _views(tx: Transaction, tenant: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: tx.execute(f"SELECT * FROM {t}_now WHERE tenant = ? ORDER BY 2, 3, 4", (tenant,))
        for t in ("state_periods", "state_subscribers", "state_days")
    }


def _write(tx: Transaction, tenant: str, packed: bool, value: int) -> None:
    """The same counters and days, as packs or as log rows."""
    counters = _counters([("a", "p", MARCH, value), ("b", "p", APRIL, value + 1)])
    days = _days(tenant, [("a", "2026-03-02", value, "eu_rlah"), ("c", "2026-03-03", 1, "")])
    periods, subscribers = stored_counters(counters, tenant)
    write = append_pack if packed else append
    write(tx, "state_periods", periods)
    write(tx, "state_subscribers", subscribers)
    write(tx, "state_days", days)


def test_packs_read_as_the_log_rows_they_stand_for(store_url: str) -> None:
    """A tenant written with packs and one written with log rows (the same writes, a packed one
    between two of rows) read the same, through ``load_counters`` and the views."""
    with open_store(store_url) as store:
        migrate(store)
        for tenant, packed in (("rows", False), ("packs", True)):
            with store.transaction() as tx:
                _write(tx, tenant, False, 10)
                _write(tx, tenant, packed, 20)
                _write(tx, tenant, False, 30)
                _write(tx, tenant, packed, 40)
        with store.transaction() as tx:
            assert has_packs(tx, "packs")
            assert not has_packs(tx, "rows")
            assert packed_rows(tx, "packs") == 2 * (2 + 2 + 2)
            assert pending_rows(tx, "packs") == pending_rows(tx, "rows") == 24
            loaded = {
                t: load_counters(tx, pl.Series(["a", "b", "x"]), t, since=APRIL)
                for t in ("rows", "packs")
            }
            assert loaded["packs"].periods.rows() == loaded["rows"].periods.rows()
            assert loaded["packs"].periods.get_column("period_start").to_list() == [APRIL]
            assert loaded["packs"].subscribers.rows() == loaded["rows"].subscribers.rows()
            assert loaded["packs"].subscribers.get_column("last_record_id").to_list() == [
                "r40",
                "r41",
            ]
            readable(tx, "packs")  # unpacked into the row logs under their own seq
            assert not has_packs(tx, "packs")
            assert log_rows(tx, "packs") == log_rows(tx, "rows")
            assert pending_rows(tx, "packs") == 24
            assert _views(tx, "packs") == {
                t: [("packs", *r[1:]) for r in rows] for t, rows in _views(tx, "rows").items()
            }
            days = _views(tx, "packs")["state_days"]
            assert [(r[1], r[2], r[4], r[8]) for r in days] == [
                ("a", "2026-03-02", 100, "eu_rlah"),
                ("c", "2026-03-03", 4, ""),
            ]


def test_a_whole_compaction_folds_packs_and_readers_see_the_same(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            _write(tx, "t", True, 10)
            _write(tx, "t", False, 20)
            _write(tx, "t", True, 30)
        with store.transaction() as tx:
            before = load_counters(tx, pl.Series(["a", "b"]), "t")
            readable(tx, "t")
            views = _views(tx, "t")
        with store.transaction() as tx:
            _write(tx, "t", True, 40)  # a pack again, folded by the compaction
            _write(tx, "t", False, 30)  # and the counters as they were
            result = compact(tx, "t")
            assert sum(result.log_rows.values()) == 30
            assert (has_packs(tx, "t"), pending_rows(tx, "t")) == (False, 0)
            assert set(log_rows(tx, "t").values()) == {0}
            after = load_counters(tx, pl.Series(["a", "b"]), "t")
            assert after.periods.rows() == before.periods.rows()
            assert after.subscribers.rows() == before.subscribers.rows()
            later = _views(tx, "t")
            assert later["state_periods"] == views["state_periods"]
            assert [r[:4] for r in later["state_days"]] == [r[:4] for r in views["state_days"]]


def test_a_slice_unpacks_the_packs_within_its_pass_s_bound_only(store_url: str) -> None:
    """Packs fold whole: the first slice of a pass unpacks those of seq at most its bound into
    the row logs; a pack written after the pass started stays packed."""
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            _write(tx, "t", True, 10)
            _write(tx, "t", False, 20)
        with store.transaction() as tx:
            through = last_seq(tx, "t")
        with store.transaction() as tx:
            _write(tx, "t", True, 30)  # after the pass's bound
        with store.transaction() as tx:
            before = load_counters(tx, pl.Series(["a", "b"]), "t")
            lock_tenant(tx, "t")
            done = compact_slice(tx, "t", through, "", 1)
            assert done.last == "a"
            [(kept,)] = tx.execute("SELECT count(*) FROM state_packs WHERE tenant = 't'")
            assert kept == 3  # the three packs of the write after the bound
            assert [s for (s,) in tx.execute("SELECT seq FROM state_packs")] == [7, 8, 9]
            after = load_counters(tx, pl.Series(["a", "b"]), "t")
            assert after.periods.rows() == before.periods.rows()
            assert after.subscribers.rows() == before.subscribers.rows()


def test_a_pack_of_no_rows_writes_nothing_and_rows_of_two_tenants_are_refused(
    store_url: str,
) -> None:
    frame = _days("t", [("a", "2026-03-02", 1, "")])
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert append_pack(tx, "state_days", frame.clear()) == 0
            assert (has_packs(tx, "t"), last_seq(tx, "t")) == (False, 0)
            assert unpack(tx, "t") == 0
            readable(tx, "t")  # nothing to unpack: no write
    with pytest.raises(ValueError, match="one tenant, not of 2"):
        prepare_pack("state_days", pl.concat([frame, _days("u", [("a", "2026-03-02", 1, "")])]))


def test_decoded_packs_are_kept_by_pack_id(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack is read (its bytes fetched and decoded) once per process; a later read takes
    the frame kept, up to ``CACHE_PACKS`` packs."""
    decoded: list[str] = []
    real = packs_module._decoded

    def counting(pack_id: str, data: object) -> pl.DataFrame:
        decoded.append(pack_id)
        return real(pack_id, data)

    monkeypatch.setattr(packs_module, "_decoded", counting)
    monkeypatch.setattr(packs_module, "CACHE_PACKS", 1)
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, _counters([("a", "p", MARCH, 1)]), "t")
            _write(tx, "t", True, 10)
            first = pack_rows(tx, "state_days", "t")
            again = pack_rows(tx, "state_days", "t", pl.Series(["c"]))
            assert len(decoded) == 1
            assert again.rows() == first.filter(pl.col("subscriber_id") == "c").rows()
            pack_rows(tx, "state_periods", "t")  # the only place taken by another pack
            pack_rows(tx, "state_days", "t")
            assert len(decoded) == 3


def _rated(more: int = 0) -> pl.DataFrame:
    """Rated records (the columns ``days_of_rated`` reads): two subscribers over two days, at
    home, roaming at domestic prices under two regimes, and roaming outside the area."""
    rows = [
        ("a", "DE", "data", dt.date(2026, 3, 2), "domestic", "domestic", 1_000, None, None),
        ("a", "DE", "voice_mo", dt.date(2026, 3, 2), "rlah", "eu_rlah", None, 60, None),
        ("a", "DE", "sms_mo", dt.date(2026, 3, 2), "rlah", "eu_rlah", None, None, None),
        ("a", "DE", "data", dt.date(2026, 3, 3), "rlah", "wb_rra", 5_000 + more, None, None),
        ("b", "RS", "sms_mt", dt.date(2026, 3, 2), "unregulated", "unregulated", None, None, 3),
        ("a", "DE", "data", dt.date(2026, 3, 3), "rlah", "eu_rlah", 7, None, None),
        ("b", "RS", "voice_mt", dt.date(2026, 3, 2), "domestic", "domestic", None, 30, None),
    ]
    # in the order of DAYS_OF_RATED_COLUMNS
    return pl.DataFrame(rows, schema=list(DAYS_OF_RATED_COLUMNS), orient="row").with_columns(
        pl.col(c).cast(pl.Int64) for c in ("volume_bytes", "duration_s", "count")
    )


def test_a_days_pack_of_records_reads_as_the_day_rows_of_those_records(store_url: str) -> None:
    """``prepare_days_pack`` holds a run's rated records, not their days: read, unpacked and
    compacted, it is the rows ``days_of_rated`` gives of the same records, counted alike."""
    from roamlike.state.days import days_of_rated

    rated = _rated()
    days = days_of_rated(rated, "rows")
    assert days.height == 3
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            append(tx, "state_days", days)
            pack = packs_module.prepare_days_pack(rated, "packs")
            assert (pack.table, pack.tenant, pack.rows) == ("state_days", "packs", 3)
            packs_module.write_pack(tx, pack)
            assert pending_rows(tx, "packs") == pending_rows(tx, "rows") == 3
            assert packed_rows(tx, "packs") == 3
            got = pack_rows(tx, "state_days", "packs").drop("seq")
            assert got.sort("subscriber_id", "day").rows() == days.drop("tenant").rows()
        with store.transaction() as tx:
            readable(tx, "packs")
            assert _views(tx, "packs")["state_days"] == [
                ("packs", *row[1:]) for row in _views(tx, "rows")["state_days"]
            ]
        with store.transaction() as tx:
            packs_module.write_pack(tx, packs_module.prepare_days_pack(_rated(1), "packs"))
            append(tx, "state_days", days_of_rated(_rated(1), "rows"))
        with store.transaction() as tx:
            for tenant in ("rows", "packs"):
                compact(tx, tenant)
            assert not has_packs(tx, "packs")
            rows, packed = _views(tx, "rows")["state_days"], _views(tx, "packs")["state_days"]
            assert packed == [("packs", *row[1:]) for row in rows]
            # two files' records of one day add up; the day's regime is its last record's
            [day] = [r for r in rows if r[1] == "a" and r[2] == "2026-03-03"]
            assert (day[4], day[8], day[9], day[10]) == (0, "eu_rlah", 4, 5_007 + 5_008)


def test_a_days_pack_of_no_records_writes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            pack = packs_module.prepare_days_pack(_rated().head(0), "packs")
            assert pack.rows == 0
            assert packs_module.write_pack(tx, pack) == 0
            assert not has_packs(tx, "packs")
