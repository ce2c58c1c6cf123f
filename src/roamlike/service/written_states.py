"""The counters a large commit group leaves, stored next to its written keys' row.

A large group (``roamlike.service.large_groups``) of one process reads the counters of its
subscribers, rates them and writes them; the other process of the same service, which keeps
counters between its own groups (:mod:`roamlike.service.counters_cache`), only learns from the
group's row of ``service_written_keys`` *which* subscribers changed, and had to drop them. Here
the group also stores, in a row of ``service_written_states`` keyed by the same tenant and last
``seq``, the counters of every subscriber it read as they are once it committed (its reads
updated with its writes): the other process brings its entries forward to them instead.

The blob is built outside the writers' lock (:func:`encode`) and appended under it by
:class:`roamlike.service.written_keys.Mark`. It is a msgpack array with one ``[id, entry]`` pair
per subscriber, in id order; an entry is ``[subscriber row or nil, [period row, ...]]``, a
subscriber row ``[last visited country, last start (microseconds since the epoch), last record
id]`` and a period row ``[plan, start (proleptic ordinal), voice, sms, data, fair-use bytes,
bill-shock spend, notified kinds (bits, in the order of the stored flags)]``, the periods in key
order: the values of the store's own rows, so what :func:`states` builds is what
:func:`roamlike.service.state_rows.load_states_rows` reads from them. :func:`pairs` cuts the
blob into each subscriber's undecoded entry (kept as such until a group takes it).

Rows are kept for :data:`KEEP_SEQS` below the tenant's last ``seq`` (deleted once every
:data:`PRUNE_EVERY`): enough for a process a few groups behind; a span whose row is gone is
only named, and its entries dropped. A process's groups leave their counters only while its
own groups find enough of theirs in its cache
(:data:`roamlike.service.counters_cache.SHARE_MIN_REUSE`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from roamlike.reference.history import (
    FLAG_OF_KIND,
    CounterStates,
    PeriodKey,
    PeriodState,
    SubscriberState,
)
from roamlike.state import Transaction
from roamlike.state.schema import PACKS_TABLE

TABLE = "service_written_states"
#: Rows kept below the tenant's last ``seq``: a group takes about three, so about 30 groups
#: (about 100-150 KB each for 1,600 subscribers).
KEEP_SEQS = 96
#: The old rows are deleted by the group whose ``seq`` values cross a multiple of this.
PRUNE_EVERY = 32

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
#: The notified kinds in the order of the stored flags' columns, and their bits.
_KINDS = tuple(FLAG_OF_KIND)
_BIT = {kind: 1 << i for i, kind in enumerate(_KINDS)}

#: One period row: plan, start ordinal, voice, sms, data, fair use, spend, flag bits.
_PeriodRow = tuple[str, int, int, int, int, int, int, int]
#: One subscriber's entry: its subscriber row (or None), its period rows.
_EntryRows = tuple[tuple[str | None, int | None, Any] | None, list[_PeriodRow]]

#: A subscriber's counters as a cache keeps them: its periods in key order, its state.
Kept = tuple[list[tuple[PeriodKey, PeriodState]], SubscriberState | None]
#: Periods' starts by ordinal, as decoded (a few: bounded by the periods a store holds).
_DAYS: dict[int, dt.date] = {}

_ENCODER = msgspec.msgpack.Encoder()
_PAIRS = msgspec.msgpack.Decoder(list[tuple[str, msgspec.Raw]])
_ENTRY = msgspec.msgpack.Decoder(_EntryRows)


def _bits(notified: set[str]) -> int:
    bits = 0
    for kind in notified:
        bits |= _BIT.get(kind, 0)  # a kind with no column is not stored
    return bits


def encode(subscribers: Sequence[str], loaded: CounterStates, after: CounterStates) -> bytes:
    """The blob of a group that read ``loaded`` for ``subscribers`` (stored ids, sorted) and
    wrote ``after``: each subscriber's counters once it committed (module docstring)."""
    return leave(subscribers, loaded, after)[0]


def leave(
    subscribers: Sequence[str], loaded: CounterStates, after: CounterStates
) -> tuple[bytes, dict[str, Kept]]:
    """:func:`encode`, and the same counters as the group's own process keeps them
    (:meth:`roamlike.service.counters_cache.CountersCache.stage`): per subscriber, its
    periods in key order (the group's state objects) and its subscriber state."""
    written = after.periods
    own: dict[str, list[tuple[PeriodKey, PeriodState]]] = {sid: [] for sid in subscribers}
    for key, state in loaded.periods.items():
        if key not in written:
            own.setdefault(key[0], []).append((key, state))
    for key, state in written.items():
        own.setdefault(key[0], []).append((key, state))
    subs = loaded.subscribers
    written_subs = after.subscribers
    ordinals: dict[dt.date, int] = {}  # a group's periods share a few starts
    out: list[tuple[str, _EntryRows]] = []
    kept: dict[str, Kept] = {}
    for sid in own if len(own) == len(subscribers) else sorted(own):
        periods = own[sid]
        if len(periods) > 1:
            periods.sort(key=lambda item: item[0])
        rows: list[_PeriodRow] = []
        for (_, plan, start), state in periods:
            day = ordinals.get(start)
            if day is None:
                day = ordinals[start] = start.toordinal()
            used = state.pool_used
            rows.append(
                (plan, day, used["voice"], used["sms"], used["data"], state.fup_used_bytes,
                 state.billshock_cum_micros, _bits(state.notified) if state.notified else 0)
            )  # fmt: skip
        sub = written_subs.get(sid)
        if sub is None:
            sub = subs.get(sid)
        kept[sid] = (periods, sub)
        row: tuple[str | None, int | None, str | None] | None = None
        if sub is not None:
            last = sub.last_event
            row = (
                (sub.last_visited, None, None)
                if last is None
                else (sub.last_visited, (last[0] - _EPOCH) // _MICROSECOND, last[1])
            )
        out.append((sid, (row, rows)))
    return _ENCODER.encode(out), kept


def pairs(blob: Any) -> list[tuple[str, msgspec.Raw]]:
    """Each subscriber's undecoded entry in ``blob`` (bytes; PostgreSQL may give a
    memoryview), copied out of it (an entry kept does not hold the whole blob)."""
    data = blob if isinstance(blob, bytes) else bytes(blob)
    return [(sid, raw.copy()) for sid, raw in _PAIRS.decode(data)]


def states(
    subscriber: str, raw: msgspec.Raw
) -> tuple[list[tuple[PeriodKey, PeriodState]], SubscriberState | None]:
    """One subscriber's entry (from :func:`pairs`) as the states the store's read gives: its
    periods in key order and its subscriber state (None: no row)."""
    sub_row, period_rows = _ENTRY.decode(raw)
    periods: list[tuple[PeriodKey, PeriodState]] = []
    for plan, start, voice, sms, data, fup, spend, bits in period_rows:
        day = _DAYS.get(start)
        if day is None:
            day = _DAYS[start] = dt.date.fromordinal(start)
        periods.append(
            (
                (subscriber, plan, day),
                PeriodState(
                    {"voice": voice, "sms": sms, "data": data},
                    fup,
                    spend,
                    {kind for kind in _KINDS if bits & _BIT[kind]} if bits else set(),
                ),
            )
        )
    if sub_row is None:
        return periods, None
    country, us, rid = sub_row
    last = None if us is None else (_EPOCH + dt.timedelta(microseconds=us), rid)
    return periods, SubscriberState(country, last)


def fetch(tx: Transaction, tenant: str, last: int) -> Any:
    """The blob stored by the group whose last ``seq`` is ``last`` (None: none, or deleted)."""
    rows = tx.execute(
        f"SELECT states FROM {TABLE} WHERE tenant_id = ? AND last_seq = ?", (tenant, last)
    )
    return rows[0][0] if rows else None


def append(tx: Transaction, tenant: str, before: int, last: int, blob: bytes) -> None:
    """Store ``blob`` for the group that took ``seq`` values after ``before`` up to ``last``
    (in its write transaction), and delete the tenant's rows far below (module docstring).

    Not stored while the tenant has packed writes (``roamlike.state.packs``: rows the plain
    read does not see; the counters cache keeps nothing of such a tenant)."""
    if tx.execute(f"SELECT 1 FROM {PACKS_TABLE} WHERE tenant = ? LIMIT 1", (tenant,)):
        return
    tx.execute(
        f"INSERT INTO {TABLE} (tenant_id, last_seq, states) VALUES (?, ?, ?)",
        (tenant, last, blob),
    )
    drop_below(tx, TABLE, tenant, before, last, KEEP_SEQS, PRUNE_EVERY)


def drop_below(
    tx: Transaction, table: str, tenant: str, before: int, last: int, keep: int, every: int
) -> None:
    """Delete the tenant's rows of ``table`` (keyed by ``last_seq``) more than ``keep`` below
    ``last``, when the ``seq`` values after ``before`` up to ``last`` cross a multiple of
    ``every``: once every ``every`` values, not per group (a statement under the writers'
    lock for every small group cost more than the rows it keeps)."""
    if last > keep and last // every != before // every:
        tx.execute(
            f"DELETE FROM {table} WHERE tenant_id = ? AND last_seq <= ?", (tenant, last - keep)
        )
