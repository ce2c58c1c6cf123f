"""Whole-input steps of the Spark path, done before the shuffle (docs/spark.md).

1. **Row numbers** in read order over the whole input (every file of a multi-file input), the
   ``row_number`` of ``roamlike rate``. A file scan remembers, per row, its file, the start of
   its split and a within-partition position (:data:`FILE`, :data:`BLOCK`, :data:`POSITION`);
   one small aggregation counts the rows of each split, the driver turns the counts into offsets
   (files in path order, splits in byte order) and a broadcast join adds them. Any other frame is
   numbered in partition order the same way.
2. **Keys** computed by the engine's own Polars expressions inside ``mapInArrow``: the
   normalised subscriber key (the partition key: a subscriber whose id arrives padded with
   spaces is the same subscriber) and the normalised record id.
3. **Duplicate flags**: every occurrence of a normalised record id after the first, in read
   order, over the whole input (docs/rating.md §7b).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as sf
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

from roamlike.rating import (
    BATCH_DUPLICATE,
    BATCH_ROW,
    BATCH_SUBSCRIBER,
    normalise_subscriber_id,
)

#: Hidden columns added by a file scan (``roamlike.spark.read_usage``) to number rows in read order.
FILE, BLOCK, POSITION = "__roamlike_file", "__roamlike_block", "__roamlike_position"
#: Hidden column numbering partitions of a frame that did not come from a file scan.
PARTITION = "__roamlike_partition"
#: The engine's batch protocol: row number in read order, duplicate flag, subscriber key.
ROW, DUPLICATE, SUBSCRIBER_KEY = BATCH_ROW, BATCH_DUPLICATE, BATCH_SUBSCRIBER
#: The normalised record id, used to find duplicates.
RECORD_KEY = "__roamlike_record"
HIDDEN = (FILE, BLOCK, POSITION, PARTITION, SUBSCRIBER_KEY, RECORD_KEY, DUPLICATE, ROW)


def subscriber_key() -> pl.Expr:
    """The engine's normalised subscriber id (``roamlike.rating.normalise_subscriber_id``)."""
    return normalise_subscriber_id(pl.col("subscriber_id"))


def record_key() -> pl.Expr:
    """The normalised record id, as the engine's batch protocol computes it for duplicates."""
    return normalise_subscriber_id(pl.col("record_id"))


def with_row_numbers(df: DataFrame) -> tuple[DataFrame, int]:
    """Add :data:`ROW` (Int64, from 0, in read order) and return the number of rows read.

    Ordering keys: (:data:`FILE`, :data:`BLOCK`) when the frame came from a file scan, else the
    partition; within a split or partition the position given by
    ``monotonically_increasing_id`` at the scan, which is consecutive there.
    """
    if FILE in df.columns:
        groups = [FILE, BLOCK]
    else:
        df = df.withColumns(
            {PARTITION: sf.spark_partition_id(), POSITION: sf.monotonically_increasing_id()}
        )
        groups = [PARTITION]
    counts = (
        df.groupBy(*groups)
        .agg(sf.count(sf.lit(1)).alias("n"), sf.min(POSITION).alias("first"))
        .collect()
    )
    rows = sorted(counts, key=lambda r: tuple(r[g] for g in groups))
    offsets = []
    start = 0
    for r in rows:
        offsets.append((*(r[g] for g in groups), start - int(r["first"])))
        start += int(r["n"])
    schema = StructType(
        [*(df.schema[g] for g in groups), StructField("__roamlike_delta", LongType(), False)]
    )
    spark = df.sparkSession
    deltas = spark.createDataFrame(offsets, schema)
    numbered = (
        df.join(sf.broadcast(deltas), on=groups, how="inner")
        .withColumn(ROW, (sf.col(POSITION) + sf.col("__roamlike_delta")).cast(LongType()))
        .drop("__roamlike_delta", *groups, POSITION)
    )
    return numbered, start


def _keys_function(
    subscriber: Callable[[], pl.Expr], record: Callable[[], pl.Expr]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def add_keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids = pl.from_arrow(batch.select(["subscriber_id", "record_id"]))
            assert isinstance(ids, pl.DataFrame)
            keys = ids.select(
                subscriber().cast(pl.String).alias(SUBSCRIBER_KEY),
                record().cast(pl.String).alias(RECORD_KEY),
            ).to_arrow()
            yield pa.RecordBatch.from_arrays(
                [
                    *batch.columns,
                    keys.column(SUBSCRIBER_KEY).combine_chunks().cast(pa.string()),
                    keys.column(RECORD_KEY).combine_chunks().cast(pa.string()),
                ],
                names=[*batch.schema.names, SUBSCRIBER_KEY, RECORD_KEY],
            )

    return add_keys


def with_keys(
    df: DataFrame,
    subscriber: Callable[[], pl.Expr] = subscriber_key,
    record: Callable[[], pl.Expr] = record_key,
) -> DataFrame:
    """Add :data:`SUBSCRIBER_KEY` and :data:`RECORD_KEY`, computed by the engine's expressions.

    ``subscriber`` and ``record`` exist so that a test can swap in a wrong key (the raw id) and
    show that the comparison with ``roamlike rate`` then fails.
    """
    schema = StructType(
        [
            *df.schema.fields,
            StructField(SUBSCRIBER_KEY, StringType(), True),
            StructField(RECORD_KEY, StringType(), True),
        ]
    )
    return df.mapInArrow(_keys_function(subscriber, record), schema)


def with_duplicate_flags(df: DataFrame) -> DataFrame:
    """Add :data:`DUPLICATE`: a record id already read earlier (null ids never are)."""
    rid = sf.col(RECORD_KEY)
    # null ids each form their own group, so they never pile up in one window partition
    window = Window.partitionBy(rid, sf.when(rid.isNull(), sf.col(ROW)))
    first = sf.min(ROW).over(window)
    flag = rid.isNotNull() & (sf.col(ROW) != first)
    return df.withColumn(DUPLICATE, flag.cast(BooleanType())).drop(RECORD_KEY)
