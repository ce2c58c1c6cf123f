"""The state store's counters and days for a commit group of a few subscribers, as plain rows.

:func:`roamlike.state.counters.load_counters`, :func:`~roamlike.state.counters.save_counters`
and :func:`roamlike.state.days.save_days` move whole Polars frames (one JSON array per column,
bulk appends): right for a batch of thousands of subscribers, but each call costs a few hundred
microseconds of Polars planning, more than the rows of a commit group of a few records. Here the
same rows of the same tables travel as plain tuples with prepared statements.

The tables are log-structured (``roamlike.state.log``): a read takes a key's base row replaced
by its log row of the highest ``seq``; a write appends to the log with
:func:`roamlike.state.log.append_rows` (the state store's writer without frames). These
statements follow the ``state`` component's schema at version :data:`STATE_SCHEMA_VERSION`
(``roamlike.state.schema``); :func:`usable` is false for any other version, and the service
then uses the state store's own functions (correct, only slower).
``tests/service/test_state_rows.py`` requires both ways to read and write the same rows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.rating.reasons import ID_FORBIDDEN
from roamlike.reference.history import (
    FLAG_OF_KIND,
    CounterStates,
    PeriodState,
    SubscriberState,
)
from roamlike.state import Transaction, registered
from roamlike.state.counters import STORED_PERIOD_TYPES, STORED_SUBSCRIBER_TYPES, from_stored
from roamlike.state.log import append_rows, append_tenant_rows
from roamlike.state.schema import LOGGED, PACKS_TABLE, columns

#: The version of the ``state`` component whose tables these statements read and write
#: (version 8 added the record-id blocks, which they do not touch).
STATE_SCHEMA_VERSION = 8
#: Largest number of subscribers loaded by one statement (bound parameters).
_CHUNK = 400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The tables' columns after ``tenant``, in table order (the state schema's own list).
_PERIOD_COLUMNS = columns("state_periods")[1:]
_FLAG_AT = tuple(i for i, t in enumerate(PERIOD_SCHEMA.values()) if t == pl.Boolean())
_SUBSCRIBER_COLUMNS = columns("state_subscribers")[1:]
#: Empty frames of the counters' schemas, cut (``clear()``, ~1 us) for subscribers or periods
#: with no stored row: building an empty frame from rows costs ~0.1 ms (a group of new
#: subscribers pays it for every group)
_NO_PERIODS = pl.DataFrame(schema=PERIOD_SCHEMA)
_NO_SUBSCRIBERS = pl.DataFrame(schema=SUBSCRIBER_SCHEMA)


def usable() -> bool:
    """True when the registered ``state`` schema is the one these statements follow."""
    return len(registered("state")) == STATE_SCHEMA_VERSION


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _descending(keys: Sequence[str]) -> str:
    """An ``ORDER BY`` of a log's ``GROUP BY keys … max(seq)`` that has SQLite walk the log's
    key backwards: each key's rows then come newest first, so the row of ``max(seq)`` is the
    first of its key and its other columns are copied once, not once per log row (the
    result is the same rows: SQLite's rule for a lone ``max()``, in either order). Measured
    on a copy of a benchmark store, the period rows of 1,600 subscribers (about four log
    rows each), alternated: 6.8-6.9 against 7.6-7.8 ms."""
    return ", ".join(f"{k} DESC" for k in keys)


def _current(
    tx: Transaction, table: str, columns: Sequence[str], keys: int, ids: Sequence[str], tenant: str
) -> list[tuple[Any, ...]]:
    """The current rows of a *latest wins* table for subscribers ``ids``: each key's base row,
    replaced by its log row of the highest ``seq``; in key order (the first ``keys`` columns)."""
    cols = ", ".join(columns)
    later = " AND ".join(f"n.{c} = l.{c}" for c in ("tenant", *columns[:keys]))
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for chunk in _chunks(ids):
        marks = ", ".join("?" for _ in chunk)
        where = f"tenant = ? AND subscriber_id IN ({marks})"
        # only each key's latest log row. SQLite: one pass over the log's key (tenant, key,
        # seq), the row of max(seq) giving the other columns (SQLite's documented rule for a
        # lone max()); PostgreSQL: a probe for a later row
        sql = (
            f"SELECT {cols}, max(seq) FROM {table}_log WHERE {where} "
            f"GROUP BY {', '.join(columns[:keys])} ORDER BY {_descending(columns[:keys])}"
            if tx.dialect == "sqlite"
            else f"SELECT {cols}, seq FROM {table}_log l WHERE {where} AND NOT EXISTS "
            f"(SELECT 1 FROM {table}_log n WHERE {later} AND n.seq > l.seq)"
        )
        for logged in tx.execute(sql, (tenant, *chunk)):
            rows[logged[:keys]] = logged[:-1]
        # then the base rows of the keys without a log row (a log row replaces its key's base
        # row). Keyed by the subscriber alone, those keys are known: only their base rows are
        # asked for (under steady writes most subscribers have a log row)
        base = [s for s in chunk if (s,) not in rows] if keys == 1 else chunk
        if base:
            where = f"tenant = ? AND subscriber_id IN ({', '.join('?' for _ in base)})"
            for row in tx.execute(f"SELECT {cols} FROM {table} WHERE {where}", (tenant, *base)):
                rows.setdefault(row[:keys], row)
    return [rows[k] for k in sorted(rows)]


def _frame(rows: list[tuple[Any, ...]], empty: pl.DataFrame) -> pl.DataFrame:
    """``rows`` as a frame of ``empty``'s schema (a cut of ``empty`` when there are none)."""
    if not rows:
        return empty.clear()
    return pl.DataFrame(rows, schema=empty.schema, orient="row")


def stored_ids(subscribers: Iterable[str]) -> list[str]:
    """The distinct ``subscribers`` counters may be stored under, sorted: an id holding NUL has
    none (its records are rejected BAD_ID; PostgreSQL's text cannot even be asked for it)."""
    return sorted({s for s in subscribers if s is not None and ID_FORBIDDEN not in s})


def load_counters_rows(tx: Transaction, subscribers: Iterable[str], tenant: str) -> Counters:
    """The stored counters of ``subscribers`` (normalised ids), as
    :func:`roamlike.state.counters.load_counters` loads them (every stored period)."""
    ids = stored_ids(subscribers)
    periods = _current(tx, "state_periods", _PERIOD_COLUMNS, 3, ids, tenant)
    subs = _current(tx, "state_subscribers", _SUBSCRIBER_COLUMNS, 1, ids, tenant)
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
        periods=_frame(period_rows, _NO_PERIODS),
        subscribers=_frame(subscriber_rows, _NO_SUBSCRIBERS),
    )


def _current_ndjson(table: str) -> str:
    """SQLite: one statement giving the current rows of a *latest wins* table for the
    subscribers of a JSON array (parameter 2) of tenant ``?1`` as ONE text, a JSON object per
    row and line: each key's log row of the highest ``seq`` (SQLite's documented rule for a
    lone ``max()``: the bare columns come from that row), else its base row."""
    cols = columns(table)[1:]
    keys = LOGGED[table][1:]
    ids = "SELECT value FROM json_each(?2)"
    same = " AND ".join(f"l.{k} = b.{k}" for k in LOGGED[table])
    fields = ", ".join(f"'{c}', {c}" for c in cols)
    return (
        f"SELECT group_concat(json_object({fields}), char(10)) FROM ("
        f"SELECT * FROM (SELECT {', '.join(cols)}, max(seq) FROM {table}_log "
        f"WHERE tenant = ?1 AND subscriber_id IN ({ids}) GROUP BY {', '.join(keys)} "
        f"ORDER BY {_descending(keys)}) "
        f"UNION ALL SELECT {', '.join(f'b.{c}' for c in cols)}, 0 FROM {table} b "
        f"WHERE b.tenant = ?1 AND b.subscriber_id IN ({ids}) "
        f"AND NOT EXISTS (SELECT 1 FROM {table}_log l WHERE {same}))"
    )


_PERIODS_NDJSON = _current_ndjson("state_periods")
_SUBSCRIBERS_NDJSON = _current_ndjson("state_subscribers")


def _ndjson_frame(text: object, types: dict[str, pl.DataType]) -> pl.DataFrame:
    if text is None:
        return pl.DataFrame(schema=types)
    return pl.read_ndjson(io.StringIO(str(text)), schema=types)


def json_readable(tx: Transaction, tenant: str) -> bool:
    """True when :func:`load_counters_json` reads the tenant's counters: a SQLite store and no
    packed write of the tenant (``roamlike.state.packs``: rows in no log, read by the state
    store's own load)."""
    return tx.dialect == "sqlite" and not tx.execute(
        f"SELECT 1 FROM {PACKS_TABLE} WHERE tenant = ? LIMIT 1", (tenant,)
    )


def load_counters_json(tx: Transaction, subscribers: Iterable[str], tenant: str) -> Counters:
    """:func:`load_counters_rows` of many subscribers on SQLite (see :func:`json_readable`):
    the current rows of each table in ONE statement, given back as one text of a JSON object
    per row that Polars reads in one call. The state store's load (a temporary table of the
    ids, then one statement and one Polars decoding per column, each key's log rows merged in
    Polars) cost about twice as much for a commit group of 1,600 subscribers; plain rows make
    a Python object per value."""
    ids = json.dumps(stored_ids(subscribers))
    [(periods,)] = tx.execute(_PERIODS_NDJSON, (tenant, ids))
    [(subs,)] = tx.execute(_SUBSCRIBERS_NDJSON, (tenant, ids))
    return from_stored(
        _ndjson_frame(periods, STORED_PERIOD_TYPES).sort(
            "subscriber_id", "plan_id", "period_start"
        ),
        _ndjson_frame(subs, STORED_SUBSCRIBER_TYPES).sort("subscriber_id"),
    )


#: Positions in a ``state_periods`` row (after ``tenant``) of the pools' and flags' columns.
_AT = {name: i for i, name in enumerate(_PERIOD_COLUMNS)}
_POOL_AT = (
    ("voice", _AT["voice_used_s"]),
    ("sms", _AT["sms_used"]),
    ("data", _AT["data_used_bytes"]),
)
_KIND_AT = tuple((kind, _AT[column]) for kind, column in FLAG_OF_KIND.items())
_FUP_AT = _AT["fup_used_bytes"]
_SPEND_AT = _AT["billshock_spend_micros"]
#: The flags' columns, next to each other in the table: looked at one by one only when any
#: is set (most rows carry none).
_FLAGS = slice(_KIND_AT[0][1], _KIND_AT[-1][1] + 1)
assert [i for _, i in _KIND_AT] == list(range(_FLAGS.start, _FLAGS.stop))
_KINDS = tuple(kind for kind, _ in _KIND_AT)
_MICROSECOND = dt.timedelta(microseconds=1)
_NO_FLAGS = (0,) * len(_KINDS)
# the order in which states_rows writes a row's values
assert (*(i for _, i in _POOL_AT), _FUP_AT, _SPEND_AT, _FLAGS.start) == tuple(range(3, 9))
assert _FLAGS.stop == len(_PERIOD_COLUMNS)


def load_states_rows(tx: Transaction, subscribers: Iterable[str], tenant: str) -> CounterStates:
    """:func:`load_counters_rows` as the reference rater's plain states
    (:class:`roamlike.reference.history.CounterStates`): the same rows, no frames."""
    ids = stored_ids(subscribers)
    periods: dict[tuple[str, str, dt.date], PeriodState] = {}
    # a large group's rows share a few period starts: each parsed once
    starts: dict[str, dt.date] = {}
    (voice, voice_at), (sms, sms_at), (data, data_at) = _POOL_AT
    for row in _current(tx, "state_periods", _PERIOD_COLUMNS, 3, ids, tenant):
        text = row[2]
        start = starts.get(text)
        if start is None:
            start = starts[text] = dt.date.fromisoformat(text)
        periods[(row[0], row[1], start)] = PeriodState(
            pool_used={voice: row[voice_at], sms: row[sms_at], data: row[data_at]},
            fup_used_bytes=row[_FUP_AT],
            billshock_cum_micros=row[_SPEND_AT],
            notified={kind for kind, i in _KIND_AT if row[i]} if any(row[_FLAGS]) else set(),
        )
    subs: dict[str, SubscriberState] = {}
    for sid, country, us, rid in _current(
        tx, "state_subscribers", _SUBSCRIBER_COLUMNS, 1, ids, tenant
    ):
        last = None if us is None else (_EPOCH + dt.timedelta(microseconds=us), rid)
        subs[sid] = SubscriberState(country, last)
    return CounterStates(periods, subs)


def states_rows(
    states: CounterStates, tenant: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of ``state_periods`` and ``state_subscribers`` (every column, the tenant's
    first; sorted by key) that store the counters ``states`` hold, as
    :func:`save_counters_rows` writes them."""
    # each row as one tuple in the table's order (asserted above), its flags looked at only
    # when the state holds any: a list filled by position cost twice as much
    periods = []
    days: dict[dt.date, str] = {}  # the periods' starts, mostly a few, as text
    for (sub, plan, start), state in states.periods.items():
        day = days.get(start)
        if day is None:
            day = days[start] = start.isoformat()
        used = state.pool_used
        notified = state.notified
        flags = tuple(int(kind in notified) for kind in _KINDS) if notified else _NO_FLAGS
        periods.append(
            (tenant, sub, plan, day, used["voice"], used["sms"], used["data"],
             state.fup_used_bytes, state.billshock_cum_micros, *flags)
        )  # fmt: skip
    subs = [
        (tenant, sid, state.last_visited, None, None)
        if (last := state.last_event) is None
        else (tenant, sid, state.last_visited, (last[0] - _EPOCH) // _MICROSECOND, last[1])
        for sid, state in states.subscribers.items()
    ]
    return sorted(periods), sorted(subs)


def save_states_rows(tx: Transaction, states: CounterStates, tenant: str) -> None:
    """:func:`save_counters_rows` of the counters ``states`` hold (the same rows)."""
    periods, subs = states_rows(states, tenant)
    append_tenant_rows(tx, "state_periods", tenant, periods)
    append_tenant_rows(tx, "state_subscribers", tenant, subs)


def save_counters_rows(tx: Transaction, counters: Counters, tenant: str) -> None:
    """Write the rows of ``counters`` over the stored ones (appended to the logs), as
    :func:`roamlike.state.counters.save_counters` does."""
    periods = [
        (
            row[0],
            row[1],
            row[2].isoformat(),
            *(int(v) if i in _FLAG_AT else v for i, v in enumerate(row[3:], start=3)),
        )
        for row in counters.periods.rows()
    ]
    append_rows(tx, "state_periods", tenant, sorted(periods))
    subs = [
        (
            sid,
            country,
            None if at is None else (at - _EPOCH) // dt.timedelta(microseconds=1),
            rid,
        )
        for sid, country, at, rid in counters.subscribers.rows()
    ]
    append_rows(tx, "state_subscribers", tenant, sorted(subs))


def save_day_rows(tx: Transaction, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add day rows (columns ``tenant, subscriber_id, day, home_country``, the home counters,
    ``rlah_regime``, the rlah counters; one tenant, unique days) to ``state_days`` as
    :func:`roamlike.state.days.save_days` does (appended to its log: a day seen again adds up,
    its home country is the new one, and its RLAH regime is kept when the new row has none)."""
    if rows:
        append_rows(tx, "state_days", rows[0][0], sorted(r[1:] for r in rows))
