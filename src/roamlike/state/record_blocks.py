"""Record ids in blocks (state migration 8): a day's claimed record ids in one value.

A store remembers every record id it rated or rejected, so that an id seen again in a later
file is a ``DUPLICATE_RECORD_ID`` (``roamlike.state.counters.claim_record_ids``). One row of
``state_records`` per id makes a day's file of 150,000 records insert 150,000 rows into a
B-tree that only grows (about 4.5 MB of pages a day, written twice: into the WAL and into the
file). Most files' ids grow with time, so a file's ids usually all sort after every id stored
before. Such a claim is stored as **one block**: a row of ``state_record_blocks`` holding the
claim's sorted distinct ids (Arrow IPC, LZ4), keyed by the tenant and its last id, with its
first id beside it.

The rule that keeps this exact: a claim becomes a block only when no stored id can equal one
of its ids, that is when no block's range [first id, last id] meets the claim's range and no
row of ``state_records`` lies in it; otherwise its ids are looked up in the blocks whose
range meets its own (decoded) and in the rows, and the new ones are stored as rows, as
before. An id is known when a row or a block holds it; blocks' ranges never overlap. Claims
of fewer than :data:`RECORD_BLOCK_MIN` ids stay rows (a block per file of a few records would
only add values to decode).

Only on SQLite, whose text order is the byte order Polars sorts the ids in; on PostgreSQL the
order of text follows the database's collation, so its ids stay rows (the table exists there,
empty: the same schema).

References
----------
``docs/state.md``, "Record ids".
"""

from __future__ import annotations

import io

import polars as pl

from roamlike.state.schema import RECORD_BLOCKS_TABLE
from roamlike.state.store import Transaction

#: Fewest distinct record ids a claim stores as one block.
RECORD_BLOCK_MIN = 1_000


def blocks_used(tx: Transaction) -> bool:
    """Whether claims through ``tx`` may be stored as blocks (SQLite)."""
    return tx.dialect == "sqlite"


def ids_in_blocks(tx: Transaction, tenant: str, first: str, last: str) -> pl.Series | None:
    """The ids of the tenant's blocks whose range meets [``first``, ``last``], or None when
    no block's range does (on PostgreSQL, always None)."""
    if not blocks_used(tx):
        return None
    found = tx.execute(
        f"SELECT data FROM {RECORD_BLOCKS_TABLE} "
        "WHERE tenant = ? AND last_id >= ? AND first_id <= ?",
        (tenant, first, last),
    )
    if not found:
        return None
    return pl.concat([_decoded(data) for (data,) in found])


def rows_between(tx: Transaction, tenant: str, first: str, last: str) -> bool:
    """Whether a row of ``state_records`` of the tenant lies in [``first``, ``last``]."""
    return bool(
        tx.execute(
            "SELECT 1 FROM state_records WHERE tenant = ? AND record_id >= ? AND record_id <= ? "
            "LIMIT 1",
            (tenant, first, last),
        )
    )


def write_block(tx: Transaction, tenant: str, ids: pl.Series) -> None:
    """Store ``ids`` (distinct, sorted, storable, at least one) as one block. The caller has
    checked that no stored id lies in their range (module docstring)."""
    buffer = io.BytesIO()
    ids.alias("record_id").to_frame().write_ipc(buffer, compression="lz4")
    tx.execute(
        f"INSERT INTO {RECORD_BLOCKS_TABLE} (tenant, last_id, first_id, ids, data) "
        "VALUES (?, ?, ?, ?, ?)",
        (tenant, ids[-1], ids[0], ids.len(), buffer.getvalue()),
    )


def stored_record_ids(tx: Transaction, tenant: str = "") -> pl.Series:
    """Every record id the tenant's store holds (rows and blocks), sorted."""
    found = tx.execute("SELECT record_id FROM state_records WHERE tenant = ?", (tenant,))
    rows = pl.Series("record_id", [r for (r,) in found], dtype=pl.String)
    blocks = tx.execute(f"SELECT data FROM {RECORD_BLOCKS_TABLE} WHERE tenant = ?", (tenant,))
    return pl.concat([rows, *(_decoded(data) for (data,) in blocks)]).sort()


def _decoded(data: object) -> pl.Series:
    return pl.read_ipc(io.BytesIO(bytes(data))).get_column("record_id")  # type: ignore[call-overload]
