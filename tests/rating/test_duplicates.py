"""Duplicate record ids by hash, decided on the exact text (docs/rating.md §7b)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_plan, rec
from comparison import text_frame
from roamlike.duplicate_ids import repeated_ids, repeated_rows
from roamlike.law import default_catalog
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import validate


def _one_hash(ids: pl.Expr) -> pl.Expr:
    """Every id collides with every other one."""
    return pl.lit(7, dtype=pl.UInt64).repeat_by(ids.len()).explode()


def _length_hash(ids: pl.Expr) -> pl.Expr:
    """Ids of the same length collide."""
    return ids.str.len_bytes().cast(pl.UInt64)


def test_rating_md_7b_ids_sharing_a_hash_are_not_duplicates() -> None:
    ids = pl.Series(["a1", "b2", "a1", "c3", None, "b2", None, "a1"])
    for hash_ids in (_one_hash, _length_hash):
        got = repeated_ids(ids, hash_ids).to_list()
        assert got == [False, False, True, False, False, True, False, True]


def test_rating_md_7b_no_collision_no_exact_comparison() -> None:
    ids = pl.Series([f"r{i}" for i in range(1000)])
    assert not repeated_ids(ids).any()
    assert repeated_rows(ids.to_frame().lazy()).len() == 0


def test_rating_md_7b_rows_of_a_lazy_scan_by_colliding_hash() -> None:
    ids = pl.DataFrame({"record_id": ["x", "yy", "zz", "x", None, "yy", "w"]}).lazy()
    assert repeated_rows(ids, hash_ids=_one_hash).to_list() == [3, 5]
    assert repeated_rows(ids, hash_ids=_length_hash).to_list() == [3, 5]
    assert repeated_rows(ids).to_list() == [3, 5]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "ab", "ba", "é", ""])), max_size=40)
)
def test_rating_md_7b_hash_and_exact_agree_with_first_occurrence(ids: list[str | None]) -> None:
    series = pl.Series(ids, dtype=pl.String)
    expected = (series.is_not_null() & ~series.is_first_distinct()).to_list()
    for hash_ids in (_one_hash, _length_hash):
        assert repeated_ids(series, hash_ids).to_list() == expected
    assert repeated_ids(series).to_list() == expected
    rows = repeated_rows(series.to_frame().lazy(), hash_ids=_length_hash).to_list()
    assert rows == [i for i, dup in enumerate(expected) if dup]


def test_rating_md_7b_validation_with_a_colliding_hash() -> None:
    # "a1" and "b2" share every hash here; only the exact repeat of "a1" is a duplicate
    plans = {"de": make_plan()}
    usage = text_frame([rec("a1"), rec("b2"), rec(" a1 "), rec("b3")])
    checked = (
        validate(usage.lazy().with_row_index("row_number"), plans, default_catalog(),
                 hash_ids=_one_hash)
        .collect()
        .get_column("reason_code")
        .to_list()
    )  # fmt: skip
    assert checked == [None, None, rc.DUPLICATE_RECORD_ID, None]
