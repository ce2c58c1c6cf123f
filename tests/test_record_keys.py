"""The engine's subscriber (and record) key: text, surrounding blanks stripped, empty -> null."""

from __future__ import annotations

import polars as pl

from roamlike.record_keys import normalise_subscriber_id


def test_the_key_strips_blanks_and_makes_empty_text_null() -> None:
    given = pl.Series("id", ["", " ", None, "a", " b ", "\u00a0", "\u3000x", "\t\n", "None"])
    got = given.to_frame().select(normalise_subscriber_id(pl.col("id"))).to_series()
    assert got.dtype == pl.String
    assert got.to_list() == [None, None, None, "a", "b", None, "x", None, "None"]


def test_the_key_of_other_types_is_their_text() -> None:
    frame = pl.DataFrame(
        {"n": pl.Series([7, None], dtype=pl.Int64), "z": pl.Series([None, None], dtype=pl.Null)}
    )
    got = frame.select(normalise_subscriber_id(pl.col("n")), normalise_subscriber_id(pl.col("z")))
    assert got.schema == pl.Schema({"n": pl.String, "z": pl.String})
    assert got.rows() == [("7", None), (None, None)]
