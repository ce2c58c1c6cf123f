"""A row per commit group: the log sequence numbers it took and the subscribers it wrote.

Every write of a tenant's counters (``roamlike.state.log``) takes the tenant's next sequence
number (``seq``), larger than every one before and never reused. A commit group of the service
appends, in the same transaction, one row to ``service_written_keys``: the first and last
``seq`` its writes of the tenant took (contiguous: the group holds the writers' lock, and on
PostgreSQL the tenant's advisory lock, from the first to the last) and the subscribers whose
counters it wrote (a msgpack list of their ids).

So what changed between two ``seq`` values of a tenant is known without reading the counters'
logs: the rows in between name every subscriber a commit group wrote; a ``seq`` no row covers
was taken by another writer (``roamlike rate --state``, a pack), whose subscribers are not
known (:func:`changes` gives it as a span naming ``None``: anything may have changed). Folds
(compaction, slices) take no ``seq`` and change no subscriber's counters; a prune takes none
but changes them (``state_pruned``, read by the callers). Rows more than :data:`KEEP_SEQS`
below the tenant's last ``seq`` are deleted by the commits that follow (one in
:data:`PRUNE_EVERY` ``seq`` values): a reader asking
about an older span finds a gap (an unknown write), which costs it a read, never a wrong
answer.

Used by the large groups' check under the writers' lock
(:mod:`roamlike.service.large_groups`) and by the counters kept between groups
(:mod:`roamlike.service.counters_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import msgspec

from roamlike.service import written_states
from roamlike.state import Transaction
from roamlike.state.log import watch_seqs

TABLE = "service_written_keys"
#: Rows kept below the tenant's last ``seq`` (a commit group takes about three: two counters'
#: logs and the days'): about 200 groups, a few MB.
KEEP_SEQS = 600

#: The old rows are deleted by the group whose ``seq`` values cross a multiple of this (so
#: up to ``KEEP_SEQS + PRUNE_EVERY`` below the last are kept).
PRUNE_EVERY = 128

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[str])

#: A span of ``seq`` values: (first, last, the subscribers written there, or None: unknown).
Span = tuple[int, int, list[str] | None]


def encode(subscribers: Collection[str]) -> bytes:
    """The subscribers as the row stores them (a msgpack list, sorted)."""
    return _ENCODER.encode(sorted(subscribers))


def decode(blob: Any) -> list[str]:
    """The subscribers of a row's ``subscribers`` value (bytes; PostgreSQL may give a
    memoryview)."""
    return _DECODER.decode(blob if isinstance(blob, bytes) else bytes(blob))


def last_seq(tx: Transaction, tenant: str) -> int:
    """The tenant's last log ``seq`` (0: it never wrote)."""
    rows = tx.execute("SELECT seq FROM state_log_seq WHERE tenant = ?", (tenant,))
    return int(rows[0][0]) if rows else 0


class Mark:
    """The row of one tenant's writes in a commit group: :meth:`begin` runs before the first
    write that takes a ``seq``, :meth:`end` after the last (both in the same write
    transaction, under the writers' lock); :meth:`wrote` names the subscribers (none: an empty
    list); ``end`` appends the row (and, given :meth:`share`, the counters the group leaves:
    :mod:`roamlike.service.written_states`), deletes the rows older than :data:`KEEP_SEQS`
    and calls ``on_written`` with the last ``seq`` the group took.

    The ``seq`` values are those the writes took themselves (the transaction keeps them,
    :func:`roamlike.state.log.watch_seqs`): no read of the tenant's last ``seq`` before or
    after.

    Parameters
    ----------
    tenant : str
    on_written : callable, optional
        Called with the group's last ``seq`` once the row is written (not when the writes took
        no ``seq``).
    """

    def __init__(self, tenant: str, on_written: Callable[[int], None] | None = None) -> None:
        self.tenant = tenant
        self.on_written = on_written
        self.blob = encode(())
        self.states: bytes | None = None
        self.watched: Transaction | None = None
        self.start = 0

    def share(self, states: bytes) -> None:
        """The counters the group leaves (:func:`roamlike.service.written_states.encode`, built
        outside the writers' lock): stored by :meth:`end` next to the row."""
        self.states = states

    def wrote(self, subscribers: Collection[str]) -> None:
        """The subscribers whose counters the writes store (encoded now, outside the
        writers' lock)."""
        self.blob = encode(subscribers)

    def begin(self, tx: Transaction) -> None:
        """Have ``tx`` keep the ``seq`` values its writes take from now on."""
        self.watched, self.start = tx, watch_seqs(tx)

    def end(self, tx: Transaction) -> None:
        """Append the row of the tenant's ``seq`` values taken since :meth:`begin` (none
        taken: no row).

        Raises
        ------
        RuntimeError
            :meth:`begin` did not run first in this transaction.
        """
        if self.watched is not tx or tx.seqs is None:
            raise RuntimeError("Mark.end without Mark.begin in the same transaction")
        taken = [seq for tenant, seq in tx.seqs[self.start :] if tenant == self.tenant]
        if not taken:
            return
        # contiguous: the writers' lock (and on PostgreSQL the tenant's row of state_log_seq,
        # locked by the first) is held from the first to the last
        first, last = taken[0], taken[-1]
        tx.execute(
            f"INSERT INTO {TABLE} (tenant_id, first_seq, last_seq, subscribers) "
            "VALUES (?, ?, ?, ?)",
            (self.tenant, first, last, self.blob),
        )
        if self.states is not None:
            written_states.append(tx, self.tenant, first - 1, last, self.states)
        written_states.drop_below(tx, TABLE, self.tenant, first - 1, last, KEEP_SEQS, PRUNE_EVERY)
        if self.on_written is not None:
            self.on_written(last)


def changes(tx: Transaction, tenant: str, since: int, upto: int) -> list[Span]:
    """What was written to the tenant's counters from ``since`` (excluded) to ``upto``
    (included), span by span in ``seq`` order: each commit group's row with the subscribers
    it names, and each stretch no row covers with None (an unknown write)."""
    if upto <= since:
        return []
    rows = tx.execute(
        f"SELECT first_seq, last_seq, subscribers FROM {TABLE} "
        "WHERE tenant_id = ? AND last_seq > ? AND last_seq <= ? ORDER BY last_seq",
        (tenant, since, upto),
    )
    out: list[Span] = []
    expect = since + 1
    for first, last, blob in rows:
        first, last = int(first), int(last)
        if first > expect:
            out.append((expect, first - 1, None))
        out.append((max(first, expect), last, decode(blob)))
        expect = last + 1
    if expect <= upto:
        out.append((expect, upto, None))
    return out


def untouched(tx: Transaction, tenant: str, since: int, subscribers: Collection[str]) -> bool:
    """True when no write since ``since`` (the tenant's last ``seq`` on a snapshot) may have
    changed the counters of ``subscribers``: every ``seq`` taken since belongs to a commit
    group's row and none of those rows names one of them."""
    ids = subscribers if isinstance(subscribers, (set, frozenset)) else set(subscribers)
    for _, _, names in changes(tx, tenant, since, last_seq(tx, tenant)):
        if names is None or not ids.isdisjoint(names):
            return False
    return True
