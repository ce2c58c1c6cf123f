"""``roamlike.spark``: the Spark path gives exactly the results of ``roamlike rate``.

Dirty synthetic usage (padded subscriber ids, duplicate record ids, bad rows) split over several
files is rated by Spark local[2] at several partition counts and compared, on every column, with
the engine run on the same records as one file (rated records, rejects, notifications).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import polars.selectors as cs
import pytest
from polars.testing import assert_frame_equal
from spark_support import DirtyUsage, dirty, spark, write_csv_parts

from roamlike.pipeline import rate_file

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["dirty", "spark"]  # fixtures

pytestmark = pytest.mark.spark

_NOTE_ORDER = ["subscriber_id", "started_at", "record_id", "kind"]


@dataclass(frozen=True)
class RatingResult:
    """What ``roamlike rate`` wrote, read back."""

    rated: pl.DataFrame
    rejects: pl.DataFrame
    notifications: pl.DataFrame
    read: int


def _collect(df: DataFrame) -> pl.DataFrame:
    converted = pl.from_arrow(df.toArrow())
    assert isinstance(converted, pl.DataFrame)
    return converted


@pytest.fixture(scope="module")
def csv_parts(tmp_path_factory: pytest.TempPathFactory, dirty: DirtyUsage) -> Path:
    folder = tmp_path_factory.mktemp("usage") / "csv"
    write_csv_parts(dirty.frame, folder, parts=3)
    return folder


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory, dirty: DirtyUsage) -> RatingResult:
    """What ``roamlike rate`` writes for the same records as one CSV file."""
    folder = tmp_path_factory.mktemp("whole")
    whole = folder / "usage.csv"
    dirty.frame.write_csv(whole)
    out, rejects, notes = (folder / f"{name}.parquet" for name in ("r", "j", "n"))
    summary = rate_file(whole, dirty.plans, dirty.fx, out, rejects, notes)
    return RatingResult(
        rated=pl.read_parquet(out).sort("row_number"),
        rejects=pl.read_parquet(rejects).sort("row_number"),
        notifications=pl.read_parquet(notes),
        read=summary.read,
    )


def _spark_results(
    spark: SparkSession, folder: Path, dirty: DirtyUsage, partitions: int, **kwargs: object
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    from roamlike.spark import (
        notification_events,
        rate_frame,
        rated_records,
        read_usage,
        rejected_records,
    )

    result = rate_frame(
        read_usage(spark, [folder]),
        dirty.plans,
        dirty.fx,
        partitions=partitions,
        **kwargs,  # type: ignore[arg-type]
    )
    tagged = result.frame.cache()
    try:
        rated = _collect(rated_records(tagged)).sort("row_number")
        rejects = _collect(rejected_records(tagged)).sort("row_number")
        notes = _collect(notification_events(tagged)).sort(_NOTE_ORDER)
    finally:
        tagged.unpersist()
    return rated, rejects, notes, result.read


def test_the_test_data_is_dirty_in_every_way_that_matters(expected: RatingResult) -> None:
    codes = set(expected.rejects.get_column("reason_code"))
    assert {"DUPLICATE_RECORD_ID", "MISSING_FIELD", "BAD_TIMESTAMP", "UNKNOWN_PLAN"} <= codes
    assert {"BAD_NUMBER", "NEGATIVE_QUANTITY", "UNKNOWN_COUNTRY", "BAD_EVENT_TYPE"} <= codes
    kinds = set(expected.notifications.get_column("kind"))
    assert {"welcome", "fup_exhausted", "billshock_80", "billshock_100"} <= kinds
    assert expected.rated.height > 20_000


@pytest.mark.parametrize("partitions", [1, 4])
def test_spark_equals_roamlike_rate_on_every_column(
    spark: SparkSession,
    csv_parts: Path,
    dirty: DirtyUsage,
    expected: RatingResult,
    partitions: int,
) -> None:
    rated, rejects, notes, read = _spark_results(spark, csv_parts, dirty, partitions)
    assert read == expected.read == dirty.frame.height
    assert rated.height + rejects.height == read  # rated + rejected = read across the cluster
    # the engine's enum codes (docs/rating.md §8) reach Spark as text: the same values
    assert_frame_equal(rated, expected.rated.with_columns(cs.enum().cast(pl.String)))
    assert_frame_equal(rejects, expected.rejects)
    assert_frame_equal(notes, expected.notifications.sort(_NOTE_ORDER))


def test_partitioning_on_the_raw_subscriber_id_changes_the_results(
    spark: SparkSession, csv_parts: Path, dirty: DirtyUsage, expected: RatingResult
) -> None:
    # The deliberate mutation: a padded id and its trimmed form are one subscriber for the
    # engine; partitioned on the raw text they are rated apart, and counters (fair use,
    # allowances, welcome) split. The comparison above must catch that.
    raw = lambda: pl.col("subscriber_id").cast(pl.String)  # noqa: E731
    rated, rejects, notes, _ = _spark_results(spark, csv_parts, dirty, 4, subscriber=raw)
    assert rated.height + rejects.height == expected.read
    differs = not rated.equals(expected.rated) or not notes.equals(
        expected.notifications.sort(_NOTE_ORDER)
    )
    assert differs
