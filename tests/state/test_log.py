"""Log-structured counters (``roamlike.state.log``, docs/state.md "Log-structured counters"):
writes append to the logs, reads merge base and log, compaction folds the logs into the base
tables without changing what any reader sees; on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.state.counters import load_counters, save_counters, stored_counters
from roamlike.state.days import save_days
from roamlike.state.log import (
    append_rows,
    compact,
    compact_store,
    lock_tenant,
    log_rows,
    pending_rows,
    watch_seqs,
)
from roamlike.state.packs import append_pack, packed_rows, readable
from roamlike.state.schema import LOGGED, columns
from roamlike.state.slices import compact_slice, last_seq

runner = CliRunner()
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PERIOD_KEY = ["subscriber_id", "plan_id", "period_start"]
TEXT_DAY_COLUMNS = ("tenant", "subscriber_id", "day", "home_country", "rlah_regime")


def _counters(rows: list[tuple[str, str, dt.date, int]]) -> Counters:
    """Periods (subscriber, plan, start, value): the value in every counter, flags from it;
    the subscriber's last event at ``value`` seconds after 1970."""
    periods = pl.DataFrame(
        [
            (s, p, d, v, v + 1, v + 2, v + 3, v + 4, v % 2 == 0, v % 3 == 0, False, True)
            for s, p, d, v in rows
        ],
        schema=PERIOD_SCHEMA,
        orient="row",
    )
    last = {s: v for s, _, _, v in rows}
    subs = pl.DataFrame(
        [
            (s, "FR" if v % 2 else None, EPOCH + dt.timedelta(seconds=v), f"r{v}")
            for s, v in sorted(last.items())
        ],
        schema=SUBSCRIBER_SCHEMA,
        orient="row",
    )
    return Counters(periods=periods, subscribers=subs)


def _days(tenant: str, rows: list[tuple[str, str, int, str]]) -> pl.DataFrame:
    """Day rows (subscriber, day, events, regime): ``events`` in every counter column."""
    return pl.DataFrame(
        [
            (tenant, s, d, f"H{n % 3}", n, n * 10, n * 2, n, regime, n, n * 100, n * 3, n)
            for s, d, n, regime in rows
        ],
        schema=dict.fromkeys(columns("state_days"), pl.Int64)
        | dict.fromkeys(
            ("tenant", "subscriber_id", "day", "home_country", "rlah_regime"), pl.String
        ),
        orient="row",
    ).select(columns("state_days"))


def _view(tx: Transaction, table: str, tenant: str) -> list[tuple[Any, ...]]:
    order = ", ".join(LOGGED[table][1:])
    return tx.execute(f"SELECT * FROM {table}_now WHERE tenant = ? ORDER BY {order}", (tenant,))


class _UndoError(Exception):
    """Raised to roll a reader's transaction back."""


def _snapshot(store: Store, tenant: str, subscribers: list[str]) -> dict[str, Any]:
    """Everything a reader sees of a tenant: ``load_counters`` (which reads packs as they
    are) and the merged views (after :func:`readable` unpacked the packs, undone after the
    read: the store keeps its packs for the next steps)."""
    seen: dict[str, Any] = {}
    with contextlib.suppress(_UndoError), store.transaction() as tx:
        loaded = load_counters(tx, pl.Series(subscribers, dtype=pl.String), tenant)
        readable(tx, tenant)
        seen = {
            "views": {
                t: _view(tx, t, tenant)
                for t in ("state_periods", "state_subscribers", "state_days")
            },
            "periods": loaded.periods.sort(PERIOD_KEY).rows(),
            "subscribers": loaded.subscribers.sort("subscriber_id").rows(),
        }
        raise _UndoError
    return seen


def test_reads_merge_base_and_log_and_compaction_changes_nothing_readers_see(
    store_url: str,
) -> None:
    march, april = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:  # base rows: written, then folded
            save_counters(tx, _counters([("a", "p", march, 10), ("b", "p", march, 20)]), "t")
            save_days(
                tx, _days("t", [("a", "2026-03-02", 1, "eu_rlah"), ("b", "2026-03-02", 2, "")])
            )
            compact(tx, "t")
            assert set(log_rows(tx, "t").values()) == {0}
        with store.transaction() as tx:  # then two runs' logs over them
            save_counters(tx, _counters([("a", "p", march, 11), ("a", "p", april, 5)]), "t")
            save_counters(tx, _counters([("a", "p", march, 12)]), "t")
            save_days(
                tx, _days("t", [("a", "2026-03-02", 4, ""), ("c", "2026-03-03", 1, "wb_rra")])
            )
            save_days(tx, _days("t", [("a", "2026-03-02", 5, "wb_rra")]))
            save_counters(tx, _counters([("a", "p", march, 99)]), "other")  # another tenant
        before = _snapshot(store, "t", ["a", "b", "c"])
        # the latest row of each key wins; a key only in the base keeps its base row
        assert (
            before["periods"]
            == _counters([("a", "p", march, 12), ("a", "p", april, 5), ("b", "p", march, 20)])
            .periods.sort(PERIOD_KEY)
            .rows()
        )
        assert [r[-1] for r in before["subscribers"]] == ["r12", "r20"]
        # days add up over base and log; the latest non-empty regime and latest home country
        days = {
            (r[1], r[2]): dict(zip(columns("state_days"), r, strict=True))
            for r in before["views"]["state_days"]
        }
        assert days["a", "2026-03-02"]["home_events"] == 1 + 4 + 5
        assert days["a", "2026-03-02"]["rlah_data_bytes"] == 100 * (1 + 4 + 5)
        assert days["a", "2026-03-02"]["rlah_regime"] == "wb_rra"
        assert days["a", "2026-03-02"]["home_country"] == "H2"
        assert days["b", "2026-03-02"]["rlah_regime"] == ""
        assert days["c", "2026-03-03"]["rlah_events"] == 1
        with store.transaction() as tx:
            result = compact(tx, "t")
            assert set(log_rows(tx, "t").values()) == {0}
            assert log_rows(tx, "other")["state_periods"] == 1  # another tenant's log stays
            base = tx.execute(
                "SELECT * FROM state_days WHERE tenant = 't' ORDER BY subscriber_id, day"
            )
        assert result.log_rows == {"state_periods": 3, "state_subscribers": 2, "state_days": 3}
        assert result.base_rows == {"state_periods": 2, "state_subscribers": 1, "state_days": 2}
        assert _snapshot(store, "t", ["a", "b", "c"]) == before
        assert base == before["views"]["state_days"]
        # the store-wide compaction folds the other tenant's log; t's is empty: left alone
        assert [(r.tenant, r.log_rows["state_periods"]) for r in compact_store(store)] == [
            ("other", 1)
        ]
        assert _snapshot(store, "t", ["a", "b", "c"]) == before


def test_load_counters_of_many_subscribers_reads_base_and_log(store_url: str) -> None:
    """Enough subscribers for the temporary key table (``bulk.keys_table``)."""
    march = dt.date(2026, 3, 1)
    subs = [f"s{i:04d}" for i in range(600)]
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, _counters([(s, "p", march, i) for i, s in enumerate(subs)]), "")
            compact(tx, "")
            save_counters(
                tx,
                _counters([(s, "p", march, 1000 + i) for i, s in enumerate(subs) if i % 3 == 0]),
                "",
            )
            got = load_counters(tx, pl.Series([*subs, "nobody"]), "")
    expected = _counters(
        [(s, "p", march, 1000 + i if i % 3 == 0 else i) for i, s in enumerate(subs)]
    )
    assert got.periods.sort(PERIOD_KEY).equals(expected.periods.sort(PERIOD_KEY))
    assert got.subscribers.sort("subscriber_id").equals(expected.subscribers)


# --- any interleaving of writes and compactions = a model without logs -----------------------

_SUBS = st.sampled_from(["a", "b", "c", "d"])
_WRITE = st.one_of(
    st.tuples(
        st.sampled_from(["counters", "packed counters"]),
        st.dictionaries(
            st.tuples(
                _SUBS,
                st.sampled_from(["p", "q"]),
                st.sampled_from([dt.date(2026, 3, 1), dt.date(2026, 4, 1)]),
            ),
            st.integers(0, 10**6),
            min_size=1,
            max_size=5,
        ),
    ),
    st.tuples(
        st.sampled_from(["days", "packed days"]),
        st.dictionaries(
            st.tuples(_SUBS, st.sampled_from(["2026-03-01", "2026-03-02"])),
            st.tuples(st.integers(0, 50), st.sampled_from(["", "eu_rlah", "wb_rra"])),
            min_size=1,
            max_size=5,
        ),
    ),
    st.tuples(st.just("compact"), st.none()),
    st.tuples(st.just("slice"), st.integers(1, 6)),  # about that many rows of each log
)


def _model(ops: list[tuple[str, Any]]) -> dict[str, Any]:
    """The reader's view computed without any store: latest row per key; days added up."""
    periods: dict[tuple[Any, ...], int] = {}
    last: dict[str, int] = {}
    days: dict[tuple[str, str], list[Any]] = {}
    for kind, arg in ops:
        if kind.endswith("counters"):
            periods.update(arg)
            for (s, _, _), v in arg.items():  # _counters: a subscriber's last row, its event
                last[s] = v
        elif kind.endswith("days"):
            for (s, d), (n, regime) in arg.items():
                day = days.setdefault((s, d), [None, 0, ""])
                day[0] = f"H{n % 3}"
                day[1] += n
                day[2] = regime or day[2]
    return {
        "periods": _counters([(*k, v) for k, v in periods.items()]).periods.sort(PERIOD_KEY).rows()
        if periods
        else [],
        "last": sorted((s, f"r{v}") for s, v in last.items()),
        "days": sorted((s, d, h, n, r) for (s, d), (h, n, r) in days.items()),
    }


def _apply(store: Store, tenant: str, ops: list[tuple[str, Any]]) -> dict[str, Any]:
    """Run ``ops`` (writes, whole compactions, slices), each in a transaction of its own, and
    require after each what a reader sees to be the model's; what readers see at the end.
    Slices make passes: a pass's bound is the last ``seq`` when its first slice runs, its
    slices go on after the last subscriber folded, whatever is written in between."""
    under_way: tuple[int, str] | None = None  # a pass's bound and last subscriber folded
    for i, (kind, arg) in enumerate(ops):
        with store.transaction() as tx:
            if kind == "counters":
                save_counters(tx, _counters([(*k, v) for k, v in arg.items()]), tenant)
            elif kind == "packed counters":
                for table, frame in zip(
                    ("state_periods", "state_subscribers"),
                    stored_counters(_counters([(*k, v) for k, v in arg.items()]), tenant),
                    strict=True,
                ):
                    append_pack(tx, table, frame)
            elif kind == "days":
                save_days(tx, _days(tenant, [(s, d, n, r) for (s, d), (n, r) in arg.items()]))
            elif kind == "packed days":
                days = _days(tenant, [(s, d, n, r) for (s, d), (n, r) in arg.items()])
                append_pack(tx, "state_days", days)
            elif kind == "slice":
                lock_tenant(tx, tenant)
                through, after = under_way or (last_seq(tx, tenant), "")
                done = compact_slice(tx, tenant, through, after, arg)
                under_way = None if done.last is None else (through, done.last)
            else:
                compact(tx, tenant)
            assert pending_rows(tx, tenant) == sum(log_rows(tx, tenant).values()) + packed_rows(
                tx, tenant
            )
        if i + 1 < len(ops):
            assert _seen(store, tenant) == _model(ops[: i + 1])
    return _seen(store, tenant)


def _seen(store: Store, tenant: str) -> dict[str, Any]:
    """What readers see of the tenant, in the model's terms."""
    seen = _snapshot(store, tenant, ["a", "b", "c", "d"])
    return {
        "periods": seen["periods"],
        "last": sorted((r[0], r[3]) for r in seen["subscribers"]),
        "days": sorted((r[1], r[2], r[3], r[4], r[8]) for r in seen["views"]["state_days"]),
    }


INTERLEAVINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@INTERLEAVINGS
@given(ops=st.lists(_WRITE, max_size=8))
def test_any_interleaving_of_writes_compactions_and_slices_reads_as_a_store_without_logs(
    tmp_path: Path, ops: list[tuple[str, Any]]
) -> None:
    with open_store(tmp_path / "state.db") as store:
        migrate(store)
        tenant = uuid.uuid4().hex
        assert _apply(store, tenant, ops) == _model(ops)
        with store.transaction() as tx:
            compact(tx, tenant)
        assert _apply(store, tenant, []) == _model(ops)


@pytest.mark.postgres
@settings(INTERLEAVINGS, max_examples=10)
@given(ops=st.lists(_WRITE, max_size=8))
def test_any_interleaving_of_writes_compactions_and_slices_reads_as_a_store_without_logs_pg(
    pg_url: str, ops: list[tuple[str, Any]]
) -> None:
    with open_store(pg_url) as store:
        migrate(store)
        tenant = uuid.uuid4().hex
        assert _apply(store, tenant, ops) == _model(ops)


def test_state_compact_command_folds_the_logs(store_url: str) -> None:
    march = dt.date(2026, 3, 1)
    with open_store(store_url) as store:
        migrate(store)
        result = runner.invoke(app, ["state", "compact", "--state", store_url])
        assert result.exit_code == 0, result.output
        assert "nothing to compact" in " ".join(result.output.split())
        with store.transaction() as tx:
            save_counters(tx, _counters([("a", "p", march, 1)]), "")
            save_counters(tx, _counters([("a", "p", march, 2)]), "")
        before = _snapshot(store, "", ["a"])
    result = runner.invoke(app, ["state", "compact", "--state", store_url, "--json"])
    assert result.exit_code == 0, result.output
    [done] = json.loads(result.output)["compacted"]
    assert done["tenant"] == ""
    assert done["log_rows"]["state_periods"] == 2
    assert done["base_rows_written"]["state_periods"] == 1
    with open_store(store_url) as store:
        assert _snapshot(store, "", ["a"]) == before
        with store.transaction() as tx:
            assert set(log_rows(tx).values()) == {0}


def test_state_compact_on_a_missing_store_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["state", "compact", "--state", str(tmp_path / "none.db")])
    assert result.exit_code == 3
    assert "roamlike state init" in result.output


def test_pending_rows_count_the_logs_until_compaction_and_set_when_it_runs(
    store_url: str,
) -> None:
    march = dt.date(2026, 3, 1)
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, _counters([("a", "p", march, 1), ("b", "p", march, 2)]), "t")
            save_days(tx, _days("t", [("a", "2026-03-02", 1, "")]))
            assert pending_rows(tx, "t") == 2 + 2 + 1 == sum(log_rows(tx, "t").values())
            assert pending_rows(tx, "nobody") == 0
        assert compact_store(store, "t", min_rows=5) == []  # 5 rows: not more than 5
        with store.transaction() as tx:
            assert pending_rows(tx, "t") == 5
        [done] = compact_store(store, "t", min_rows=4)
        assert sum(done.log_rows.values()) == 5
        with store.transaction() as tx:
            assert pending_rows(tx, "t") == 0
            assert set(log_rows(tx, "t").values()) == {0}


def test_a_watched_transaction_keeps_the_seqs_its_writes_take(store_url: str) -> None:
    march = dt.date(2026, 3, 1)
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_days(tx, _days("t", [("a", "2026-03-02", 1, "")]))  # seq 1, not watched
            assert tx.seqs is None
            assert watch_seqs(tx) == 0
            save_counters(tx, _counters([("a", "p", march, 1)]), "t")  # periods, subscribers
            save_days(tx, _days("u", [("a", "2026-03-02", 1, "")]))
            assert append_rows(tx, "state_days", "t", []) == 0  # no row: no seq
            assert watch_seqs(tx) == 3  # watched already: the position of the next
            save_days(tx, _days("t", [("b", "2026-03-02", 2, "")]))
            assert tx.seqs == [("t", 2), ("t", 3), ("u", 1), ("t", 4)]
        with store.transaction() as tx:
            assert tx.seqs is None  # each transaction starts unwatched
            assert last_seq(tx, "t") == 4


def test_append_rows_without_a_frame_reads_as_the_frame_path(store_url: str) -> None:
    rows = [("a", "2026-03-02", 3, "eu_rlah"), ("b", "2026-03-02", 4, "")]
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_days(tx, _days("frame", rows))
            plain = _days("plain", rows).drop("tenant").rows()
            assert append_rows(tx, "state_days", "plain", plain) == 2
            assert append_rows(tx, "state_days", "plain", []) == 0
            assert pending_rows(tx, "plain") == 2
            got = [r[1:] for r in _view(tx, "state_days", "plain")]
            assert got == [r[1:] for r in _view(tx, "state_days", "frame")]


def test_sigkill_during_state_compact_changes_nothing_readers_see(store_url: str) -> None:
    """``roamlike state compact`` killed (SIGKILL) at random moments: every reader sees the
    same rows before, after each kill, and after a compaction run to its end."""
    march = dt.date(2026, 3, 1)
    subs = [f"s{i:05d}" for i in range(40_000)]  # folded in about 0.4 s after 0.6 s of start-up
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, _counters([(s, "p", march, i) for i, s in enumerate(subs)]), "")
            save_days(tx, _days("", [(s, "2026-03-02", i % 7, "") for i, s in enumerate(subs)]))
            save_counters(tx, _counters([(s, "p", march, 7 * i) for i, s in enumerate(subs)]), "")
        before = _snapshot(store, "", subs)
    command = [sys.executable, "-m", "roamlike.cli", "state", "compact", "--state", store_url]
    rnd = random.Random(2026)
    for _ in range(3):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.5, 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        with open_store(store_url) as store:
            assert _snapshot(store, "", subs) == before
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    with open_store(store_url) as store:
        assert _snapshot(store, "", subs) == before
        with store.transaction() as tx:
            assert set(log_rows(tx).values()) == {0}


def test_the_batch_tenant_and_a_named_tenant_append_the_same_rows(store_url: str) -> None:
    """Rows of the tenant '' go in with the tenant and sequence number written into the insert
    (SQLite), those of other tenants bound per row: the same rows either way."""
    counters = _counters([("a", "p", dt.date(2026, 3, 1), 5), ("b", "p", dt.date(2026, 3, 1), 8)])
    days = [("a", "2026-03-02", 3, "eu"), ("b", "2026-03-02", 1, "")]
    with open_store(store_url) as store:
        migrate(store)
        seen = {}
        for tenant in ("", "t1"):
            with store.transaction() as tx:
                save_counters(tx, counters, tenant)
                save_days(tx, _days(tenant, days))
            seen[tenant] = _snapshot(store, tenant, ["a", "b"])
            with store.transaction() as tx:
                [(seq,)] = tx.execute(
                    "SELECT DISTINCT seq FROM state_days_log WHERE tenant = ?", (tenant,)
                )
            assert seq == 3  # the tenant's third append (periods, subscribers, days)
    views = {t: [row[1:] for row in rows] for t, rows in seen[""]["views"].items()}
    assert views == {t: [row[1:] for row in rows] for t, rows in seen["t1"]["views"].items()}
    assert (seen[""]["periods"], seen[""]["subscribers"]) == (
        seen["t1"]["periods"],
        seen["t1"]["subscribers"],
    )
    assert len(views["state_days"]) == len(views["state_periods"]) == 2


@pytest.mark.parametrize("rows", [1, 6, 7, 8, 20])
def test_multi_row_inserts_append_every_row_across_statement_boundaries(
    store_url: str, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    """SQLite appends a frame ``ROWS_PER_INSERT`` rows per statement: for any number of rows
    (one statement, exactly full ones, a last partial one) the log holds what the plain-row
    path (``append_rows``, one row per step) writes."""
    from roamlike.state import log as log_module

    monkeypatch.setattr(log_module, "ROWS_PER_INSERT", 7)
    days = [
        (f"s{i:03d}", f"2026-03-{1 + i % 3:02d}", i + 1, "eu" if i % 2 else "") for i in range(rows)
    ]
    with open_store(store_url) as store:
        migrate(store)
        for tenant in ("", "t1"):
            with store.transaction() as tx:
                assert save_days(tx, _days(tenant, days)) == rows
                plain = _days("plain", days).drop("tenant").rows()
                append_rows(tx, "state_days", f"plain{tenant}", plain)
                got = tx.execute(
                    "SELECT * FROM state_days_log WHERE tenant = ? ORDER BY subscriber_id, day",
                    (tenant,),
                )
                want = tx.execute(
                    "SELECT * FROM state_days_log WHERE tenant = ? ORDER BY subscriber_id, day",
                    (f"plain{tenant}",),
                )
                assert len(got) == rows
                # the same rows but for the tenant and sequence number
                assert [r[2:] for r in got] == [r[2:] for r in want]


def test_rows_made_ready_for_another_kind_of_store_are_written_all_the_same(
    store_url: str,
) -> None:
    """``prepare_rows`` makes rows ready for one dialect (SQLite statement parameters, or a
    frame for PostgreSQL's ``COPY``); ``write_rows`` to a store of the other makes them ready
    again: the log holds the same rows."""
    from roamlike.state.log import prepare_rows, write_rows

    days = [("a", "2026-03-02", 3, "eu"), ("b", "2026-03-02", 1, "")]
    with open_store(store_url) as store:
        migrate(store)
        other = "postgresql" if store.dialect == "sqlite" else "sqlite"
        with store.transaction() as tx:
            assert write_rows(tx, prepare_rows(other, "state_days", _days("x", days))) == 2
            assert write_rows(tx, prepare_rows(tx.dialect, "state_days", _days("y", days))) == 2
            empty = _days("z", days).clear()
            assert write_rows(tx, prepare_rows(other, "state_days", empty)) == 0
            got = {
                t: [
                    r[2:]
                    for r in tx.execute(
                        "SELECT * FROM state_days_log WHERE tenant = ? ORDER BY subscriber_id",
                        (t,),
                    )
                ]
                for t in ("x", "y")
            }
    assert got["x"] == got["y"]
    assert len(got["x"]) == 2
