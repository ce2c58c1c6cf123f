"""Money (``roamlike.money``): the three half-even roundings, scalar and vectorized."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.money import (
    MICROS_PER_UNIT,
    MUL_DIV_MAX_OPERAND,
    NANOS_PER_UNIT,
    PPM,
    charge_micros,
    mul_div_round,
    rate,
    rate_nanos,
    round_div,
    round_div_expr,
    to_micros,
    vat_micros,
    vat_ppm,
)
from roamlike.rating.kernel import _mul_div_round as compiled_mul_div_round

INT64_MAX = 2**63 - 1


def test_constants() -> None:
    assert (MICROS_PER_UNIT, NANOS_PER_UNIT, PPM) == (10**6, 10**9, 10**6)


# ------------------------------------------------------------------------------------------
# Scalar functions


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 7, 0),
        (1, 2, 0),  # 0.5 -> 0 (even)
        (3, 2, 2),  # 1.5 -> 2 (even)
        (5, 2, 2),  # 2.5 -> 2
        (7, 2, 4),  # 3.5 -> 4
        (10, 4, 2),  # 2.5 -> 2
        (14, 4, 4),  # 3.5 -> 4
        (7, 3, 2),  # 2.33 -> 2
        (8, 3, 3),  # 2.67 -> 3
        (25, 10, 2),
        (35, 10, 4),
        (26, 10, 3),
        (24, 10, 2),
        (2**62 + 1, 2, 2**61),  # 2**61 + 0.5 -> even 2**61
        (2**62 + 3, 2, 2**61 + 2),  # 2**61 + 1.5 -> 2**61 + 2
        (10**30 + 5 * 10**11, 10**12, 10**18),  # Python ints: no overflow
    ],
)
def test_round_div_half_even(numerator: int, denominator: int, expected: int) -> None:
    assert round_div(numerator, denominator) == expected


@pytest.mark.parametrize(
    ("units", "nanos", "divisor", "expected"),
    [
        (600, 190_000_000, 60, 1_900_000),  # 10 min at EUR 0.19/min
        (1, 190_000_000, 60, 3_167),  # 1 s: 3166.67 micros
        (10**9, 1_100_000_000, 10**9, 1_100_000),  # 1 GB at EUR 1.10/GB
        (1000, 1_100_000, 10**6, 1),  # 1 kB at EUR 0.0011/MB: 1.1 micros
        (1, 500, 1, 0),  # 0.5 micros -> 0
        (1, 1_500, 1, 2),  # 1.5 -> 2
        (1, 2_500, 1, 2),  # 2.5 -> 2
        (1, 3_500, 1, 4),  # 3.5 -> 4
        (3, 500, 1, 2),  # 1.5 -> 2
        (0, 190_000_000, 60, 0),
        (30, 100_000, 60, 50),  # 30 s at 0.0001/min: 50 micros exactly
        (1, 30_000, 60, 0),  # 0.5 micros -> 0
        (3, 30_000, 60, 2),  # 1.5 micros -> 2
    ],
)
def test_charge_micros_half_even(units: int, nanos: int, divisor: int, expected: int) -> None:
    assert charge_micros(units, nanos, divisor) == expected


@pytest.mark.parametrize(
    ("charge", "ppm", "expected"),
    [
        (1_100_000, 190_000, 209_000),
        (5, 100_000, 0),  # 0.5 -> 0
        (15, 100_000, 2),  # 1.5 -> 2
        (25, 100_000, 2),  # 2.5 -> 2
        (35, 100_000, 4),
        (1, 190_000, 0),
        (3, 190_000, 1),  # 0.57 -> 1
        (0, 255_000, 0),
        (2, 255_000, 1),  # 0.51 -> 1
        (10**12, 255_000, 255_000_000_000),
    ],
)
def test_vat_micros_half_even(charge: int, ppm: int, expected: int) -> None:
    assert vat_micros(charge, ppm) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("50") * Decimal("117.1234567"), 5_856_172_835),
        (Decimal("0.0000005"), 0),
        (Decimal("0.0000015"), 2),
        (Decimal("0.0000025"), 2),
        (Decimal("1.0000035"), 1_000_004),
        (Decimal("0.00000050001"), 1),
        (Decimal("0.00000049999"), 0),
        (Decimal("50"), 50_000_000),
        (Decimal("1E+3"), 1_000_000_000),
    ],
)
def test_to_micros_half_even(amount: Decimal, expected: int) -> None:
    result = to_micros(amount)
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.09") / Decimal("1.19"), "0.075630252"),
        (Decimal("0.0000000005"), "0E-9"),
        (Decimal("0.0000000015"), "2E-9"),
        (Decimal("0.0000000025"), "2E-9"),
        (Decimal("0.0000000035"), "4E-9"),
        (Decimal("1.10"), "1.100000000"),
        (Decimal(60) / Decimal("1.10"), "54.545454545"),
        (Decimal("0.12345678949999"), "0.123456789"),
    ],
)
def test_rate_half_even_to_nanos(value: Decimal, expected: str) -> None:
    assert str(rate(value)) == expected


def test_rate_nanos() -> None:
    assert rate_nanos(Decimal("0.0756302525")) == 75_630_252
    assert rate_nanos(Decimal("0.0756302535")) == 75_630_254
    assert rate_nanos(Decimal("1.10")) == 1_100_000_000
    assert type(rate_nanos(Decimal("1.10"))) is int


def test_vat_ppm() -> None:
    assert vat_ppm(Decimal("0.19")) == 190_000
    assert vat_ppm(Decimal("0.255")) == 255_000
    assert vat_ppm(Decimal("0")) == 0
    with pytest.raises(ValueError, match=r"more than 6 decimal places"):
        vat_ppm(Decimal("0.1234567"))


# ------------------------------------------------------------------------------------------
# Polars expressions equal the integer functions


def _column(values: list[int]) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64)


near_limit = st.one_of(
    st.integers(0, INT64_MAX),
    st.integers(2**62 - 10**6, 2**62 + 10**6),
    st.integers(INT64_MAX - 10**6, INT64_MAX),
    st.integers(0, 10**6),
)
denominators = st.one_of(
    st.integers(1, 10),
    st.sampled_from([2, 4, 60, 1000, 10**6, 2**20, 10**9, 2**30]),
    st.integers(1, 2**62),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(near_limit, denominators), min_size=1, max_size=40))
def test_round_div_expr_equals_round_div(pairs: list[tuple[int, int]]) -> None:
    nums, dens = (list(x) for x in zip(*pairs, strict=True))
    df = pl.DataFrame({"n": _column(nums), "d": _column(dens)})
    got = df.select(
        by_expr=round_div_expr(pl.col("n"), pl.col("d")),
        by_int=round_div_expr(pl.col("n"), dens[0]),
    )
    assert got.schema == pl.Schema({"by_expr": pl.Int64, "by_int": pl.Int64})
    assert got["by_expr"].to_list() == [round_div(n, d) for n, d in pairs]
    assert got["by_int"].to_list() == [round_div(n, dens[0]) for n in nums]


@st.composite
def charges(draw: st.DrawFn) -> tuple[int, int, int]:
    """(units, rate nanos, divisor) whose product exceeds Int64 but whose charge fits.

    Divisors are those the engine uses (messages, seconds per minute, bytes per MB), so the
    divisor x 1000 stays within money.MUL_DIV_MAX_DIVISOR.
    """
    divisor = draw(st.sampled_from([1, 60, 10**6, 2**20]))
    nanos = draw(st.one_of(st.integers(0, 10**12), st.integers(10**12 - 1000, 10**12)))
    limit = INT64_MAX * divisor * 1000 // max(nanos, 1)
    units = draw(
        st.one_of(
            st.integers(0, min(limit, MUL_DIV_MAX_OPERAND - 1)),
            st.integers(
                max(0, min(limit, MUL_DIV_MAX_OPERAND - 1) - 1000),
                min(limit, MUL_DIV_MAX_OPERAND - 1),
            ),
        )
    )
    return units, nanos, divisor


@settings(max_examples=300, deadline=None)
@given(charges())
def test_mul_div_round_compiled_and_plain_equal_charge_micros(row: tuple[int, int, int]) -> None:
    units, nanos, divisor = row
    expected = charge_micros(units, nanos, divisor)
    assert mul_div_round(units, nanos, divisor * 1000) == expected
    assert compiled_mul_div_round(units, nanos, divisor * 1000) == expected


def test_mul_div_round_large_product() -> None:
    # 10^12 bytes at 10^12 nanos/MB: the product 10^24 exceeds Int64 (long multiplication).
    rows = [(10**12, 10**12, 10**6), (2**61, 3, 1), (7, 2**62 - 1, 2**20)]
    got = [compiled_mul_div_round(u, r, d * 1000) for u, r, d in rows]
    assert got == [charge_micros(*row) for row in rows]
    assert got[0] == 10**15


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(
        st.integers(0, MUL_DIV_MAX_OPERAND - 1),
        st.one_of(st.integers(0, PPM - 1), st.sampled_from([190_000, 255_000])),
    )
)
def test_mul_div_round_equals_vat_micros(row: tuple[int, int]) -> None:
    charge, ppm = row
    assert compiled_mul_div_round(charge, ppm, PPM) == vat_micros(charge, ppm)


def test_mul_div_round_ties_to_even() -> None:
    assert [compiled_mul_div_round(c, 100_000, PPM) for c in (5, 15, 25, 35)] == [0, 2, 2, 4]
    got = [compiled_mul_div_round(u, r, d * 1000) for u, r, d in ((1, 500, 1), (1, 1500, 1),
           (1, 2500, 1), (3, 30_000, 60))]  # fmt: skip
    assert got == [0, 2, 2, 2]
    df = pl.DataFrame({"n": _column([1, 3, 5, 7, 2**62 + 1]), "d": _column([2] * 5)})
    assert df.select(q=round_div_expr(pl.col("n"), pl.col("d")))["q"].to_list() == [
        0,
        2,
        2,
        4,
        2**61,
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (2**31 - 1, 2**32 - 1),  # the largest product of the one-division path
        (2**31, 2**32 - 1),  # just past it on either side: long multiplication
        (2**31 - 1, 2**32),
        (2**31 - 1, 2**32 - 3),
    ],
)
@pytest.mark.parametrize("divisor", [1, 2, 60_000, 10**9, 2**20 * 1000])
def test_mul_div_round_both_paths_round_half_even_exactly(a: int, b: int, divisor: int) -> None:
    expected = round_div(a * b, divisor)
    assert mul_div_round(a, b, divisor) == expected
    assert compiled_mul_div_round(a, b, divisor) == expected
