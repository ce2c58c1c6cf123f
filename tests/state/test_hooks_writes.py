"""The writes after a batch (``StoreHooks.absorb_counters``): the counters' rows and the days
made on the hooks' rows threads, each table's pack encoded as soon as its rows are, stored in
the order subscribers, periods, days; on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from test_log import _counters, _view

from roamlike.state import migrate, open_store
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.days import days_of_rated, save_days
from roamlike.state.hooks import StoreHooks
from roamlike.state.packs import readable

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
