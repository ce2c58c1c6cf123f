"""Set-based moves between Polars frames and store tables: never one query per subscriber.

SQLite: one ``executemany`` (the driver loops in C) per statement; PostgreSQL: ``COPY`` into a
temporary table, then one ``INSERT … SELECT … ON CONFLICT`` or one join. Table and column names
are written by the program (never user input); values always travel as parameters or ``COPY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from roamlike.state.store import Transaction

_counter = [0]


def _temp_name(base: str) -> str:
    _counter[0] += 1
    return f"_rl_{base}_{_counter[0]}"


def upsert_frame(
    tx: Transaction,
    table: str,
    frame: pl.DataFrame,
    keys: Sequence[str],
    add: Sequence[str] = (),
    custom: Mapping[str, str] | None = None,
) -> int:
    """Insert the rows of ``frame`` into ``table``; on a key conflict, add the ``add`` columns to
    the stored values and replace every other non-key column.

    Parameters
    ----------
    frame : polars.DataFrame
        Columns named as the table's (any order); integers, text or null.
    keys : sequence of str
        The table's primary key.
    add : sequence of str
        Columns summed with the stored value (counters of consumption); the others are replaced.
    custom : mapping of str to str, optional
        SQL of the new value of a column on conflict (``excluded.c`` is the new row's value,
        ``table.c`` the stored one).

    Returns
    -------
    int
        Rows written.
    """
    if frame.height == 0:
        return 0
    columns = list(frame.columns)
    rest = [c for c in columns if c not in keys]
    custom = custom or {}

    def new_value(c: str) -> str:
        if c in custom:
            return custom[c]
        return f"{table}.{c} + excluded.{c}" if c in add else f"excluded.{c}"

    sets = ", ".join(f"{c} = {new_value(c)}" for c in rest)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO " + (
        f"UPDATE SET {sets}" if rest else "NOTHING"
    )
    cols = ", ".join(columns)
    rows = frame.iter_rows()
    if tx.dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
        tx.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks}) {conflict}", rows)
        return frame.height
    temp = _temp_name(table)
    tx.execute(
        f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
    )
    tx.copy_rows(temp, columns, rows)
    tx.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp} {conflict}")
    return frame.height


def select_for_keys(
    tx: Transaction,
    table: str,
    columns: Sequence[str],
    key: str,
    values: Sequence[str],
    where: str = "",
    params: Sequence[object] = (),
    schema: dict[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Rows of ``table`` whose ``key`` is one of ``values``, as a frame (one join, not a query per
    value): the values go to a temporary table first.

    ``where`` (with ``?`` placeholders and ``params``) narrows further, e.g. ``"t.tenant = ?"``;
    the table is aliased ``t``.
    """
    temp = _temp_name("keys")
    if tx.dialect == "sqlite":
        tx.execute(f"CREATE TEMP TABLE {temp} (k TEXT PRIMARY KEY)")
        tx.executemany(f"INSERT OR IGNORE INTO {temp} (k) VALUES (?)", ((v,) for v in values))
    else:
        tx.execute(f"CREATE TEMP TABLE {temp} (k TEXT) ON COMMIT DROP")
        tx.copy_rows(temp, ["k"], ((v,) for v in values))
    cols = ", ".join(f"t.{c}" for c in columns)
    condition = f" WHERE {where}" if where else ""
    rows = tx.execute(
        f"SELECT {cols} FROM {table} t JOIN {temp} k ON t.{key} = k.k{condition}", params
    )
    if tx.dialect == "sqlite":
        tx.execute(f"DROP TABLE {temp}")
    return pl.DataFrame(rows, schema=schema or list(columns), orient="row")
