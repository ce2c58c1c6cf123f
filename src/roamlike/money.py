"""Money: the one place where amounts are rounded.

Amounts are exact ``Decimal`` in law, tariff and reference code and ``Int64`` micro-units
(10^-6 of the currency) in the engine. Exactly three roundings exist, all **half-even**
(banker's rounding, the IEEE 754 default, unbiased over millions of records):

1. **Unit rates** (a price per minute, message, MB or GB, in the plan currency excl. VAT, after
   currency conversion and VAT removal) are rounded to 10^-9 of the currency ("nanos").
2. **Charges**: ``units x rate / divisor`` is rounded to micro-units once per record and
   component (domestic, surcharge, roaming). Limits converted from euro are rounded to micros.
3. **VAT**: ``charge_excl_vat_micros x vat_rate`` is rounded to micro-units once per record.

The engine does the same arithmetic on 64-bit integers (:func:`mul_div_round`, compiled by
``roamlike.rating.kernel``), so it equals this module to the micro-unit.

References
----------
docs/rating.md sections 4-6; Regulation (EU) 2022/612 Art. 8(1) (per-second and per-kB charging).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

MICROS_PER_UNIT = 1_000_000
NANOS_PER_UNIT = 1_000_000_000
PPM = 1_000_000  # VAT rates are held as parts per million
_NANO = Decimal("1e-9")
_MICRO = Decimal("1e-6")


def rate(value: Decimal) -> Decimal:
    """Round a unit rate to 10^-9 of the currency, half-even.

    Examples
    --------
    >>> rate(Decimal("0.09") / Decimal("1.19"))
    Decimal('0.075630252')
    """
    return value.quantize(_NANO, rounding=ROUND_HALF_EVEN)


def rate_nanos(value: Decimal) -> int:
    """A unit rate as an integer number of 10^-9 currency units (rounded as :func:`rate`)."""
    return int(rate(value) * NANOS_PER_UNIT)


def to_micros(amount: Decimal) -> int:
    """An amount in micro-units, rounded half-even (used for limits such as EUR 50 x FX).

    Examples
    --------
    >>> to_micros(Decimal("50") * Decimal("117.1234567"))
    5856172835
    """
    return int((amount / _MICRO).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def round_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even, for integers ``numerator >= 0``.

    Examples
    --------
    >>> round_div(5, 2), round_div(7, 2), round_div(7, 3)
    (2, 4, 2)
    """
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    return q


def charge_micros(units: int, unit_rate_nanos: int, divisor: int) -> int:
    """Charge in micros for ``units`` billed units at a rate per law unit (nanos).

    ``divisor`` is the number of billed units in one law unit (60 seconds per minute, 10^6 bytes
    per MB, 1 per message).

    Examples
    --------
    >>> charge_micros(600, 190_000_000, 60)   # 10 min at EUR 0.19/min
    1900000
    >>> charge_micros(1_000_000_000, 1_100_000_000, 1_000_000_000)   # 1 GB at EUR 1.10/GB
    1100000
    """
    return round_div(units * unit_rate_nanos, divisor * (NANOS_PER_UNIT // MICROS_PER_UNIT))


def vat_ppm(vat_rate: Decimal) -> int:
    """A VAT rate as parts per million; rates need at most 6 decimals (e.g. 0.255)."""
    scaled = vat_rate * PPM
    if scaled != scaled.to_integral_value():
        raise ValueError(f"VAT rate {vat_rate} has more than 6 decimal places")
    return int(scaled)


def vat_micros(charge_excl_vat_micros: int, vat_rate_ppm: int) -> int:
    """VAT on a charge, in micros, rounded half-even.

    Examples
    --------
    >>> vat_micros(1_100_000, 190_000)
    209000
    """
    return round_div(charge_excl_vat_micros * vat_rate_ppm, PPM)


# ------------------------------------------------------------------------------------------
# The same arithmetic as Polars expressions (the engine). Operands are non-negative integers.


def round_div_expr(numerator: pl.Expr, denominator: pl.Expr | int) -> pl.Expr:
    """Half-even integer division of non-negative integer expressions (Int128 inside)."""
    num = numerator.cast(pl.Int128)
    den = (
        denominator.cast(pl.Int128)
        if isinstance(denominator, pl.Expr)
        else pl.lit(denominator, dtype=pl.Int128)
    )
    q = num // den
    r = num - q * den
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    return (q + up.cast(pl.Int128)).cast(pl.Int64)


#: Bounds of the exact 64-bit path of :func:`mul_div_round` (see its Notes).
MUL_DIV_MAX_OPERAND = 2**62
MUL_DIV_MAX_DIVISOR = 2**30
_SPLIT = 2**30
#: Below these, ``a x b`` fits in 63 bits and ``mul_div_round`` divides once.
_SMALL_A = 2**31
_SMALL_B = 2**32


def mul_div_round(a: int, b: int, divisor: int) -> int:
    """``round_half_even(a x b / divisor)`` for non-negative integers, in 64-bit steps.

    Written with scalar operations only, so that ``roamlike.rating.kernel`` compiles this very
    function with Numba: the engine's charges (``units x rate_nanos / (divisor x 1000)``) and
    VAT (``charge x vat_ppm / 10^6``) are rounded here.

    Notes
    -----
    With ``a = aq·D + ar`` and ``b = bh·2^30 + bl``, ``A = ar·bh = Aq·D + Ar`` and
    ``B = Ar·2^30 + ar·bl = Bq·D + Br``::

        a·b = D·(aq·b + Aq·2^30 + Bq) + Br,   0 <= Br < D

    so the floor is ``aq·b + Aq·2^30 + Bq`` and ``Br`` decides the rounding. When
    ``a < 2^31`` and ``b < 2^32`` (units and rates of nearly every record, and VAT) the product
    itself fits in 63 bits and is divided once. No intermediate
    exceeds 2^62 when ``a, b < 2^62``, ``D <= 2^30`` and the result is below 2^62: the engine's
    bounds (at most 10^12 bytes or 86 400 s per record, rates at most 10^15 nanos per unit,
    divisors at most 2^20 x 1000) keep every record inside them.

    Examples
    --------
    >>> mul_div_round(600, 190_000_000, 60_000)   # 10 min at EUR 0.19/min, in micros
    1900000
    >>> mul_div_round(30, 1_000, 60_000), mul_div_round(90, 1_000, 60_000)   # 0.5, 1.5
    (0, 2)
    """
    if a < _SMALL_A and b < _SMALL_B:  # a·b < 2^63: one division (nearly every record)
        q = a * b // divisor
        r = a * b - q * divisor
        if 2 * r > divisor or (2 * r == divisor and q % 2 == 1):
            q += 1
        return q
    aq = a // divisor
    ar = a - aq * divisor
    bh = b // _SPLIT
    bl = b - bh * _SPLIT
    big_a = ar * bh
    a_q = big_a // divisor
    a_r = big_a - a_q * divisor
    big_b = a_r * _SPLIT + ar * bl
    b_q = big_b // divisor
    b_r = big_b - b_q * divisor
    floor = aq * b + a_q * _SPLIT + b_q
    if 2 * b_r > divisor or (2 * b_r == divisor and floor % 2 == 1):
        floor += 1
    return floor
