"""The state store's counters and days for a commit group of a few subscribers, as plain rows.

:func:`roamlike.state.counters.load_counters`, :func:`~roamlike.state.counters.save_counters`
and :func:`roamlike.state.days.save_days` move whole Polars frames (one JSON array per column,
bulk upserts): right for a batch of thousands of subscribers, but each call costs a few hundred
microseconds of Polars planning, more than the rows of a commit group of a few records. Here the
same rows of the same tables travel as plain tuples with prepared statements (``executemany``).

These statements follow the ``state`` component's schema at version
:data:`STATE_SCHEMA_VERSION` (``roamlike.state.schema``); :func:`usable` is false for any other
version, and the service then uses the state store's own functions (correct, only slower).
``tests/service/test_state_rows.py`` requires both ways to read and write the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.state import Transaction, registered
from roamlike.state.days import DAY_COUNTERS

#: The version of the ``state`` component whose tables these statements read and write.
STATE_SCHEMA_VERSION = 4
#: Largest number of subscribers loaded by one statement (bound parameters).
_CHUNK = 400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PERIOD_COLUMNS = tuple(PERIOD_SCHEMA)
_PERIOD_KEYS = ("subscriber_id", "plan_id", "period_start")
_FLAG_AT = tuple(i for i, t in enumerate(PERIOD_SCHEMA.values()) if t == pl.Boolean())
_SUBSCRIBER_COLUMNS = (
    "subscriber_id",
    "last_visited_country",
    "last_started_at_us",
    "last_record_id",
)
_DAY_COLUMNS = (
    "tenant",
    "subscriber_id",
    "day",
    "home_country",
    *DAY_COUNTERS[:4],
    "rlah_regime",
    *DAY_COUNTERS[4:],
)


def usable() -> bool:
    """True when the registered ``state`` schema is the one these statements follow."""
    return len(registered("state")) == STATE_SCHEMA_VERSION


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def load_counters_rows(tx: Transaction, subscribers: Iterable[str], tenant: str) -> Counters:
    """The stored counters of ``subscribers`` (normalised ids), as
    :func:`roamlike.state.counters.load_counters` loads them (every stored period)."""
    ids = sorted({s for s in subscribers if s is not None})
    periods: list[tuple[Any, ...]] = []
    subs: list[tuple[Any, ...]] = []
    period_sql = ", ".join(_PERIOD_COLUMNS)
    subscriber_sql = ", ".join(_SUBSCRIBER_COLUMNS)
    for chunk in _chunks(ids):
        marks = ", ".join("?" for _ in chunk)
        periods += tx.execute(
            f"SELECT {period_sql} FROM state_periods WHERE tenant = ? AND subscriber_id IN "
            f"({marks}) ORDER BY subscriber_id, plan_id, period_start",
            (tenant, *chunk),
        )
        subs += tx.execute(
            f"SELECT {subscriber_sql} FROM state_subscribers WHERE tenant = ? AND "
            f"subscriber_id IN ({marks}) ORDER BY subscriber_id",
            (tenant, *chunk),
        )
    period_rows = [
        (
            *row[:2],
            dt.date.fromisoformat(row[2]),
            *(bool(v) if i in _FLAG_AT else v for i, v in enumerate(row[3:], start=3)),
        )
        for row in periods
    ]
    subscriber_rows = [
        (sid, country, None if us is None else _EPOCH + dt.timedelta(microseconds=us), rid)
        for sid, country, us, rid in subs
    ]
    return Counters(
        periods=pl.DataFrame(period_rows, schema=PERIOD_SCHEMA, orient="row"),
        subscribers=pl.DataFrame(subscriber_rows, schema=SUBSCRIBER_SCHEMA, orient="row"),
    )


def _upsert(tx: Transaction, table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    cols = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    if tx.dialect == "sqlite":
        return f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})"
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


def save_counters_rows(tx: Transaction, counters: Counters, tenant: str) -> None:
    """Write the rows of ``counters`` over the stored ones, as
    :func:`roamlike.state.counters.save_counters` does."""
    periods = [
        (
            tenant,
            row[0],
            row[1],
            row[2].isoformat(),
            *(int(v) if i in _FLAG_AT else v for i, v in enumerate(row[3:], start=3)),
        )
        for row in counters.periods.rows()
    ]
    if periods:
        tx.executemany(
            _upsert(tx, "state_periods", ("tenant", *_PERIOD_COLUMNS), ("tenant", *_PERIOD_KEYS)),
            sorted(periods),
        )
    subs = [
        (
            tenant,
            sid,
            country,
            None if at is None else (at - _EPOCH) // dt.timedelta(microseconds=1),
            rid,
        )
        for sid, country, at, rid in counters.subscribers.rows()
    ]
    if subs:
        tx.executemany(
            _upsert(
                tx,
                "state_subscribers",
                ("tenant", *_SUBSCRIBER_COLUMNS),
                ("tenant", "subscriber_id"),
            ),
            sorted(subs),
        )


def save_day_rows(tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add day rows (columns ``tenant, subscriber_id, day, home_country``, the home counters,
    ``rlah_regime``, the rlah counters) to ``state_days`` as
    :func:`roamlike.state.days.save_days` does: a day seen again adds up, its home country is
    the new one, and its RLAH regime is kept when the new row has none."""
    if not rows:
        return
    sets = ", ".join(
        [
            "home_country = excluded.home_country",
            *(f"{c} = state_days.{c} + excluded.{c}" for c in DAY_COUNTERS),
            "rlah_regime = CASE WHEN excluded.rlah_regime <> '' THEN excluded.rlah_regime "
            "ELSE state_days.rlah_regime END",
        ]
    )
    marks = ", ".join("?" for _ in _DAY_COLUMNS)
    tx.executemany(
        f"INSERT INTO state_days ({', '.join(_DAY_COLUMNS)}) VALUES ({marks}) "
        f"ON CONFLICT (tenant, subscriber_id, day) DO UPDATE SET {sets}",
        sorted(rows),
    )
