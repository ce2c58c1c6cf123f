"""``roamlike.spark.rate``: the engine on each whole partition of a Spark DataFrame.

After the whole-input steps (``roamlike.spark.keys``: row numbers, the normalised subscriber
key, duplicate flags), the frame is repartitioned by the subscriber key and ``mapInArrow`` hands
every partition, whole, to :func:`roamlike.rating.rate_usage`. Every counter of
docs/rating.md (allowances, fair use, bill-shock, welcome) is per subscriber, so the result
equals ``roamlike rate`` on the same input; per-subscriber calls (``applyInArrow``) would pay the
engine's fixed cost once per subscriber and are not used.

The result is one *tagged* frame: ``kind`` (``rated``, ``reject`` or ``notification``) and one
struct column per kind; :func:`rated_records`, :func:`rejected_records` and
:func:`notification_events` split it, ``roamlike.spark.write_outputs`` writes all three in one
pass. Counters start empty in every run: the Spark path rates stateless periods only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.types import StringType

from roamlike.columns import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from roamlike.errors import UsageInputError
from roamlike.law.catalog import Catalog
from roamlike.rating import rate_usage
from roamlike.spark import keys
from roamlike.spark.schemas import (
    KIND,
    NOTIFICATION,
    RATED,
    REJECT,
    OutputSchemas,
    engine_input_frame,
    output_schemas,
    tagged_batches,
)
from roamlike.tariffs import FxTable, Plan

#: Records per partition when ``partitions`` is not given (the engine holds a whole partition:
#: about 0.9 GB of worker memory for 500,000 records in the 10 M benchmark).
RECORDS_PER_PARTITION = 500_000


@dataclass(frozen=True)
class SparkRating:
    """A tagged result frame and the number of records read to make it."""

    frame: DataFrame
    read: int
    schemas: OutputSchemas


def canonical_frame(df: DataFrame) -> DataFrame:
    """The canonical columns in canonical order (optional ones added as null text), then extras.

    Raises
    ------
    UsageInputError
        A required column is missing, or the frame carries a reserved column.
    """
    names = [c for c in df.columns if c not in keys.HIDDEN]
    reserved = [c for c in df.columns if c.startswith("__roamlike_") and c not in keys.HIDDEN]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise UsageInputError(
            f"usage frame: required column(s) {', '.join(missing)} missing; columns found: "
            f"{', '.join(names) or '(none)'}"
        )
    if reserved or any(c in df.columns for c in (keys.ROW, keys.DUPLICATE, keys.SUBSCRIBER_KEY)):
        raise UsageInputError(
            "usage frame: columns named __roamlike_* are reserved for the engine's batch "
            "protocol; rename or drop them"
        )
    added = {c: sf.lit(None).cast(StringType()) for c in OPTIONAL_COLUMNS if c not in names}
    if added:
        df = df.withColumns(added)
    extras = [c for c in names if c not in CANONICAL_COLUMNS]
    hidden = [c for c in df.columns if c in keys.HIDDEN]
    return df.select(*CANONICAL_COLUMNS, *extras, *hidden)


def _rate_function(
    plans: Mapping[str, Plan],
    fx: FxTable | None,
    catalog: Catalog | None,
    schemas: OutputSchemas,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def rate_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        parts = list(batches)
        if not parts or sum(b.num_rows for b in parts) == 0:
            return
        whole = pl.from_arrow(pa.Table.from_batches(parts))
        assert isinstance(whole, pl.DataFrame)
        # rows arrive in shuffle order; the engine is given them in read order, as roamlike
        # rate gives its batches (the protocol's row and duplicate columns stay)
        frame = whole.drop(keys.SUBSCRIBER_KEY).sort(keys.ROW)
        result = rate_usage(frame, plans, fx, catalog=catalog)
        frames = {
            RATED: result.rated,
            REJECT: result.rejects,
            NOTIFICATION: result.notifications,
        }
        yield from tagged_batches(frames, schemas)

    return rate_partition


def rate_frame(
    df: DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    catalog: Catalog | None = None,
    partitions: int | None = None,
    subscriber: Callable[[], pl.Expr] = keys.subscriber_key,
) -> SparkRating:
    """Rate ``df`` and return the tagged result with the number of records read.

    See :func:`rate`; ``subscriber`` replaces the partition key (tests only).
    """
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be >= 1, found {partitions}")
    df = canonical_frame(df)
    numbered, read = keys.with_row_numbers(df)
    keyed = keys.with_duplicate_flags(keys.with_keys(numbered, subscriber=subscriber))
    visible = [c for c in keyed.columns if c not in keys.HIDDEN]
    worker_input = keyed.select(*visible, keys.ROW, keys.DUPLICATE)
    schemas = output_schemas(engine_input_frame(worker_input.schema))
    if partitions is None:
        partitions = max(
            keyed.sparkSession.sparkContext.defaultParallelism,
            math.ceil(read / RECORDS_PER_PARTITION),
        )
    tagged = keyed.repartition(partitions, keys.SUBSCRIBER_KEY).mapInArrow(
        _rate_function(plans, fx, catalog, schemas), schemas.spark
    )
    return SparkRating(frame=tagged, read=read, schemas=schemas)


def rate(
    df: DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    catalog: Catalog | None = None,
    partitions: int | None = None,
) -> DataFrame:
    """Rate usage records held in a Spark DataFrame, exactly as ``roamlike rate`` does.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Canonical usage columns (docs/rating.md §1.1), any types (text is validated by the
        engine); extra columns pass through. A frame from :func:`roamlike.spark.read_usage`
        is numbered in file order; any other frame in partition order.
    plans : mapping of plan id to Plan
    fx : FxTable, optional
        Exchange rates for non-euro plans.
    catalog : Catalog, optional
        The law catalog (e.g. a scenario's overlay), shipped to the workers; default the
        built-in catalog.
    partitions : int, optional
        Partitions rated in parallel [count]; default the cluster's default parallelism or one
        per 500,000 records, whichever is more.

    Returns
    -------
    pyspark.sql.DataFrame
        The tagged result: ``kind`` and the struct columns ``rated``, ``reject``,
        ``notification`` (split with :func:`rated_records` etc.). Lazy, like every DataFrame.

    Raises
    ------
    UsageInputError
        A required column is missing, or a column named ``__roamlike_*`` is present.

    Notes
    -----
    Two jobs run immediately (row numbering needs the row count of each input split); the
    rating itself runs when the result is used. Every period is rated from empty counters.
    """
    return rate_frame(df, plans, fx, catalog=catalog, partitions=partitions).frame


def _part(tagged: DataFrame, kind: str) -> DataFrame:
    return tagged.where(sf.col(KIND) == kind).select(f"{kind}.*")


def rated_records(tagged: DataFrame) -> DataFrame:
    """The rated records of a tagged result (columns of docs/rating.md §8)."""
    return _part(tagged, RATED)


def rejected_records(tagged: DataFrame) -> DataFrame:
    """The rejects of a tagged result: the rows as read, ``row_number``, reason and message."""
    return _part(tagged, REJECT)


def notification_events(tagged: DataFrame) -> DataFrame:
    """The notifications of a tagged result (bill-shock, fair use, welcome)."""
    return _part(tagged, NOTIFICATION)
