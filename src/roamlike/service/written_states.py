"""The counters a large commit group leaves, stored next to its written keys' row.

A large group (``roamlike.service.large_groups``) of one process reads the counters of its
subscribers, rates them and writes them; the other process of the same service, which keeps
counters between its own groups (:mod:`roamlike.service.counters_cache`), only learns from the
group's row of ``service_written_keys`` *which* subscribers changed, and had to drop them. Here
the group also stores, in a row of ``service_written_states`` keyed by the same tenant and last
``seq``, the counters of every subscriber it read as they are once it committed (its reads
updated with its writes): the other process brings its entries forward to them instead.

The blob is built outside the writers' lock (:func:`encode`) and appended under it by
:class:`roamlike.service.written_keys.Mark`. It is a msgpack map from each subscriber's id, in
id order, to its entry ``[subscriber state or nil, [[[id, plan, period start], period state],
...]]``, the periods in key order (the start an ISO date), the states
:class:`roamlike.reference.history.SubscriberState` (``[last visited country, [last start,
last record id] or nil]``, the start a msgpack timestamp) and
:class:`~roamlike.reference.history.PeriodState` (``[{"voice": …, "sms": …, "data": …},
fair-use bytes, bill-shock spend, [notified kinds]]``) as msgspec encodes structs by
position: the entry as the cache keeps it, encoded and decoded by msgspec with no conversion
per field in Python (round 19; before, an array of pairs holding the store's row values,
built and read value by value). What :func:`states` gives equals what
:func:`roamlike.service.state_rows.load_states_rows` reads from the rows the group wrote.
:func:`pairs` cuts the blob into each subscriber's undecoded entry (kept as such until a group
takes it); a blob of the earlier layout (an earlier version's process on the same store) is
read as leaving nothing: its subscribers' entries are dropped, as for a span with no blob.

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

from roamlike.reference.history import CounterStates, PeriodKey, PeriodState, SubscriberState
from roamlike.state import Transaction
from roamlike.state.schema import PACKS_TABLE

TABLE = "service_written_states"
#: Rows kept below the tenant's last ``seq``: a group takes about three, so about 30 groups
#: (about 130-180 KB each for 1,600 subscribers).
KEEP_SEQS = 96
#: The old rows are deleted by the group whose ``seq`` values cross a multiple of this.
PRUNE_EVERY = 32

#: A subscriber's counters as a cache keeps them: its periods in key order, its state.
Kept = tuple[list[tuple[PeriodKey, PeriodState]], SubscriberState | None]

_ENCODER = msgspec.msgpack.Encoder()
_PAIRS = msgspec.msgpack.Decoder(dict[str, msgspec.Raw])
_ENTRY = msgspec.msgpack.Decoder(
    tuple[SubscriberState | None, list[tuple[tuple[str, str, dt.date], PeriodState]]]
)


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
    read = loaded.periods
    own: dict[str, list[tuple[PeriodKey, PeriodState]]] = {sid: [] for sid in subscribers}
    # the periods read and not written (a set's difference: mostly none), then those written
    for key in read.keys() - written.keys():
        own.setdefault(key[0], []).append((key, read[key]))
    for item in written.items():
        periods = own.get(item[0][0])
        if periods is None:
            own[item[0][0]] = [item]
        else:
            periods.append(item)
    subs = loaded.subscribers
    written_subs = after.subscribers
    kept: dict[str, Kept] = {}
    for sid in own if len(own) == len(subscribers) else sorted(own):
        periods = own[sid]
        if len(periods) > 1:
            periods.sort(key=lambda item: item[0])
        sub = written_subs.get(sid)
        kept[sid] = (periods, subs.get(sid) if sub is None else sub)
    # the entries as kept, encoded by msgspec itself: (state, [(key, state), ...])
    return _ENCODER.encode({sid: (sub, periods) for sid, (periods, sub) in kept.items()}), kept


def pairs(blob: Any) -> list[tuple[str, msgspec.Raw]]:
    """Each subscriber's undecoded entry in ``blob`` (bytes; PostgreSQL may give a
    memoryview), copied out of it (an entry kept does not hold the whole blob); empty for a
    blob of another layout (one stored by an earlier version, before round 19): its
    subscribers are then only named, and their entries dropped."""
    data = blob if isinstance(blob, bytes) else bytes(blob)
    try:
        found = _PAIRS.decode(data)
    except msgspec.ValidationError:
        return []
    return [(sid, raw.copy()) for sid, raw in found.items()]


def states(raw: msgspec.Raw) -> Kept:
    """One subscriber's entry (from :func:`pairs`) as the states the store's read gives: its
    periods in key order and its subscriber state (None: no row)."""
    sub, periods = _ENTRY.decode(raw)
    return periods, sub


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
