"""The engine's :class:`~roamlike.counters.Counters` of a tenant's subscribers in the store.

Loaded for the subscribers of a batch of events and written back in the same transaction as
the events, with one bulk statement per table (never a query per subscriber).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.service.quotes import QuoteAnswer, QuoteInput, rate_quotes
from roamlike.state import Store, Transaction
from roamlike.tariffs import FxTable, Plan

_PERIOD_COLS = list(PERIOD_SCHEMA)
_SUB_COLS = list(SUBSCRIBER_SCHEMA)
_FLAGS = [c for c in _PERIOD_COLS if c.startswith("has_")]
_CHUNK = 500


def _in_chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def load_counters(tx: Transaction, tenant_id: str, subscriber_ids: Sequence[str]) -> Counters:
    """The stored counters of ``subscriber_ids`` (none stored: empty frames)."""
    periods: list[tuple[Any, ...]] = []
    subs: list[tuple[Any, ...]] = []
    for chunk in _in_chunks(sorted(set(subscriber_ids))):
        marks = ", ".join("?" for _ in chunk)
        periods += tx.execute(
            f"SELECT {', '.join(_PERIOD_COLS)} FROM service_counter_periods "
            f"WHERE tenant_id = ? AND subscriber_id IN ({marks})",
            (tenant_id, *chunk),
        )
        subs += tx.execute(
            f"SELECT {', '.join(_SUB_COLS)} FROM service_counter_subscribers "
            f"WHERE tenant_id = ? AND subscriber_id IN ({marks})",
            (tenant_id, *chunk),
        )
    p = [dict(zip(_PERIOD_COLS, row, strict=True)) for row in periods]
    for row in p:
        row["period_start"] = dt.date.fromisoformat(str(row["period_start"]))
        for flag in _FLAGS:
            row[flag] = bool(row[flag])
    s = [dict(zip(_SUB_COLS, row, strict=True)) for row in subs]
    for row in s:
        if row["last_started_at"] is not None:
            row["last_started_at"] = dt.datetime.fromisoformat(str(row["last_started_at"]))
    return Counters(
        periods=pl.DataFrame(p, schema=PERIOD_SCHEMA),
        subscribers=pl.DataFrame(s, schema=SUBSCRIBER_SCHEMA),
    )


def save_counters(tx: Transaction, tenant_id: str, counters: Counters) -> None:
    """Upsert ``counters`` (the rows a run touched) for the tenant."""
    if counters.periods.height:
        rows = []
        for row in counters.periods.iter_rows():
            values = list(row)
            values[2] = values[2].isoformat()
            rows.append((tenant_id, *(int(v) if isinstance(v, bool) else v for v in values)))
        cols = ["tenant_id", *_PERIOD_COLS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in _PERIOD_COLS[3:])
        tx.executemany(
            f"INSERT INTO service_counter_periods ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)}) "
            "ON CONFLICT (tenant_id, subscriber_id, plan_id, period_start) "
            f"DO UPDATE SET {updates}",
            rows,
        )
    if counters.subscribers.height:
        srows = []
        for sid, country, started, rid in counters.subscribers.iter_rows():
            srows.append((tenant_id, sid, country, started.isoformat() if started else None, rid))
        tx.executemany(
            "INSERT INTO service_counter_subscribers (tenant_id, subscriber_id, "
            "last_visited_country, last_started_at, last_record_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET "
            "last_visited_country = excluded.last_visited_country, "
            "last_started_at = excluded.last_started_at, last_record_id = excluded.last_record_id",
            srows,
        )


def quote_for_subscriber(
    store: Store, tenant_id: str, subscriber_id: str, q: QuoteInput, plan: Plan, fx: FxTable
) -> QuoteAnswer:
    """A quote rated as the subscriber's next event, continuing the tenant's stored counters.

    Read-only: the counters are read in a transaction that writes nothing.
    """
    with store.transaction() as tx:
        counters = load_counters(tx, tenant_id, [subscriber_id])
    return rate_quotes([(q, plan)], fx, subscriber_id=subscriber_id, counters=counters)[0]
