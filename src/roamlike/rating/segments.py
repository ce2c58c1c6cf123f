"""Records to price-table rows: integer codes, the as-of segment lookup, per-row decisions.

Each record meets its price-table row (``roamlike.rating.prices``) by one integer key of its
plan, visited country, event type and local date (:class:`SegmentCodes`, :func:`price_rows`);
what a row fixes for all its records (reject reasons, the compiled pass's rates and bounds) is
computed once per row (:func:`row_table`). See docs/rating.md §7c.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.errors import TariffError
from roamlike.rating import assembly, units
from roamlike.rating import reasons as rc


class SegmentCodes:
    """Integer codes of plans, visited countries and event types, combined into one Int64."""

    #: Codes of (plan, visited, event) must stay below this: the local date takes 32 bits.
    LIMIT = 2**31

    def __init__(self, plan_ids: list[str], countries: list[str]) -> None:
        self.n_countries = len(countries)
        self.n_events = len(rc.EVENT_TYPES)
        if len(plan_ids) * self.n_countries * self.n_events >= self.LIMIT:
            raise TariffError(
                f"{len(plan_ids):,} plans are more than the engine rates in one run "
                f"(at most {self.LIMIT // (self.n_countries * self.n_events):,}): split the "
                "plans file"
            )
        self.plans = pl.Enum(plan_ids)
        self.countries = pl.Enum(countries)

    def pair(self, plan: pl.Expr, visited: pl.Expr) -> pl.Expr:
        """The code of (plan, visited country)."""
        p = plan.cast(pl.String).cast(self.plans).to_physical().cast(pl.Int64)
        v = visited.cast(pl.String).cast(self.countries).to_physical().cast(pl.Int64)
        return p * self.n_countries + v

    def pair_of_codes(self, plan_code: pl.Expr, visited_code: pl.Expr) -> pl.Expr:
        """:meth:`pair` of the codes validation gives (``normalise.CODES``): the positions of
        the plan and the visited country in this object's enums."""
        return plan_code.cast(pl.Int64) * self.n_countries + visited_code.cast(pl.Int64)

    def pair_event(self, pair: pl.Expr, event: pl.Expr | str) -> pl.Expr:
        """The code of (pair, event type), below ``LIMIT``."""
        e = pl.col(event) if isinstance(event, str) else event
        return pair * self.n_events + e.cast(pl.String).cast(assembly.EVENT_ENUM).to_physical()

    def pair_event_series(self, pair: pl.Series, event: pl.Series) -> pl.Series:
        """:meth:`pair_event` of Series (``event`` as text or as ``assembly.EVENT_ENUM``)."""
        e = event if event.dtype == assembly.EVENT_ENUM else event.cast(assembly.EVENT_ENUM)
        return pair * self.n_events + e.to_physical().cast(pl.Int64)


def needs_surcharge() -> pl.Expr:
    kind = pl.col("rule_kind")
    ev = pl.col("_event")
    return (
        ((kind == "rlah") & (ev == "data"))
        | ((kind == "rlah") & pl.col("_beyond") & ev.is_in(["voice_mo", "voice_mt", "sms_mo"]))
        | ((kind == "surcharge_cap") & ev.is_in(["voice_mo", "voice_mt", "sms_mo", "data"]))
    )


#: Above this many (plan, visited, event, day) combinations the records' price rows are found
#: by a hash join instead of a direct lookup table (4 bytes and 1 byte per combination).
DIRECT_KEYS = 2**23


@dataclass(frozen=True)
class DayRows:
    """The price-table row of every (plan, visited, event) code of a table on every day of its
    dates: ``rows[index[code] * span + day - first]`` (days since 1970); ``index`` is -1 for a
    code the table does not price."""

    first: int
    span: int
    index: npt.NDArray[np.int32]
    rows: npt.NDArray[np.int32]


def day_rows(
    prices: pl.DataFrame, codes: SegmentCodes, first: dt.date, last: dt.date
) -> DayRows | None:
    """Every row of ``prices`` spread over the days it is in force within [first, last], or
    None when that would exceed :data:`DIRECT_KEYS` entries.

    A price table serves the batches of a run (``roamlike.rating.tables``): looking each
    record up here replaces the as-of join of each batch's distinct (code, day) keys (0.02-0.03
    CPU-s per batch of 500,000 records). A segment is in force from its ``valid_from`` until
    the next segment of its code starts.
    """
    pe = prices.select(
        codes.pair_event(codes.pair(pl.col("_plan"), pl.col("_visited")), "_event")
    ).to_series()
    lo, span = (first - _EPOCH).days, (last - first).days + 1
    if not pe.len() or span <= 0:
        return None
    start = prices.get_column("valid_from").cast(pl.Int32).to_numpy().astype(np.int64)
    row = prices.get_column("_price_row").cast(pl.Int32).to_numpy()
    order = np.lexsort((start, pe.to_numpy()))  # by code, then by start
    code, start, row = pe.to_numpy()[order], start[order], row[order]
    new_code = np.empty(code.size, np.bool_)
    new_code[0], new_code[1:] = True, code[1:] != code[:-1]
    dense = np.cumsum(new_code, dtype=np.int32) - 1  # the codes numbered 0, 1, ... in order
    if (int(dense[-1]) + 1) * span > DIRECT_KEYS:
        return None
    index = np.full(int(code[-1]) + 1, -1, np.int32)
    index[code[new_code]] = dense[new_code]
    size = (int(dense[-1]) + 1) * span
    ends = np.full(code.size, lo + span, np.int64)  # the next segment of the same code
    ends[:-1][~new_code[1:]] = start[1:][~new_code[1:]]
    live = (ends > lo) & (start < lo + span)  # in force on some day of [first, last]
    marks = np.full(size, -1, np.int32)
    # one segment per code is in force on ``first``; every later one starts on its own day
    marks[dense[live] * span + np.maximum(start[live], lo) - lo] = row[live]
    at = np.where(marks >= 0, np.arange(size, dtype=np.int32), np.int32(0))
    np.maximum.accumulate(at, out=at)
    rows = marks[at]
    # a code whose segments all start after ``first`` would take the rows of the code before
    # it on its first days: none there (``prices.segment_starts`` never makes such a code)
    rows[at < np.arange(size, dtype=np.int32) // span * span] = -1
    return DayRows(lo, span, index, rows)


_EPOCH = dt.date(1970, 1, 1)


def price_rows(
    ok: pl.DataFrame,
    pair: pl.Series,
    prices: pl.DataFrame,
    codes: SegmentCodes,
    days: DayRows | None = None,
) -> npt.NDArray[np.int64]:
    """Each record's price-table row: the segment of its (plan, visited, event) in force on its
    local date, found by an as-of join of the distinct (plan, visited, event, local date).

    ``days`` (:func:`day_rows` of ``prices``), when it holds every record's code and day,
    gives the rows by one lookup. Else the distinct combinations are found without hashing
    when they fit a table of :data:`DIRECT_KEYS` entries (the usual case: tens of plans and
    countries, a few months), else by Polars' hash-based ``unique`` and join; all give the
    same rows.
    """
    # the event type's code from validation (``_event_kind``, the same enum as the text's)
    pe = codes.pair_event_series(pair, ok.get_column("_event_kind")).to_numpy()
    day = ok.get_column("local_date").cast(pl.Int32).to_numpy()
    if not day.size:
        return np.zeros(0, np.int64)
    if days is not None:
        offset = day - days.first
        if offset.min() >= 0 and offset.max() < days.span and pe.max() < days.index.size:
            dense = days.index[pe]
            if dense.min() >= 0:
                looked: npt.NDArray[np.int32] = days.rows[dense * days.span + offset]
                if looked.min() >= 0:
                    return looked.astype(np.int64)
    lo = int(day.min())
    span = int(day.max()) - lo + 1
    size = (int(pe.max()) + 1) * span
    if size <= DIRECT_KEYS:
        key = pe * span + (day - lo)
        used = np.zeros(size, np.bool_)
        used[key] = True
        keys = np.flatnonzero(used)
        found = _segments(
            pl.DataFrame({"_key": keys, "_pe": keys // span, "_day": keys % span + lo}),
            prices,
            codes,
        )
        lookup = np.zeros(size, np.int32)
        lookup[keys] = found.get_column("_price_row").cast(pl.Int32).to_numpy()
        return np.ascontiguousarray(lookup[key], dtype=np.int64)
    keyed = pl.DataFrame({"_key": pe * 2**32 + (day.astype(np.int64) + 2**31)})
    distinct = keyed.unique().with_columns(
        _pe=pl.col("_key") // 2**32, _day=(pl.col("_key") % 2**32 - 2**31)
    )
    rows = keyed.join(
        _segments(distinct, prices, codes), on="_key", how="left", maintain_order="left"
    )
    return np.ascontiguousarray(rows.get_column("_price_row").cast(pl.Int64).to_numpy())


def _segments(keys: pl.DataFrame, prices: pl.DataFrame, codes: SegmentCodes) -> pl.DataFrame:
    """``_key`` and ``_price_row`` of distinct (``_pe``, ``_day``): the price-table row of that
    (plan, visited, event) code whose segment is in force on that day (days since 1970), by
    an as-of join; ``keys``' row order is kept."""
    return (
        keys.with_row_index("_at")
        .with_columns(local_date=pl.col("_day").cast(pl.Int32).cast(pl.Date))
        .sort("local_date")
        .join_asof(
            prices.select(
                _pe=codes.pair_event(codes.pair(pl.col("_plan"), pl.col("_visited")), "_event"),
                valid_from="valid_from",
                _price_row="_price_row",
            ),
            left_on="local_date",
            right_on="valid_from",
            by="_pe",
            strategy="backward",
            check_sortedness=False,
        )
        .sort("_at")
        .select("_key", "_price_row")
    )


#: The last price table given to :func:`row_table`, with its plans, countries and arrays: a
#: service rates one commit group after another against the same plans and days, whose price
#: tables are equal, and building the arrays costs ~8 ms of Polars planning for a few rows.
_LAST_TABLE: list[tuple[pl.DataFrame, pl.DataFrame, tuple[str, ...], dict[str, Any]]] = []


def _copied(table: dict[str, Any]) -> dict[str, Any]:
    """The arrays of a row table, copied (a caller may keep or change its own)."""
    return {k: _copied(v) if isinstance(v, dict) else v.copy() for k, v in table.items()}


def row_table(prices: pl.DataFrame, plans: pl.DataFrame, countries: list[str]) -> dict[str, Any]:
    """:func:`build_row_table`, or a copy of its last result for equal arguments."""
    key = tuple(countries)
    for seen, seen_plans, seen_countries, table in list(_LAST_TABLE):
        if seen_countries == key and seen.equals(prices) and seen_plans.equals(plans):
            return _copied(table)
    table = build_row_table(prices, plans, countries)
    _LAST_TABLE[:] = [(prices, plans, key, table)]
    return _copied(table)


def build_row_table(
    prices: pl.DataFrame, plans: pl.DataFrame, countries: list[str]
) -> dict[str, Any]:
    """What the price table decides per row, as arrays indexed by the row number.

    ``reason_plain`` and ``reason_beyond`` give the reject reason of the row's records (1 + its
    index in ``reasons.ALL``; 0 = rated) for ``is_beyond_fair_use`` false and true: the
    segment's reason, else ``NO_RULE_IN_FORCE`` where a surcharge rate is needed (§4) and none
    is in force. ``inputs`` are the pass's per-row inputs (``units.pass_inputs``), the
    surcharge mode given for both values of the flag (``sur_mode``, ``sur_mode_beyond``).
    """
    plan_columns = plans.select(
        "_plan", "_binary", "_m2m", "_bs_continue", "_allow_voice_s", "_allow_sms",
        "_allow_data_bytes",
    )  # fmt: skip
    table = prices.join(plan_columns, on="_plan", how="left", maintain_order="left").with_columns(
        rule_kind=pl.col("rule_kind").cast(assembly.KIND_ENUM),
        _event=pl.col("_event").cast(assembly.EVENT_ENUM),
        _visited=pl.col("_visited").cast(pl.Enum(countries)),
    )
    out: dict[str, Any] = {}
    for flag, suffix in ((False, "plain"), (True, "beyond")):
        flagged = table.lazy().with_columns(_beyond=pl.lit(flag))
        code = (
            pl.when(pl.col("seg_reason").is_not_null())
            .then(pl.col("seg_reason").replace_strict(rc.ALL, range(1, len(rc.ALL) + 1)))
            .when(needs_surcharge() & pl.col("sur_nanos").is_null())
            .then(rc.ALL.index(rc.NO_RULE_IN_FORCE) + 1)
            .otherwise(0)
        )
        out[f"reason_{suffix}"] = np.ascontiguousarray(
            flagged.select(code.cast(pl.Int8)).collect().to_series().to_numpy()
        )
        values = units.as_arrays(units.pass_inputs(flagged).collect())
        if not flag:
            out["inputs"] = values
        else:
            out["inputs"]["sur_mode_beyond"] = values["sur_mode"]
    return out
