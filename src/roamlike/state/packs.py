"""Packed logs: a write's rows of one counters log held in one value (state migration 7).

A ``rate --state`` run of a day's file appends about 62,600 rows to each of the three logs
(``roamlike.state.log``): 188,731 rows bound value by value through Python's driver, about
0.22 s of the run after its outputs. A **pack** holds the same rows in one row of
``state_packs`` (tenant, ``seq``, table name, a random ``pack_id``, rows, the rows as Arrow
IPC bytes compressed with LZ4, written and read by Polars in native code). A pack takes the
tenant's next sequence number as a write of row logs does, and stands for log rows of that
``seq`` (a run's days' pack holds its rated records instead of its day rows, and stands for
the day rows they give, :func:`prepare_days_pack`):

* **readers** of counters (:func:`roamlike.state.log.read_merged`, hence ``load_counters``)
  merge base rows, log rows and pack rows by ``seq`` by the rules of the logs (latest wins;
  days added up). A pack never changes, so a process keeps the frames it decoded (by
  ``pack_id``, :data:`CACHE_PACKS` of them);
* **SQL readers** of the ``*_now`` views (``state show``, ``control``, ``prune --dry-run``)
  first call :func:`unpack`, which moves the tenant's packs into the row logs under their own
  ``seq`` (the rows a write of row logs would have written): what every reader sees is the
  same before and after, and the views then hold everything;
* **compaction** unpacks first: a whole compaction every pack, a slice of a pass those of
  ``seq`` at most the pass's bound, whole, in its first slice (``roamlike.state.slices``). So a
  slice never folds a key's log row past a pack holding the same key: the folded rows stay a
  prefix, in ``seq`` order, of each key's rows.

References
----------
``docs/state.md``, "Packed logs".
"""

from __future__ import annotations

import io
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import polars as pl

from roamlike.state.days import DAYS_OF_RATED_COLUMNS, days_of_rated
from roamlike.state.log import LogRows, insert_rows, lock_tenant, next_seq, prepare_rows
from roamlike.state.schema import LOGGED, PACKS_TABLE, columns
from roamlike.state.store import Transaction

#: Decoded packs a process keeps (each about 62,600 rows of a day's file: ~5-10 MB).
CACHE_PACKS = 32

#: Text columns of the logged tables (the others are integers).
_TEXT = frozenset(
    {
        "subscriber_id",
        "plan_id",
        "period_start",
        "day",
        "last_visited_country",
        "last_record_id",
        "home_country",
        "rlah_regime",
    }
)


def pack_schema(table: str) -> dict[str, pl.DataType]:
    """The columns of a pack of ``table``: the table's after ``tenant``, text or Int64."""
    return {c: pl.String() if c in _TEXT else pl.Int64() for c in columns(table)[1:]}


@dataclass(frozen=True)
class Pack:
    """A write's rows of one table, encoded (:func:`prepare_pack`), not yet stored."""

    table: str
    tenant: str
    rows: int
    data: bytes


def prepare_pack(table: str, frame: pl.DataFrame) -> Pack:
    """The rows of ``frame`` (the columns of ``table``, unique keys, one tenant) encoded as a
    pack; no store is touched (call it on any thread).

    Raises
    ------
    ValueError
        The rows are of several tenants.
    """
    if frame.height == 0:
        return Pack(table, "", 0, b"")
    tenants = frame.get_column("tenant").unique().to_list()
    if len(tenants) != 1:
        raise ValueError(f"a pack holds the rows of one tenant, not of {len(tenants)}")
    [tenant] = tenants
    buffer = io.BytesIO()
    frame.select(pl.col(c).cast(t) for c, t in pack_schema(table).items()).sort(
        list(LOGGED[table][1:])
    ).write_ipc(buffer, compression="lz4")
    return Pack(table, str(tenant), frame.height, buffer.getvalue())


def prepare_days_pack(rated: pl.DataFrame, tenant: str) -> Pack:
    """A pack of ``state_days`` holding the rated records it stands for instead of their day
    rows: the columns :func:`roamlike.state.days.days_of_rated` reads (``DAYS_OF_RATED_COLUMNS``),
    one row per record. Whoever decodes it (:func:`pack_rows`, :func:`unpack`: readers of
    days, compaction) gets the rows ``days_of_rated(rated, tenant)`` gives, so the run that
    writes it does not aggregate its days: the aggregation is done once, when the pack is
    first read (docs/state.md, "Packed logs"). ``rows`` is the number of day rows it stands
    for, as for any pack (the logs' count, ``state_log_seq.log_rows``)."""
    frame = rated.select(DAYS_OF_RATED_COLUMNS)
    if frame.height == 0:
        return Pack("state_days", "", 0, b"")
    rows = frame.group_by("subscriber_id", "local_date").len().height
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return Pack("state_days", tenant, rows, buffer.getvalue())


def _rows_of(frame: pl.DataFrame) -> pl.DataFrame:
    """The log rows a decoded pack stands for (the columns of :func:`pack_schema`): the rows
    themselves, or the day rows of the rated records of :func:`prepare_days_pack`."""
    if "rule_kind" not in frame.columns:
        return frame
    return days_of_rated(frame).select(list(pack_schema("state_days")))


def write_pack(tx: Transaction, pack: Pack) -> int:
    """Store ``pack`` under the tenant's next sequence number; how many rows it holds."""
    if pack.rows == 0:
        return 0
    seq = next_seq(tx, pack.tenant, pack.rows)
    tx.execute(
        f"INSERT INTO {PACKS_TABLE} (tenant, seq, table_name, pack_id, rows, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (pack.tenant, seq, pack.table, uuid.uuid4().hex, pack.rows, pack.data),
    )
    return pack.rows


def append_pack(tx: Transaction, table: str, frame: pl.DataFrame) -> int:
    """Append the rows of ``frame`` (the columns of ``table``, unique keys, one tenant) as one
    pack under one new sequence number; how many rows. What readers see is what
    :func:`roamlike.state.log.append` of the same frame would give."""
    return write_pack(tx, prepare_pack(table, frame))


_cache: OrderedDict[str, pl.DataFrame] = OrderedDict()
_cache_lock = threading.Lock()


def _decoded(pack_id: str, data: object) -> pl.DataFrame:
    frame = _rows_of(pl.read_ipc(io.BytesIO(bytes(data))))  # type: ignore[call-overload]
    with _cache_lock:
        _cache[pack_id] = frame
        while len(_cache) > CACHE_PACKS:
            _cache.popitem(last=False)
    return frame


def _cached(pack_id: str) -> pl.DataFrame | None:
    with _cache_lock:
        frame = _cache.get(pack_id)
        if frame is not None:
            _cache.move_to_end(pack_id)
        return frame


def pack_rows(
    tx: Transaction,
    table: str,
    tenant: str,
    subscribers: pl.Series | None = None,
    keep: pl.Expr | None = None,
) -> pl.DataFrame:
    """The rows the tenant's packs of ``table`` hold, each with its pack's ``seq`` (the
    columns of :func:`pack_schema`, then ``seq``); only those of ``subscribers`` (ids) and
    those ``keep`` keeps, when given. Decoded packs are kept (by ``pack_id``): a pack never
    changes."""
    found = tx.execute(
        f"SELECT seq, pack_id FROM {PACKS_TABLE} WHERE tenant = ? AND table_name = ? ORDER BY seq",
        (tenant, table),
    )
    frames = []
    for seq, pack_id in found:
        frame = _cached(str(pack_id))
        if frame is None:
            [(data,)] = tx.execute(
                f"SELECT data FROM {PACKS_TABLE} WHERE tenant = ? AND seq = ? AND table_name = ?",
                (tenant, seq, table),
            )
            frame = _decoded(str(pack_id), data)
        if subscribers is not None:
            frame = frame.filter(pl.col("subscriber_id").is_in(subscribers.implode()))
        if keep is not None:
            frame = frame.filter(keep)
        frames.append(frame.with_columns(seq=pl.lit(int(seq), dtype=pl.Int64)))
    if not frames:
        return pl.DataFrame(schema={**pack_schema(table), "seq": pl.Int64()})
    return pl.concat(frames)


def packed_rows(tx: Transaction, tenant: str) -> int:
    """Rows the tenant's packs hold in all."""
    [(rows,)] = tx.execute(
        f"SELECT coalesce(sum(rows), 0) FROM {PACKS_TABLE} WHERE tenant = ?", (tenant,)
    )
    return int(rows)


def has_packs(tx: Transaction, tenant: str) -> bool:
    """True when the tenant has packs (of any table)."""
    return bool(tx.execute(f"SELECT 1 FROM {PACKS_TABLE} WHERE tenant = ? LIMIT 1", (tenant,)))


def unpack(tx: Transaction, tenant: str, upto: int | None = None) -> int:
    """Move the tenant's packs (those of ``seq`` at most ``upto``, when given) into the row
    logs, each row under its pack's ``seq``, and delete them: what readers see is unchanged
    (module docstring). The rows stay counted in ``state_log_seq.log_rows``. How many rows
    moved. Call it in a transaction that holds the tenant's writer lock
    (:func:`roamlike.state.log.lock_tenant`)."""
    bound = "" if upto is None else f" AND seq <= {int(upto)}"
    found = tx.execute(
        f"SELECT seq, table_name, pack_id, data FROM {PACKS_TABLE} WHERE tenant = ?{bound} "
        "ORDER BY seq, table_name",
        (tenant,),
    )
    moved = 0
    for seq, table, pack_id, data in found:
        frame = _cached(str(pack_id))
        if frame is None:
            frame = _decoded(str(pack_id), data)
        rows: LogRows = prepare_rows(
            tx.dialect, str(table), frame.select(pl.lit(tenant).alias("tenant"), pl.all())
        )
        moved += insert_rows(tx, rows, int(seq))
    if found:
        tx.execute(f"DELETE FROM {PACKS_TABLE} WHERE tenant = ?{bound}", (tenant,))
    return moved


def readable(tx: Transaction, tenant: str = "") -> None:
    """Make the ``*_now`` views hold everything of the tenant: its packs unpacked into the row
    logs (:func:`unpack`, under the tenant's writer lock), if it has any. SQL readers of the
    views call it first in their transaction."""
    if has_packs(tx, tenant):
        lock_tenant(tx, tenant)
        unpack(tx, tenant)
