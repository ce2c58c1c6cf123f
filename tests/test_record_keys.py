"""The engine's subscriber (and record) key: text, surrounding blanks stripped, empty -> null."""

from __future__ import annotations

import polars as pl

from roamlike.record_keys import normalise_subscriber_id, subscriber_batch


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


def test_a_rows_batch_is_the_hash_of_its_key_with_no_key_as_empty_text() -> None:
    # subscriber_batch does not call normalise_subscriber_id (whose ``replace`` Polars'
    # streaming engine cannot stream): its batches must be those of the key all the same
    ids = ["", " ", None, "a", " a ", "b", "\u00a0", "\u3000x", "x", "\t\n", "None", *"cdefgh"]
    frame = pl.DataFrame({"subscriber_id": ids})
    for batches in (1, 2, 7, 60):
        key = normalise_subscriber_id(pl.col("subscriber_id")).fill_null("")
        want = (key.hash(seed=20170615) % batches).cast(pl.Int64)
        got = frame.select(subscriber_batch(batches).alias("b"), want.alias("w"))
        assert got.get_column("b").to_list() == got.get_column("w").to_list()
        assert got.get_column("b").dtype == pl.Int64
    got = frame.select(subscriber_batch(60)).to_series().to_list()
    assert got[0] == got[1] == got[2] == got[6] == got[9]  # no key: one batch
    assert got[3] == got[4]
    assert got[7] == got[8]
    assert len(set(got)) > 3
