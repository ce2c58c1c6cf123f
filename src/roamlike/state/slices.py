"""Compaction in slices: a tenant's logs folded a range of subscribers at a time.

:func:`roamlike.state.log.compact` folds a tenant's whole logs in one transaction: 100,000 log
rows cost 150-250 ms of CPU, during which no other writer of the store commits. A compaction
in slices is a *pass* over the tenant's subscribers in key order, with a bound fixed when it
starts: ``through``, the tenant's last log sequence number then. Each slice folds, for the
next subscribers after the pass's cursor (about :data:`SLICE_ROWS` log rows of each log,
:func:`slice_end`), their log rows of ``seq`` at most ``through`` into the base tables and
deletes them; the pass ends when a slice reaches the last subscriber. The logs are keyed by
(tenant, subscriber, …, seq), so a slice reads and deletes neighbouring rows: measured about
3 µs of CPU per log row, near the 2 µs of a whole compaction (a slice of the oldest rows of
every subscriber, up to a ``seq`` bound, touched nearly every page of the logs each time: 5-7
µs per row; ``docs/service.md``).

Why a slice changes nothing a reader sees: a reader takes, per key, the base row and the log
rows (``roamlike.state.log``), and a slice folds, per key, a prefix of its log rows in
``seq`` order (those up to ``through``);

* ``state_periods``, ``state_subscribers`` (*latest wins*): a key with log rows above the bound
  keeps its latest log row, which still replaces the base row (its older rows are merely
  deleted); a key whose log rows are all within the bound has its latest one written into
  the base row and no log row left; either way the key reads its latest row;
* ``state_days`` (*added up*): the folded log rows are added to the base row and deleted, so
  base plus remaining log rows is the same sum; ``home_country`` and a non-empty
  ``rlah_regime`` are the latest, and every remaining log row is newer than the folded ones.

Sequence numbers follow commit order (every writer of a tenant's counters takes its writer
lock, :func:`roamlike.state.log.lock_tenant`, before its next ``seq``; so does a slice).
``state_log_seq.folded_seq`` records the pass's bound from its first slice on: a reader that
checks whether rows written after a moment of its own were folded (the service's large
groups, :mod:`roamlike.service.large_groups`) compares it with its last ``seq`` of then.

References
----------
``docs/state.md``, "Log-structured counters"; ``docs/service.md``, "Compaction by the service,
in slices".
"""

from __future__ import annotations

from dataclasses import dataclass

from roamlike.state.log import CompactResult, fold_table
from roamlike.state.packs import unpack
from roamlike.state.schema import LOGGED
from roamlike.state.store import Transaction

#: Log rows of each log a slice folds, about (a slice ends at a subscriber: all of its rows
#: within the bound are folded together).
SLICE_ROWS = 1_000


def last_seq(tx: Transaction, tenant: str) -> int:
    """The tenant's last log sequence number (0: it never wrote): a pass's bound."""
    found = tx.execute("SELECT seq FROM state_log_seq WHERE tenant = ?", (tenant,))
    return int(found[0][0]) if found else 0


def slice_end(tx: Transaction, tenant: str, after: str, rows: int = SLICE_ROWS) -> str | None:
    """The last subscriber of the slice that starts after subscriber ``after`` (``""``: the
    first): the least, over the logs, of the subscriber of the ``rows``-th log row after
    ``after``; None when every log holds fewer (the slice goes to the last subscriber).

    Raises
    ------
    ValueError
        ``rows`` is not positive.
    """
    if rows <= 0:
        raise ValueError(f"a slice folds at least one row per log, not {rows}")
    ends = []
    for table in LOGGED:
        found = tx.execute(
            f"SELECT subscriber_id FROM {table}_log WHERE tenant = ? AND subscriber_id > ? "
            "ORDER BY subscriber_id LIMIT 1 OFFSET ?",
            (tenant, after, rows - 1),
        )
        if found:
            ends.append(str(found[0][0]))
    return min(ends) if ends else None


@dataclass(frozen=True)
class Slice:
    """What :func:`compact_slice` folded.

    Attributes
    ----------
    result : CompactResult
        Log rows folded and base rows written per table; ``through``: the pass's bound.
    last : str, optional
        The slice's last subscriber, where the next slice of the pass starts after; None: the
        slice reached the last subscriber (the pass is done).
    """

    result: CompactResult
    last: str | None


def compact_slice(
    tx: Transaction, tenant: str, through: int, after: str = "", rows: int = SLICE_ROWS
) -> Slice:
    """Fold the log rows of ``seq`` at most ``through`` of the subscribers after ``after``, up
    to :func:`slice_end`, into the base tables and delete them (module docstring); what readers
    see is unchanged. Call it inside a transaction that holds the tenant's writer lock
    (:func:`roamlike.state.log.lock_tenant`); ``through`` is the pass's bound (at most the
    tenant's :func:`last_seq`), the same for every slice of the pass.

    Raises
    ------
    ValueError
        ``rows`` is not positive.
    """
    # packs of the pass fold whole: in its first slice they become log rows of their seq
    unpack(tx, tenant, through)
    last = slice_end(tx, tenant, after, rows)
    where = "l.subscriber_id > ?" + ("" if last is None else " AND l.subscriber_id <= ?")
    params = (after,) if last is None else (after, last)
    read: dict[str, int] = {}
    written: dict[str, int] = {}
    for table in LOGGED:
        written[table] = fold_table(tx, table, tenant, through, where, params)
        read[table] = tx.execute_count(
            f"DELETE FROM {table}_log WHERE tenant = ? AND seq <= ? AND {where.replace('l.', '')}",
            (tenant, through, *params),
        )
    tx.execute(
        "UPDATE state_log_seq SET log_rows = log_rows - ?, "
        "folded_seq = CASE WHEN folded_seq < ? THEN ? ELSE folded_seq END WHERE tenant = ?",
        (sum(read.values()), through, through, tenant),
    )
    return Slice(CompactResult(tenant, read, written, through), last)
