"""The engine's :class:`~roamlike.counters.Counters` in and out of the store, set-based.

``state_periods`` and ``state_subscribers`` hold the two frames of ``Counters`` column for column
(booleans as 0/1, the last event's instant as microseconds since 1970-01-01 UTC, period starts as
ISO dates); ``state_records`` the record ids already rated or rejected. A batch loads the rows of
its subscribers (or record ids) with one join and writes back the rows the run touched with one
bulk upsert: never a query per subscriber.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.record_keys import started_at_utc
from roamlike.state import record_blocks
from roamlike.state.bulk import (
    distinct_sorted,
    json_array,
    keys_table,
    select_for_keys,
    storable,
)
from roamlike.state.log import append, read_merged
from roamlike.state.record_blocks import blocks_used, ids_in_blocks, rows_between, write_block
from roamlike.state.store import Transaction

_FLAGS = [c for c, t in PERIOD_SCHEMA.items() if t == pl.Boolean()]
#: The format of the dates the store holds as text (``period_start``, ``day``).
ISO_DATE = "%Y-%m-%d"


def iso_date_text(dates: pl.Expr) -> pl.Expr:
    """``dates`` (a ``Date`` column) as the text the store holds, exactly what
    ``cast(pl.String)`` gives (ISO, nulls kept), each distinct day formatted once: a batch's
    rows hold few distinct days or period starts (62,587 rows: 0.5-0.8 instead of 5.7-8 ms CPU,
    measured).

    Examples
    --------
    >>> import datetime as dt
    >>> day = pl.Series("d", [dt.date(2026, 3, 16), None, dt.date(2026, 3, 16)])
    >>> day.to_frame().select(iso_date_text(pl.col("d"))).to_series().to_list()
    ['2026-03-16', None, '2026-03-16']
    """
    distinct = dates.unique().drop_nulls()
    return dates.replace_strict(
        distinct, distinct.cast(pl.String), default=None, return_dtype=pl.String
    )


_STORED_SUBSCRIBER = [
    "subscriber_id",
    "last_visited_country",
    "last_started_at_us",
    "last_record_id",
]


def load_counters(
    tx: Transaction,
    subscribers: pl.Series,
    tenant: str = "",
    *,
    since: dt.date | None = None,
) -> Counters:
    """The stored counters of ``subscribers`` (normalised ids); none stored: empty frames.

    Parameters
    ----------
    since : datetime.date, optional
        Load only the periods starting on or after this day (those a batch of records can
        touch, see :func:`periods_since`); default: every stored period.
    """
    distinct = distinct_sorted(subscribers)
    if distinct.len() == 0:
        return Counters.empty()
    return from_stored(*load_stored(tx, distinct, tenant, since=since))


def load_stored(
    tx: Transaction,
    distinct: pl.Series,
    tenant: str = "",
    *,
    since: dt.date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored rows of the counters of ``distinct`` subscribers (normalised ids, distinct,
    sorted, at least one), as :func:`from_stored` takes them: the rows of ``state_periods``
    (periods since ``since``, as :func:`load_counters`) and of ``state_subscribers``. Readers
    of parts of a batch's subscribers (``roamlike.state.preload``) join their rows and make
    them counters once."""
    keys = keys_table(tx, distinct)
    periods = read_merged(
        tx,
        "state_periods",
        list(PERIOD_SCHEMA),
        distinct,
        tenant,
        where="" if since is None else "t.period_start >= ?",
        params=() if since is None else (since.isoformat(),),
        keys_from=keys,
        keep=None if since is None else pl.col("period_start") >= since.isoformat(),
        schema=STORED_PERIOD_TYPES,
        # the four notification flags travel as one integer (from_stored reads them as != 0)
        flags=_FLAGS,
    ).select(list(PERIOD_SCHEMA))
    subs = read_merged(
        tx,
        "state_subscribers",
        _STORED_SUBSCRIBER,
        distinct,
        tenant,
        keys_from=keys,
        schema=STORED_SUBSCRIBER_TYPES,
    )
    return periods, subs


#: The types of ``state_periods``' columns as stored (flags as 0/1, period starts as ISO
#: text) and of ``state_subscribers``' (the last event's instant as microseconds).
STORED_PERIOD_TYPES: dict[str, pl.DataType] = {
    c: pl.Int64() if t == pl.Boolean() else pl.String() if t == pl.Date() else t
    for c, t in PERIOD_SCHEMA.items()
}
STORED_SUBSCRIBER_TYPES: dict[str, pl.DataType] = {
    "subscriber_id": pl.String(),
    "last_visited_country": pl.String(),
    "last_started_at_us": pl.Int64(),
    "last_record_id": pl.String(),
}


def from_stored(periods: pl.DataFrame, subscribers: pl.DataFrame) -> Counters:
    """The counters whose stored rows are ``periods`` and ``subscribers`` (the columns of
    :data:`STORED_PERIOD_TYPES` and :data:`STORED_SUBSCRIBER_TYPES`), in the engine's types."""
    periods = periods.with_columns(
        # the stored text is always ISO (written from a date): no format to infer (62,587
        # periods: 0.001 instead of 0.009 CPU-s)
        pl.col("period_start").str.to_date(ISO_DATE),
        *(pl.col(c) != 0 for c in _FLAGS),
    )
    subs = subscribers.select(
        "subscriber_id",
        "last_visited_country",
        pl.from_epoch("last_started_at_us", time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("last_started_at"),
        "last_record_id",
    )
    return Counters(
        periods=periods.cast(pl.Schema(PERIOD_SCHEMA)),
        subscribers=subs.cast(pl.Schema(SUBSCRIBER_SCHEMA)),
    )


def local_dates(records: pl.DataFrame | pl.LazyFrame) -> pl.Expr:
    """The local date of each raw record (null where the time or offset does not parse)."""
    schema = records.collect_schema() if isinstance(records, pl.LazyFrame) else records.schema
    offset = pl.col("utc_offset_min")
    # an integer column is its own value; only text (or another type) goes through the text
    # form, which gives the same integers (150,000 records: 0.002 instead of 0.009 CPU-s)
    kind = schema.get("utc_offset_min")
    offset = (
        offset.cast(pl.Int64, strict=False)
        if kind is not None and kind.is_integer()
        else offset.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    )
    return (started_at_utc(schema) + pl.duration(minutes=offset)).dt.date()


#: Longest billing period [days]: a calendar month (a 28-day period is shorter). A record's
#: period starts on its local day or at most this many days minus one before it.
LONGEST_PERIOD_DAYS = 31


def periods_since(local_dates: pl.Series) -> dt.date | None:
    """The first period start a batch of records can touch: the earliest local day of its
    records less :data:`LONGEST_PERIOD_DAYS` (one day of margin). None (every period) when a
    record has no local day or there is no record: nothing may be left out.

    References
    ----------
    ``docs/rating.md`` §2 (``billing_period_start``: the month of the local day, or 28-day
    periods from the plan's anchor).
    """
    if local_dates.len() == 0 or local_dates.null_count() > 0:
        return None
    first = local_dates.min()
    assert isinstance(first, dt.date)
    return first - dt.timedelta(days=LONGEST_PERIOD_DAYS)


def stored_counters(counters: Counters, tenant: str = "") -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of ``state_periods`` and ``state_subscribers`` that store ``counters``, as
    frames of the tables' columns (flags as 0/1, dates as ISO text, times as epoch µs)."""
    periods = counters.periods.select(
        pl.lit(tenant).alias("tenant"),
        "subscriber_id",
        "plan_id",
        iso_date_text(pl.col("period_start")),
        *(c for c in PERIOD_SCHEMA if c not in ("subscriber_id", "plan_id", "period_start")),
    ).with_columns(pl.col(c).cast(pl.Int16) for c in _FLAGS)
    subs = counters.subscribers.select(
        pl.lit(tenant).alias("tenant"),
        "subscriber_id",
        "last_visited_country",
        pl.col("last_started_at").dt.epoch("us").alias("last_started_at_us"),
        "last_record_id",
    )
    return periods, subs


def save_counters(tx: Transaction, counters: Counters, tenant: str = "") -> None:
    """Write the rows of ``counters`` over the stored ones (the counters after a run): appended
    to the logs (``roamlike.state.log``), where they replace the stored rows of their keys."""
    periods, subs = stored_counters(counters, tenant)
    append(tx, "state_periods", periods)
    append(tx, "state_subscribers", subs)


def known_record_ids(tx: Transaction, record_ids: pl.Series, tenant: str = "") -> pl.Series:
    """Which of ``record_ids`` earlier runs rated or rejected (held by a row of
    ``state_records`` or by a block, ``roamlike.state.record_blocks``), in no particular
    order."""
    ids = storable(distinct_sorted(record_ids))
    if ids.len() == 0:
        return pl.Series("record_id", [], dtype=pl.String)
    in_blocks = ids_in_blocks(tx, tenant, ids[0], ids[-1])
    found = _known_rows(tx, ids, tenant)
    if in_blocks is None:
        return found
    return pl.concat([found, ids.filter(ids.is_in(in_blocks.implode()))]).unique()


def _known_rows(tx: Transaction, ids: pl.Series, tenant: str) -> pl.Series:
    """Which of ``ids`` (distinct, sorted, storable) rows of ``state_records`` hold."""
    found = select_for_keys(
        tx,
        "state_records",
        ["record_id"],
        "record_id",
        ids,
        where="t.tenant = ?",
        params=(tenant,),
        schema={"record_id": pl.String()},
    )
    return found.get_column("record_id")


def _insert_record_ids(tx: Transaction, ids: pl.Series, tenant: str) -> int:
    """Insert distinct, storable record ids (``bulk.storable``: the callers leave out ids holding
    NUL, which the engine rejects ``BAD_ID``); those stored already are left alone; how many
    were new."""
    if ids.len() == 0:
        return 0
    if tx.dialect == "sqlite":
        # one statement unpacking one JSON text: measured cheaper than ``executemany`` for a
        # single column
        return tx.execute_count(
            "INSERT INTO state_records (tenant, record_id) SELECT ?, value FROM json_each(?) "
            "WHERE true ON CONFLICT DO NOTHING",
            (tenant, json_array(ids)),
        )
    temp = "_rl_record_ids"
    tx.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (record_id TEXT) ON COMMIT DROP")
    tx.execute(f"TRUNCATE {temp}")
    tx.copy_frame(temp, ids.alias("record_id").to_frame())
    return tx.execute_count(
        f"INSERT INTO state_records (tenant, record_id) SELECT ?, record_id FROM {temp} "
        "ON CONFLICT DO NOTHING",
        (tenant,),
    )


def claim_record_ids(
    tx: Transaction, record_ids: pl.Series, tenant: str = "", *, distinct: bool = False
) -> pl.Series:
    """Remember ``record_ids`` as rated by this run and return those earlier runs had rated
    (in no particular order).

    The same as :func:`known_record_ids` then storing the ids, in one pass over the store when
    none was rated before (the usual case). On SQLite, ids whose range holds no
    stored id (neither a row nor a block's range: ids that grow with time) are stored as one
    block (``roamlike.state.record_blocks``, at least its ``RECORD_BLOCK_MIN``); else the
    ids the blocks meeting their range hold are found there, and the others are inserted as
    rows first, inside a savepoint: only when some were already there is the insert undone,
    the duplicates looked up and the ids inserted again. Call it inside the transaction that
    commits the run. ``distinct``: the ids are distinct, sorted and without nulls already (not
    sorted again).
    """
    none = pl.Series("record_id", [], dtype=pl.String)
    ids = storable(record_ids if distinct else distinct_sorted(record_ids))
    if ids.len() == 0:
        return none
    in_blocks = none
    if blocks_used(tx):
        first, last = ids[0], ids[-1]
        blocks = ids_in_blocks(tx, tenant, first, last)
        if blocks is None:
            if ids.len() >= record_blocks.RECORD_BLOCK_MIN and not rows_between(
                tx, tenant, first, last
            ):
                write_block(tx, tenant, ids)
                return none
        else:
            hit = ids.is_in(blocks.implode())
            in_blocks, ids = ids.filter(hit), ids.filter(~hit)
            if ids.len() == 0:
                return in_blocks
    tx.execute("SAVEPOINT roamlike_record_ids")
    if _insert_record_ids(tx, ids, tenant) == ids.len():
        tx.execute("RELEASE SAVEPOINT roamlike_record_ids")
        return in_blocks
    tx.execute("ROLLBACK TO SAVEPOINT roamlike_record_ids")
    tx.execute("RELEASE SAVEPOINT roamlike_record_ids")
    known = _known_rows(tx, ids, tenant)
    _insert_record_ids(tx, ids, tenant)
    return pl.concat([in_blocks, known]) if in_blocks.len() else known
