"""Compaction in slices: a tenant's oldest log rows folded a few thousand at a time.

:func:`roamlike.state.log.compact` folds a tenant's whole logs in one transaction: 100,000 log
rows cost 150-250 ms of CPU, during which no other writer of the store commits. A *slice*
folds only the log rows of ``seq`` at most a bound (:func:`slice_bound`: about
:data:`SLICE_ROWS` rows of each log), found through each log's ``(tenant, seq)`` index (state
schema version 6), and deletes them; the service runs one slice between two commit groups.

Why a slice changes nothing a reader sees: a reader takes, per key, the base row and the log
rows (``roamlike.state.log``);

* ``state_periods``, ``state_subscribers`` (*latest wins*): a key with log rows above the bound
  keeps its latest log row, which still replaces the base row; a key whose log rows are all
  at most the bound had its latest one written into the base row, and has no log row left;
  either way the key reads its latest row;
* ``state_days`` (*added up*): the folded log rows are added to the base row and deleted, so
  base plus remaining log rows is the same sum; ``home_country`` and a non-empty
  ``rlah_regime`` are the latest, and every remaining log row is newer than the folded ones.

Sequence numbers follow commit order (every writer of a tenant's counters takes its writer
lock, :func:`roamlike.state.log.lock_tenant`, before its next ``seq``; so does a slice), so the
rows folded are a prefix of the log in time as readers see it. ``state_log_seq.folded_seq``
records the bound: the large groups' check of the service reads it
(:mod:`roamlike.service.large_groups`).

References
----------
``docs/state.md``, "Log-structured counters"; ``docs/service.md``, "Compaction in slices".
"""

from __future__ import annotations

from roamlike.state.log import CompactResult, fold_table
from roamlike.state.schema import LOGGED
from roamlike.state.store import Transaction

#: Log rows a slice folds from each log, about: the bound is the ``seq`` of the
#: :data:`SLICE_ROWS`-th oldest row of the fullest logs, and one write's rows (one ``seq``)
#: are never split, so a slice folds at most this many rows per log plus the rest of the
#: bound's write.
SLICE_ROWS = 1_000


def slice_bound(tx: Transaction, tenant: str, rows: int = SLICE_ROWS) -> int | None:
    """The highest ``seq`` a slice of about ``rows`` rows per log folds (the smallest, over the
    logs holding at least ``rows`` rows of the tenant, of the ``seq`` of the ``rows``-th oldest;
    the tenant's last ``seq`` when every log holds fewer); None when the logs are empty.

    Raises
    ------
    ValueError
        ``rows`` is not positive.
    """
    if rows <= 0:
        raise ValueError(f"a slice folds at least one row per log, not {rows}")
    bounds = []
    for table in LOGGED:
        found = tx.execute(
            f"SELECT seq FROM {table}_log WHERE tenant = ? ORDER BY seq LIMIT 1 OFFSET ?",
            (tenant, rows - 1),
        )
        if found:
            bounds.append(int(found[0][0]))
    if bounds:
        return min(bounds)
    last = tx.execute("SELECT seq FROM state_log_seq WHERE tenant = ? AND log_rows > 0", (tenant,))
    return int(last[0][0]) if last else None


def compact_slice(tx: Transaction, tenant: str, rows: int = SLICE_ROWS) -> CompactResult:
    """Fold the tenant's log rows up to :func:`slice_bound` into the base tables and delete
    them (module docstring); what readers see is unchanged. Call it inside a transaction that
    holds the tenant's writer lock (:func:`roamlike.state.log.lock_tenant`).

    Returns
    -------
    CompactResult
        Log rows folded and base rows written per table; ``through`` is the bound (0: the
        logs were empty, nothing was done).
    """
    bound = slice_bound(tx, tenant, rows)
    if bound is None:
        return CompactResult(tenant, dict.fromkeys(LOGGED, 0), dict.fromkeys(LOGGED, 0))
    read: dict[str, int] = {}
    written: dict[str, int] = {}
    for table in LOGGED:
        written[table] = fold_table(tx, table, tenant, bound)
        read[table] = tx.execute_count(
            f"DELETE FROM {table}_log WHERE tenant = ? AND seq <= ?", (tenant, bound)
        )
    tx.execute(
        "UPDATE state_log_seq SET log_rows = log_rows - ?, folded_seq = ? WHERE tenant = ?",
        (sum(read.values()), bound, tenant),
    )
    return CompactResult(tenant, read, written, bound)
