"""Validation gives the same frame whichever way its working columns are computed.

A frame of at most ``normalise.PER_ROW_MAX`` rows is validated in one query, every working
column per row; a larger one per distinct value of each repeating column
(``roamlike.rating.distinct``), with the same expressions (docs/rating.md §7b, §7c).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import polars as pl
from hypothesis import HealthCheck, given, settings

from builders import make_plan, rec
from comparison import text_frame
from roamlike.law import default_catalog
from roamlike.rating import normalise
from roamlike.rating import reasons as rc
from roamlike.rating.working_columns import derived
from strategies import PLANS, records

_CATALOG = default_catalog()


def _both(frame: pl.DataFrame, plans: Any = PLANS) -> tuple[pl.DataFrame, pl.DataFrame]:
    per_row = normalise.validate(frame.lazy(), plans, _CATALOG).collect()
    with mock.patch.object(normalise, "PER_ROW_MAX", -1):
        by_values = normalise.validate(frame.lazy(), plans, _CATALOG).collect()
    return per_row, by_values


def _typed(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The rows with typed numbers and times (as a Parquet file or the service gives them),
    where their text parses; else the text frame's column as it is."""
    frame = text_frame(rows)
    out = []
    for name, dtype in (
        ("utc_offset_min", pl.Int64),
        ("duration_s", pl.Int64),
        ("volume_bytes", pl.Int64),
        ("count", pl.Int32),
    ):
        out.append(pl.col(name).cast(dtype, strict=False))
    out.append(pl.col("is_beyond_fair_use").str.to_lowercase().eq("true"))
    out.append(
        pl.col("started_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, time_unit="ms")
    )
    return frame.with_columns(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_rating_md_7b_validation_per_row_equals_per_distinct_value(
    rows: list[dict[str, Any]],
) -> None:
    for frame in (text_frame(rows), _typed(rows)):
        per_row, by_values = _both(frame)
        assert per_row.columns == by_values.columns
        assert per_row.schema == by_values.schema
        assert per_row.equals(by_values)


def test_rating_md_7b_forbidden_character_and_unknown_country_both_ways() -> None:
    # every row's value repeats, so the distinct values decide which rows are checked
    rows = [
        rec("a", subscriber_id="s\x00"),
        rec("b", subscriber_id="s\x00"),
        rec("c", visited_country="zz"),
        rec("d", visited_country="zz"),
        rec("e", home_country="QQ"),
        rec("f", home_country="QQ"),
        rec("g"),
        rec("g"),
    ]
    for per_row_or_values in _both(text_frame(rows), {"de": make_plan()}):
        codes = per_row_or_values.get_column("reason_code").cast(pl.String).to_list()
        assert codes[:6] == [rc.BAD_ID] * 2 + [rc.UNKNOWN_COUNTRY] * 4
        assert codes[7] == rc.DUPLICATE_RECORD_ID


def test_working_columns_are_built_once_per_schema() -> None:
    schema = pl.Schema(dict.fromkeys([*rc.REQUIRED_COLUMNS, *rc.OPTIONAL_COLUMNS], pl.String))
    assert derived(schema) is derived(pl.Schema(dict(schema)))
    other = pl.Schema({**dict(schema), "started_at": pl.Datetime("us")})
    assert derived(other) is not derived(schema)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_rating_md_7c_a_batch_s_normalised_record_ids_are_taken_as_given(
    rows: list[dict[str, Any]],
) -> None:
    # a runner that split the input gives each row its normalised record id (the duplicates'
    # key): validation takes it for ``_rid`` instead of normalising the ids again, with the
    # same frame as a result, both ways
    frame = text_frame(rows)
    given_ids = frame.with_columns(
        normalise.normalise_subscriber_id(pl.col("record_id")).alias(normalise.BATCH_RECORD_ID)
    )
    for plain, batch in zip(_both(frame), _both(given_ids), strict=True):
        assert batch.columns == plain.columns  # the protocol column is not kept
        assert batch.equals(plain)


def test_a_batch_s_record_ids_are_read_from_the_protocol_column() -> None:
    frame = text_frame([rec("a"), rec("b")]).with_columns(
        pl.Series(normalise.BATCH_RECORD_ID, ["x", "x"])
    )
    for checked in _both(frame, {"de": make_plan()}):
        assert checked.get_column("_rid").to_list() == ["x", "x"]
