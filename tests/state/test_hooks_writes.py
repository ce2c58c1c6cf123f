"""The writes after a batch (``StoreHooks.absorb_counters``): the counters' rows and the days
made on the hooks' rows threads, each table's pack encoded as soon as its rows are, stored in
the order subscribers, periods, days; on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest
from test_log import _counters, _view

from roamlike.counters import Counters
from roamlike.state import migrate, open_store
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.days import days_of_rated, save_days
from roamlike.state.hooks import StoreHooks
from roamlike.state.packs import readable
from roamlike.state.schema import LOGGED

MARCH = dt.date(2026, 3, 1)


def _rated() -> pl.DataFrame:
    """Rated records of three subscribers over two days: home, RLAH and other roaming."""
    return pl.DataFrame(
        {
            "subscriber_id": ["a", "a", "b", "b", "c", "a"],
            "home_country": ["FR", "FR", "DE", "DE", "IT", "FR"],
            "event_type": ["data", "voice_mo", "sms_mo", "data", "voice_mt", "sms_mt"],
            "local_date": [
                dt.date(2026, 3, 2),
                dt.date(2026, 3, 2),
                dt.date(2026, 3, 2),
                dt.date(2026, 3, 3),
                dt.date(2026, 3, 3),
                dt.date(2026, 3, 3),
            ],
            "rule_kind": ["domestic", "rlah", "rlah", "unregulated", "rlah", "domestic"],
            "regime": ["domestic", "eu_rlah", "wb_rra", "unregulated", "eu_rlah", "domestic"],
            "volume_bytes": [1_000, None, None, 5_000, None, None],
            "duration_s": [None, 61, None, None, 7, None],
            "count": [None, None, 2, None, None, None],
        }
    )


@pytest.mark.parametrize("packs", [True, False], ids=["packs", "log-rows"])
def test_hook_writes_store_what_direct_writes_store(store_url: str, packs: bool) -> None:
    """Counters and days written by the hooks (packs or log rows, made on their threads)
    read, through ``load_counters`` and the views, as the same written directly; the packs
    take their sequence numbers in the order subscribers, periods, days."""
    counters = _counters([("a", "p", MARCH, 10), ("b", "p", MARCH, 21), ("c", "q", MARCH, 32)])
    rated = _rated()
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            hooks = StoreHooks(tx, "hooks", None, packs=packs)
            hooks.absorb_counters(counters, rated)
            hooks.finish()
            save_counters(tx, counters, "direct")
            save_days(tx, days_of_rated(rated, "direct"))
        with store.transaction() as tx:
            if packs:
                found = tx.execute(
                    "SELECT table_name FROM state_packs WHERE tenant = 'hooks' ORDER BY seq"
                )
                assert [t for (t,) in found] == [
                    "state_subscribers",
                    "state_periods",
                    "state_days",
                ]
            ids = pl.Series(["a", "b", "c"])
            loaded = {t: load_counters(tx, ids, t) for t in ("hooks", "direct")}
            assert loaded["hooks"].periods.equals(loaded["direct"].periods)
            assert loaded["hooks"].subscribers.equals(loaded["direct"].subscribers)
            assert loaded["hooks"].periods.height == 3
            views = {}
            for tenant in ("hooks", "direct"):
                readable(tx, tenant)
                views[tenant] = {
                    t: [row[1:] for row in _view(tx, t, tenant)]
                    for t in ("state_periods", "state_subscribers", "state_days")
                }
            assert views["hooks"] == views["direct"]
            assert len(views["hooks"]["state_days"]) == 5  # (a, b) x (2, 3 March), (c, 3 March)


@pytest.mark.parametrize("packs", [True, False], ids=["packs", "log-rows"])
def test_a_table_that_fails_fails_the_writes(store_url: str, packs: bool) -> None:
    """Days that cannot be made (a rated frame without ``regime``) fail ``finish`` with that
    error once every thread is done; no days are written."""
    counters = _counters([("a", "p", MARCH, 10)])
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            hooks = StoreHooks(tx, "t", None, packs=packs)
            hooks.absorb_counters(counters, _rated().drop("regime"))
            with pytest.raises(pl.exceptions.ColumnNotFoundError):
                hooks.finish()
            readable(tx, "t")
            assert _view(tx, "state_days", "t") == []


def _many_rated(days: pl.Series) -> pl.DataFrame:
    """Rated records of 80 subscribers (``s00``…``s79``, in reverse order), one on each of
    ``days`` (in reverse order)."""
    subscribers = pl.Series([f"s{i:02d}" for i in reversed(range(80))])
    rows = subscribers.to_frame("subscriber_id").join(
        days.reverse().to_frame("local_date"), how="cross"
    )
    return rows.with_columns(
        home_country=pl.lit("FR"),
        event_type=pl.lit("data"),
        rule_kind=pl.lit("domestic"),
        regime=pl.lit("domestic"),
        volume_bytes=pl.lit(1_000),
        duration_s=pl.lit(None, pl.Int64),
        count=pl.lit(None, pl.Int64),
    )


@pytest.mark.parametrize(
    ("shuffled", "last"),
    [(False, dt.date(2026, 3, 2)), (True, dt.date(2026, 3, 2)), (False, dt.date(9999, 12, 31))],
    # the ISO text of a five-digit year ("+10000-01-01") sorts before "9999-12-31"
    ids=["in-order", "counters-shuffled", "five-digit-year"],
)
def test_hook_packs_hold_their_rows_in_key_order(
    store_url: str, shuffled: bool, last: dt.date
) -> None:
    """Each pack the hooks write holds its rows in ascending order of the table's keys as the
    pack's text compares them, whether the rows came in that order (counters in key order, the
    days as ``days_of_rated`` sorts them: not sorted again) or not (counters out of order,
    days whose ISO text sorts otherwise than the dates: sorted)."""
    counters = _counters([(f"s{i:02d}", "p", MARCH, i) for i in range(80)])
    if shuffled:
        counters = Counters(
            periods=counters.periods.reverse(), subscribers=counters.subscribers.reverse()
        )
    assert counters.in_key_order == ((not shuffled),) * 2
    days = pl.Series([last]).append(pl.Series([last]).dt.offset_by("1d"))
    rated = _many_rated(days)
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            hooks = StoreHooks(tx, "hooks", None, packs=True)
            hooks.absorb_counters(counters, rated)
            hooks.finish()
            packs = {
                str(table): pl.read_ipc(io.BytesIO(bytes(data)))
                for table, data in tx.execute(
                    "SELECT table_name, data FROM state_packs WHERE tenant = 'hooks'"
                )
            }
    assert {t: f.height for t, f in packs.items()} == {
        "state_subscribers": 80,
        "state_periods": 80,
        "state_days": 160,
    }
    for table, frame in packs.items():
        keys = list(LOGGED[table][1:])
        assert frame.equals(frame.sort(keys)), table
    assert packs["state_days"].get_column("day").head(2).to_list() == sorted(
        days.cast(pl.String).to_list()
    )
