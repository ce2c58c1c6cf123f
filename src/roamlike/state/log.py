"""Log-structured counters: writes append, reads merge, compaction folds.

A run that touches 6 % of a million subscribers spread over the key space would, if it updated
``state_periods``, ``state_subscribers`` and ``state_days`` in place, rewrite almost every page of
those B-trees (about 210 MB of SQLite WAL for 150,000 records). Instead each write appends its rows
to the table's *log* (``state_periods_log``…: the same columns plus ``seq``, keyed by the table's
key then ``seq``), numbered by a per-tenant sequence (``state_log_seq``); the log is small, so a
run dirties few pages. Reads merge the base table and its log:

* ``state_periods``, ``state_subscribers``: a key's log row of the highest ``seq`` replaces the
  base row (each write holds the whole row after it);
* ``state_days``: a key's log rows add up with its base row; ``home_country`` and a non-empty
  ``rlah_regime`` are the latest.

The views ``state_periods_now``, ``state_subscribers_now`` and ``state_days_now`` give the merged
rows to SQL readers (``state show``, ``control``, the service's overview). :func:`compact` folds a
tenant's logs into the base tables and empties them, in the caller's transaction; the rows the
readers see do not change.

References
----------
``docs/state.md``, "Log-structured counters".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import polars as pl

from roamlike.state.bulk import select_for_keys
from roamlike.state.days_fold import fold_days_sql
from roamlike.state.schema import LOGGED, columns, latest_log_rows
from roamlike.state.store import Store, Transaction

#: ``rate --state`` compacts after its commit when the tenant's logs hold more rows than this in
#: all (about 8 daily files of 60,000 subscribers; ``docs/state.md`` gives the measured
#: trade-off).
COMPACT_LOG_ROWS = 1_500_000


def lock_tenant(tx: Transaction, tenant: str = "") -> None:
    """Serialise writers of one tenant's counters for the rest of the transaction.

    SQLite: a no-op (``BEGIN IMMEDIATE`` already holds the store's write lock). PostgreSQL: a
    transaction-scoped advisory lock on the tenant; every writer of counters (batch or service)
    takes it first.
    """
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"roamlike.state:{tenant}",))


def next_seq(tx: Transaction, tenant: str, rows: int) -> int:
    """The tenant's next log sequence number (1, 2, 3…; never reused, even after compaction),
    for a write of ``rows`` log rows (counted until the next compaction). On PostgreSQL the
    tenant's row stays locked until the transaction ends: numbers follow commit order. Kept in
    ``tx.seqs`` when the transaction keeps them (:func:`watch_seqs`)."""
    [(seq,)] = tx.execute(
        "INSERT INTO state_log_seq (tenant, seq, log_rows) VALUES (?, 1, ?) "
        "ON CONFLICT (tenant) DO UPDATE SET seq = state_log_seq.seq + 1, "
        "log_rows = state_log_seq.log_rows + excluded.log_rows RETURNING seq",
        (tenant, rows),
    )
    taken = int(seq)
    if tx.seqs is not None:
        tx.seqs.append((tenant, taken))
    return taken


def watch_seqs(tx: Transaction) -> int:
    """Keep the sequence numbers :func:`next_seq` takes from now on in ``tx.seqs`` (for the
    rest of the transaction); the position in that list where they begin (the numbers taken
    since are ``tx.seqs[position:]``)."""
    if tx.seqs is None:
        tx.seqs = []
    return len(tx.seqs)


@dataclass(frozen=True)
class LogRows:
    """Rows of a frame made ready to append to a table's log (:func:`prepare_rows`), so that
    the work of Polars and Python can be done on another thread than the writes
    (:func:`write_rows`).

    Attributes
    ----------
    dialect : str
        The store it was made ready for (``sqlite``: as ``chunks``).
    table : str
        The base table (``state_periods``…).
    tenant : str
        The rows' tenant.
    rows : int
        How many rows.
    chunks : list of tuple
        SQLite: the values of :data:`ROWS_PER_INSERT` rows at a time, in key order, row after
        row (without ``seq``, and without the tenant when it is ``''``).
    frame : polars.DataFrame
        The frame (PostgreSQL: for ``COPY``).
    """

    dialect: str
    table: str
    tenant: str
    rows: int
    chunks: list[tuple[Any, ...]]
    frame: pl.DataFrame


def prepare_rows(dialect: str, table: str, frame: pl.DataFrame) -> LogRows:
    """The rows of ``frame`` (the columns of ``table``, unique keys, one tenant) ready for
    :func:`write_rows` to a store of ``dialect``; no store is touched."""
    if frame.height == 0:
        return LogRows(dialect, table, "", 0, [], frame)
    [tenant] = frame.get_column("tenant").unique().to_list()
    if dialect != "sqlite":
        return LogRows(dialect, table, str(tenant), frame.height, [], frame)
    # in key order; the sequence number, and the batch runs' tenant '', are written into the
    # statement instead of bound on every row (about 10 % less CPU per row)
    values = columns(table)[1:] if tenant == "" else columns(table)
    ordered = [
        c.to_list() for c in frame.sort(list(LOGGED[table][1:])).select(values).get_columns()
    ]
    chunks = [
        # the rows' values one after the other, as the statement's placeholders read them
        tuple(chain.from_iterable(zip(*(c[i : i + ROWS_PER_INSERT] for c in ordered), strict=True)))
        for i in range(0, frame.height, ROWS_PER_INSERT)
    ]
    return LogRows(dialect, table, str(tenant), frame.height, chunks, frame)


def write_rows(tx: Transaction, rows: LogRows) -> int:
    """Append ``rows`` (:func:`prepare_rows`) to their table's log under one new sequence number;
    how many rows.

    SQLite: multi-row ``INSERT … VALUES (…), (…), …`` statements of :data:`ROWS_PER_INSERT`
    rows, in key order; PostgreSQL: one ``COPY``.
    """
    if rows.rows == 0:
        return 0
    return insert_rows(tx, rows, next_seq(tx, rows.tenant, rows.rows))


def insert_rows(tx: Transaction, rows: LogRows, seq: int) -> int:
    """Insert ``rows`` (:func:`prepare_rows`) into their table's log under ``seq`` (taken
    already: :func:`write_rows` takes the next); how many rows."""
    if rows.rows == 0:
        return 0
    if rows.dialect != tx.dialect:  # made ready for another kind of store
        return insert_rows(tx, prepare_rows(tx.dialect, rows.table, rows.frame), seq)
    if tx.dialect != "sqlite":
        copied = rows.frame.select(pl.lit(seq, dtype=pl.Int64).alias("seq"), *columns(rows.table))
        tx.copy_frame(f"{rows.table}_log", copied)
        return rows.rows
    head, _, row = _insert_log(rows.table, seq, literal_tenant=rows.tenant == "").partition(
        " VALUES "
    )
    statements: dict[int, str] = {}
    width = len(row.split("?")) - 1  # bound values per row
    for params in rows.chunks:
        n = len(params) // width
        sql = statements.get(n)
        if sql is None:
            sql = statements[n] = f"{head} VALUES {', '.join([row] * n)}"
        tx.execute(sql, params)
    return rows.rows


def append(tx: Transaction, table: str, frame: pl.DataFrame) -> int:
    """Append the rows of ``frame`` (the columns of ``table``, unique keys, one tenant) to
    ``table``'s log under one new sequence number; how many rows (:func:`prepare_rows`, then
    :func:`write_rows`)."""
    return write_rows(tx, prepare_rows(tx.dialect, table, frame))


#: Rows per multi-row ``INSERT`` of :func:`write_rows` on SQLite (at most 32,766 bound values per
#: statement: 500 rows of 14 values are 7,000). One statement steps once for all its rows, so
#: SQLite's per-statement work and the driver's release and retaking of Python's lock around
#: each step happen once per 500 rows instead of once per row: ``docs/state.md``, "Measured".
ROWS_PER_INSERT = 500


def _insert_log(table: str, seq: int | None = None, *, literal_tenant: bool = False) -> str:
    """The insert of a log row: every value bound (``?``), or with ``seq`` (an integer) and the
    empty tenant written into the statement."""
    cols = columns(table)
    marks = ["?"] * len(cols)
    if literal_tenant:
        marks[0] = "''"
    first = "?" if seq is None else str(int(seq))
    return f"INSERT INTO {table}_log (seq, {', '.join(cols)}) VALUES ({first}, {', '.join(marks)})"


def append_rows(tx: Transaction, table: str, tenant: str, rows: Sequence[Sequence[Any]]) -> int:
    """Append plain rows (the columns of ``table`` after ``tenant``, in table order: see
    :func:`roamlike.state.schema.columns`; unique keys) to ``table``'s log under one new
    sequence number, with one ``executemany``: the path of a writer without Polars frames. How
    many rows.

    Every writer of ``state_periods``, ``state_subscribers`` or ``state_days`` writes this way
    (or through :func:`append`): a row written in place into a base table would be hidden by
    the key's log rows.
    """
    if not rows:
        return 0
    seq = next_seq(tx, tenant, len(rows))
    tx.executemany(_insert_log(table), ((seq, tenant, *row) for row in rows))
    return len(rows)


def append_tenant_rows(
    tx: Transaction, table: str, tenant: str, rows: Sequence[Sequence[Any]]
) -> int:
    """:func:`append_rows` of rows that begin with their tenant (``tenant``: every column of
    ``table`` in table order), bound as they are: the sequence number is written into the
    statement, so no row is built again under the writers' lock (1,600 rows: about 0.45 ms
    less per log). How many rows."""
    if not rows:
        return 0
    tx.executemany(_insert_log(table, next_seq(tx, tenant, len(rows))), rows)
    return len(rows)


def read_merged(
    tx: Transaction,
    table: str,
    wanted: Sequence[str],
    subscribers: pl.Series | Sequence[str],
    tenant: str,
    where: str = "",
    params: Sequence[object] = (),
    schema: dict[str, pl.DataType] | None = None,
    keys_from: str | None = None,
    keep: pl.Expr | None = None,
    flags: Sequence[str] = (),
) -> pl.DataFrame:
    """The current ``wanted`` columns of a *latest wins* table (``state_periods``,
    ``state_subscribers``) for ``subscribers``: base rows, replaced by their latest log row
    (of the row logs and the packs, ``roamlike.state.packs``).

    ``where``/``params`` narrow base and log rows (alias ``t``, e.g. ``"t.period_start >=
    ?"``) and ``keep`` the packs' rows the same way (a Polars filter of the packs' text and
    integer columns, e.g. ``pl.col("period_start") >= "2026-03-01"``); ``schema`` gives the
    column types, ``keys_from`` the table of ``subscribers`` and ``flags`` the columns read as
    truth values (1 or 0) as for :func:`roamlike.state.bulk.select_for_keys`.
    """
    keys = [k for k in LOGGED[table] if k != "tenant"]
    condition = "t.tenant = ?" + (f" AND {where}" if where else "")
    args = (tenant, *params)
    base = select_for_keys(
        tx,
        table,
        wanted,
        "subscriber_id",
        subscribers,
        condition,
        args,
        schema,
        keys_table=keys_from,
        flags=flags,
    )
    types = {**(schema or dict.fromkeys(wanted, pl.String())), "seq": pl.Int64()}
    logged = []
    if keys_from is None or has_log(tx, table, tenant):  # a large batch: no probe of an empty log
        logged.append(
            select_for_keys(
                tx,
                f"{table}_log",
                [*wanted, "seq"],
                "subscriber_id",
                subscribers,
                condition,
                args,
                types,
                keys_table=keys_from,
                flags=flags,
            )
        )
    from roamlike.state.packs import pack_rows  # packs build on this module's writes

    # a batch's ids stay one Series (no Python object per id: 62,587 ids made a list and a
    # Series again for each table)
    ids = subscribers if isinstance(subscribers, pl.Series) else pl.Series(subscribers)
    packed = pack_rows(tx, table, tenant, ids.cast(pl.String), keep)
    logged.append(packed.select(pl.col(c).cast(types[c]) for c in [*wanted, "seq"]))
    logged = [frame for frame in logged if frame.height]
    if not logged:
        return base
    merged = pl.concat([base.with_columns(seq=pl.lit(0, dtype=pl.Int64)), *logged])
    return (
        merged.sort("seq", maintain_order=True)
        .unique(subset=keys, keep="last", maintain_order=True)
        .sort(keys)
        .drop("seq")
    )


def has_log(tx: Transaction, table: str, tenant: str) -> bool:
    """True when ``table``'s log holds rows of the tenant."""
    return bool(tx.execute(f"SELECT 1 FROM {table}_log WHERE tenant = ? LIMIT 1", (tenant,)))


def pending_rows(tx: Transaction, tenant: str) -> int:
    """Rows the tenant's logs hold in all (kept in ``state_log_seq``: no count of the logs)."""
    rows = tx.execute("SELECT log_rows FROM state_log_seq WHERE tenant = ?", (tenant,))
    return int(rows[0][0]) if rows else 0


def log_rows(tx: Transaction, tenant: str | None = None) -> dict[str, int]:
    """Rows in each log (of one tenant, or of all)."""
    out = {}
    for table in LOGGED:
        sql = f"SELECT count(*) FROM {table}_log"
        [(n,)] = (
            tx.execute(sql, ())
            if tenant is None
            else tx.execute(f"{sql} WHERE tenant = ?", (tenant,))
        )
        out[table] = int(n)
    return out


@dataclass(frozen=True)
class CompactResult:
    """What :func:`compact` (or a slice, :func:`roamlike.state.slices.compact_slice`) folded:
    log rows read and base rows written, per table; ``through``: the highest ``seq`` the
    logs held then (a slice: its pass's bound; 0: the tenant never wrote)."""

    tenant: str
    log_rows: dict[str, int]
    base_rows: dict[str, int]
    through: int = 0


def fold_table(
    tx: Transaction,
    table: str,
    tenant: str,
    upto: int | None = None,
    where: str = "",
    params: Sequence[object] = (),
) -> int:
    """Fold ``table``'s log rows of the tenant (those of ``seq`` at most ``upto``, when given;
    those ``where`` keeps, alias ``l``, with its ``params``) into the base table: one
    ``INSERT … ON CONFLICT DO UPDATE`` of the merged rows, in key order. How many base rows
    were written; the log rows stay (the caller deletes them).

    Of a *latest wins* table only the keys whose latest log row is folded are written: a key
    with a later log row goes on reading that row, and its folded rows are merely deleted."""
    keys = LOGGED[table]
    cols = columns(table)
    condition = "l.tenant = ?"
    if upto is not None:
        condition += f" AND l.seq <= {int(upto)}"
    if where:
        condition += f" AND {where}"
    if table == "state_days":  # added up per key, onto the base row by the upsert itself
        return tx.execute_count(fold_days_sql(tx.dialect, condition), (tenant, *params))
    select = latest_log_rows(table, condition)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    order = ", ".join(str(i + 1) for i in range(len(keys)))  # key columns come first
    return tx.execute_count(
        f"INSERT INTO {table} ({', '.join(cols)}) {select} ORDER BY {order} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}",
        (tenant, *params),
    )


def compact(tx: Transaction, tenant: str = "") -> CompactResult:
    """Fold the tenant's logs (its packs unpacked into them first, ``roamlike.state.packs``)
    into the base tables and empty them (one statement per table and step). What readers see
    is unchanged; call it inside a transaction that holds the tenant's writer lock
    (:func:`lock_tenant`)."""
    from roamlike.state.packs import unpack  # packs build on this module's writes

    unpack(tx, tenant)
    read = log_rows(tx, tenant)
    written: dict[str, int] = {}
    for table in LOGGED:
        if read[table] == 0:
            written[table] = 0
            continue
        written[table] = fold_table(tx, table, tenant)
        tx.execute(f"DELETE FROM {table}_log WHERE tenant = ?", (tenant,))
    rows = tx.execute(
        "UPDATE state_log_seq SET log_rows = 0, folded_seq = seq WHERE tenant = ? "
        "RETURNING folded_seq",
        (tenant,),
    )
    return CompactResult(tenant, read, written, int(rows[0][0]) if rows else 0)


def tenants_with_logs(tx: Transaction) -> list[str]:
    """Tenants that have written to a log (compacted or not)."""
    return [str(t) for (t,) in tx.execute("SELECT tenant FROM state_log_seq ORDER BY tenant")]


def compact_store(
    store: Store, tenant: str | None = None, min_rows: int = 0
) -> list[CompactResult]:
    """Compact each tenant's logs (or one tenant's), one transaction per tenant; a tenant whose
    logs hold at most ``min_rows`` rows in all is left alone. What was compacted."""
    with store.transaction() as tx:
        tenants = tenants_with_logs(tx) if tenant is None else [tenant]
    done = []
    for name in tenants:
        with store.transaction() as tx:
            lock_tenant(tx, name)
            if pending_rows(tx, name) > min_rows:
                done.append(compact(tx, name))
    return done
