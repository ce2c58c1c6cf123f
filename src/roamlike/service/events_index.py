"""The stored answers by subscriber: ``GET /v1/subscribers/{id}``'s ``events_stored`` and the
dashboard's list of one subscriber's events, on a SQLite store written in slices.

An index of ``service_events`` on (tenant, subscriber) takes each answer's entry at a random
place: a commit group of 1,600 records dirties about as many of its leaf pages once the store
holds many events, and each is written whole into the WAL at the commit, then into the file
by the checkpoint (``docs/service-speed.md``, "Events of 100 records (round 17: the writer's
share)"). Since service schema version 6 a SQLite store has no such index. Its entries are in
a table of their own, ``service_events_by_subscriber`` (tenant, subscriber, the event's
``rowid``), filled for every event up to a bound kept in ``service_events_folded``. Once
:data:`FOLD_ROWS` or more events are above the bound, the events writer of a process adds
theirs in one sorted statement and moves the bound (:func:`fold_store`, after a group was
answered, on the writer's thread under the writers' lock, like a compaction slice; it checks
after every :data:`CHECK_EVERY` records it stored): a leaf page is dirtied once per fold
instead of once per group. A read adds the events above the bound (a range of the events'
``rowid``, read whole: about :data:`FOLD_ROWS` and a few groups' at most while the service
runs) to those of the table, in the same transaction: the answers are the index's.

Events are never deleted, so an event's ``rowid`` (SQLite's, one more than the largest) is
above the bound until it is folded. PostgreSQL keeps the index (``service_events_subscriber``)
and reads through it.
"""

from __future__ import annotations

from typing import Any

from roamlike.service.compaction import unflushed
from roamlike.state import Store, Transaction

#: The table of the folded entries.
TABLE = "service_events_by_subscriber"
#: The one-row table of the bound: every event of ``rowid`` at most ``through`` is in
#: :data:`TABLE`.
BOUND = "service_events_folded"
#: Events above the bound from which they are folded. A fold holds the writers' lock for
#: about 1.7 us per event on a store of 100,000 (``docs/service-speed.md``, "Round 18: events
#: of 100 records, CPU per request"): the groups of either process wait meanwhile.
FOLD_ROWS = 4096
#: Records an events writer stores between two checks of the events above the bound.
CHECK_EVERY = 1024

_DUE = f"SELECT (SELECT max(rowid) FROM service_events), through FROM {BOUND}"
_FOLD = (
    f"INSERT INTO {TABLE} (tenant_id, subscriber_id, event_rowid) "
    "SELECT tenant_id, subscriber_id, rowid FROM service_events "
    "WHERE rowid > ? AND rowid <= ? ORDER BY tenant_id, subscriber_id, rowid"
)
#: The tenant's subscriber's events above the bound: a range of the rowid (the unary ``+``
#: keeps SQLite from reading the tenant's every event through the table's key instead).
_ABOVE = f"rowid > (SELECT through FROM {BOUND}) AND +tenant_id = ? AND +subscriber_id = ?"


def fold_store(store: Store, min_rows: int | None = None) -> int:
    """:func:`fold` in a write transaction of its own, whose ``COMMIT`` does not flush the WAL
    (:func:`roamlike.service.compaction.unflushed`: it changes nothing a reader sees, and the
    next group's flush covers it). Call it holding the writers' lock."""
    if store.dialect != "sqlite":
        return 0
    with unflushed(store), store.transaction() as tx:
        return fold(tx, min_rows)


def fold(tx: Transaction, min_rows: int | None = None) -> int:
    """Add the events above the bound to :data:`TABLE` when there are at least ``min_rows``
    (default :data:`FOLD_ROWS`; SQLite) and move the bound; how many were added (0: not due,
    or PostgreSQL)."""
    if tx.dialect != "sqlite":
        return 0
    rows = tx.execute(_DUE)
    if not rows or rows[0][0] is None:
        return 0
    last, through = int(rows[0][0]), int(rows[0][1])
    if last - through < (FOLD_ROWS if min_rows is None else min_rows):
        return 0
    added = tx.execute_count(_FOLD, (through, last))
    tx.execute(f"UPDATE {BOUND} SET through = ?", (last,))
    return added


def events_stored(tx: Transaction, tenant_id: str, subscriber_id: str) -> int:
    """How many events the service stored for the tenant's subscriber."""
    if tx.dialect != "sqlite":
        rows = tx.execute(
            "SELECT count(*) FROM service_events WHERE tenant_id = ? AND subscriber_id = ?",
            (tenant_id, subscriber_id),
        )
        return int(rows[0][0])
    rows = tx.execute(
        f"SELECT (SELECT count(*) FROM {TABLE} WHERE tenant_id = ? AND subscriber_id = ?) + "
        f"(SELECT count(*) FROM service_events WHERE {_ABOVE})",
        (tenant_id, subscriber_id, tenant_id, subscriber_id),
    )
    return int(rows[0][0])


def recent_of(
    tx: Transaction, tenant_id: str, subscriber_id: str, limit: int
) -> list[tuple[Any, ...]]:
    """The subscriber's most recently received events, newest first (``received_at``, then
    ``record_id``, both descending), at most ``limit``: (record id, subscriber, received at,
    answer JSON)."""
    columns = "record_id, subscriber_id, received_at, answer_json"
    order = "ORDER BY received_at DESC, record_id DESC LIMIT ?"
    if tx.dialect != "sqlite":
        return tx.execute(
            f"SELECT {columns} FROM service_events WHERE tenant_id = ? AND subscriber_id = ? "
            + order,
            (tenant_id, subscriber_id, limit),
        )
    return tx.execute(
        f"SELECT {columns} FROM service_events WHERE rowid IN ("
        f"SELECT event_rowid FROM {TABLE} WHERE tenant_id = ? AND subscriber_id = ? "
        f"UNION ALL SELECT rowid FROM service_events WHERE {_ABOVE}) {order}",
        (tenant_id, subscriber_id, tenant_id, subscriber_id, limit),
    )
