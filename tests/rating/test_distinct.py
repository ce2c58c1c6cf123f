"""Work per distinct value gives each row exactly what work per row gives."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.rating.distinct import by_distinct


def _trim_upper(values: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("code").cast(pl.String).str.strip_chars()
    return values.with_columns(
        norm=pl.when(text.str.len_chars() > 0).then(text.str.to_uppercase()),
        known=text.str.to_uppercase().is_in(["AT", "DE"]),
        same=pl.col("code"),
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["at", " AT", "DE", "de ", "", "  ", "xk"]))),
    st.booleans(),
)
def test_by_distinct_equals_per_row(codes: list[str | None], coded: bool) -> None:
    frame = pl.DataFrame({"code": codes}, schema={"code": pl.String})
    got = by_distinct(frame, "code", _trim_upper, coded=coded)
    assert got.equals(_trim_upper(frame).drop("code"))
    assert got.columns == ["norm", "known", "same"]


def test_by_distinct_coded_finds_values_and_positions_in_one_cast() -> None:
    seen: list[list[str | None]] = []

    def build(values: pl.DataFrame) -> pl.DataFrame:
        seen.append(values.get_column("code").to_list())
        return _trim_upper(values)

    codes = ["de ", None, "at", "de ", "", None, "at"] * 3
    frame = pl.DataFrame({"code": codes}, schema={"code": pl.String})
    got = by_distinct(frame, "code", build, coded=True)
    assert got.get_column("norm").to_list() == ["DE", None, "AT", "DE", None, None, "AT"] * 3
    assert got.get_column("known").to_list() == [True, None, True, True, False, None, True] * 3
    # each distinct value worked once, null (a value too) last
    assert sorted(v for v in seen[0] if v is not None) == ["", "at", "de "]
    assert seen[0][-1] is None
    assert len(seen[0]) == 4


def test_by_distinct_passes_an_unchanged_column_through() -> None:
    frame = pl.DataFrame({"code": ["AT", "DE"] * 50})
    got = by_distinct(
        frame, "code", lambda v: v.with_columns(norm=pl.col("code").str.strip_chars())
    )
    assert got.get_column("norm").equals(frame.get_column("code"), check_names=False)


def test_by_distinct_mostly_distinct_and_float_columns_are_worked_per_row() -> None:
    calls: list[int] = []

    def build(values: pl.DataFrame) -> pl.DataFrame:
        calls.append(values.height)
        return values.with_columns(twice=pl.col(values.columns[0]) * 2)

    ints = pl.DataFrame({"n": list(range(10))})
    assert by_distinct(ints, "n", build).get_column("twice").to_list() == list(range(0, 20, 2))
    assert calls == [10]  # every value distinct: one evaluation over the rows, no join
    floats = pl.DataFrame({"x": [1.0, float("nan"), 1.0, float("nan")]})
    got = by_distinct(floats, "x", build).get_column("twice")
    assert got.is_nan().to_list() == [False, True, False, True]
    assert calls[-1] == 4  # NaN never joins: floats are worked per row
    repeated = pl.DataFrame({"n": [3, 3, 3, 4]})
    assert by_distinct(repeated, "n", build).get_column("twice").to_list() == [6, 6, 6, 8]
    assert calls[-1] == 2  # two distinct values of four rows: worked once each
