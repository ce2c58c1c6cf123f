"""The rating engine: usage records in, rated records, rejects, notifications and counters out.

Implements docs/rating.md; the per-record oracle is ``roamlike.reference`` and the two are
property-tested to agree. No Python loop touches a record.

Pipeline
--------
1. ``normalise``: the canonical columns are read into the engine's own frame (extra input
   columns wait aside, so no input name can collide with a working column) and validated
   (reason codes in the order of rating.md §7);
2. local date, billing period, and an as-of join on the price table (law + FX + VAT per segment,
   ``prices.price_table``, built once per run) which also gives the regime of each row;
3. rows with a reason become rejects (as read), the others are rated: per-record units and rates
   (``units``), then one compiled pass in event order per subscriber (``kernel``) for pools, fair
   use, surcharges, bill-shock, VAT and notification marks, starting from the counters of an
   earlier run (``carry``);
4. assembly (``assembly``): rated rows in read order, rejects, notifications, counters after.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.counters import Counters
from roamlike.errors import TariffError
from roamlike.law import Catalog, default_catalog
from roamlike.rating import assembly, carry, kernel, units
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import messages, plans_frame, validate
from roamlike.rating.notifications import PRICE_COLUMNS, notifications, notifications_columns
from roamlike.rating.prices import SegmentCache, price_table
from roamlike.tariffs import FxTable, Plan

RATED_COLUMNS = assembly.RATED_COLUMNS

#: Called with each step's name as the step ends (``benchmarks/profile_engine.py`` times the
#: steps of :func:`rate_usage` so); None in normal runs.
STEP_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if STEP_HOOK is not None:
        STEP_HOOK(name)


@dataclass(frozen=True)
class RatingResult:
    """What a rating run produced. ``len(rated) + len(rejects) == read``, always.

    ``counters`` are the counters after the run for the subscribers and periods it touched
    (docs/rating.md §9): merge them into a store to continue with the next file.
    """

    rated: pl.DataFrame
    rejects: pl.DataFrame
    notifications: pl.DataFrame
    read: int
    counters: Counters


#: What the steps after validation need of a row that passed it (the rejected rows' input
#: columns are gathered from the validated frame by position).
_OK_COLUMNS = [
    "row_number",
    "_pos",
    "_rid",
    "_sub",
    "_plan",
    "_event",
    "_ts",
    "_off",
    "_home",
    "_visited",
    "destination_country",
    "_dur",
    "_vol",
    "_cnt",
    "_beyond",
    "_qty",
    "currency",
    "_anchor",
    "_28d",
]


class _SegmentCodes:
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

    def pair_event(self, pair: pl.Expr, event: pl.Expr | str) -> pl.Expr:
        """The code of (pair, event type), below ``LIMIT``."""
        e = pl.col(event) if isinstance(event, str) else event
        return pair * self.n_events + e.cast(pl.String).cast(assembly.EVENT_ENUM).to_physical()

    def pair_event_series(self, pair: pl.Series, event: pl.Series) -> pl.Series:
        """:meth:`pair_event` of Series (``event`` as text or as ``assembly.EVENT_ENUM``)."""
        e = event if event.dtype == assembly.EVENT_ENUM else event.cast(assembly.EVENT_ENUM)
        return pair * self.n_events + e.to_physical().cast(pl.Int64)


def _local_and_period(lf: pl.LazyFrame) -> pl.LazyFrame:
    local = pl.col("_ts") + pl.duration(minutes=pl.col("_off"))
    lf = lf.with_columns(local_date=local.dt.date())
    days = (pl.col("local_date") - pl.col("_anchor")).dt.total_days()
    period_28 = pl.col("_anchor") + pl.duration(days=(days // 28) * 28)
    return lf.with_columns(
        _period=pl.when(pl.col("_28d"))
        .then(period_28)
        .otherwise(pl.col("local_date").dt.month_start())
    )


def _needs_surcharge() -> pl.Expr:
    kind = pl.col("rule_kind")
    ev = pl.col("_event")
    return (
        ((kind == "rlah") & (ev == "data"))
        | ((kind == "rlah") & pl.col("_beyond") & ev.is_in(["voice_mo", "voice_mt", "sms_mo"]))
        | ((kind == "surcharge_cap") & ev.is_in(["voice_mo", "voice_mt", "sms_mo", "data"]))
    )


def rate_usage(
    usage: pl.LazyFrame | pl.DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    catalog: Catalog | None = None,
    counters: Counters | None = None,
    known_record_ids: Collection[str] | pl.Series | None = None,
    segment_cache: SegmentCache | None = None,
) -> RatingResult:
    """Rate usage records under the rules in force at their local start time.

    Parameters
    ----------
    usage : polars.LazyFrame or DataFrame
        Canonical usage columns (docs/rating.md §1.1), any types (text is validated). Other
        columns pass through to the outputs unchanged (renamed ``input_<name>`` if their name
        is an output column's, rating.md §8).
    plans : mapping of plan id to Plan
    fx : FxTable, optional
        Exchange rates for non-euro plans.
    catalog : Catalog, optional
        The law catalog; default :func:`roamlike.law.default_catalog`.
    counters : Counters, optional
        Counters left by earlier runs (rating.md §9); default: every counter at zero. Records
        before their subscriber's last rated event are then rated last and flagged ``is_late``.
    known_record_ids : collection of str or Series, optional
        Record ids rated or rejected by earlier runs: a row with one of them is a
        ``DUPLICATE_RECORD_ID`` (the hook for a store's duplicate rule across runs).
    segment_cache : dict, optional
        Price-table segments kept across calls with the same plans, FX and catalog.

    Returns
    -------
    RatingResult
        Rated records (canonical input columns, normalised, then the other input columns, then
        the output columns of §8), rejects (the rows as read plus ``row_number``,
        ``reason_code``, ``message``), notifications and the counters after the run.
    """
    fx = fx or FxTable()
    cat = catalog or default_catalog()
    # A lazy input (a scan) is read once here: the steps below query it twice (canonical columns
    # and pass-through columns), and Polars' streaming engine has been seen to panic on a dirty
    # CSV scan queried that way; the batch is held in memory by the next step anyway.
    frame = (usage.collect() if isinstance(usage, pl.LazyFrame) else usage).lazy()
    split = assembly.split_input(frame)
    _step("split input")
    checked = validate(split.core, plans, cat, known_record_ids).collect()
    read = checked.height
    basic_rejects = messages(checked.lazy().filter(pl.col("reason_code").is_not_null())).collect()
    _step("validate")

    ok = _local_and_period(
        checked.lazy().filter(pl.col("reason_code").is_null()).select(_OK_COLUMNS)
    ).collect()
    # a local date past the catalog's coverage needs no price table (and may lie beyond the
    # calendar Python can hold): reject it here
    coverage = cat.coverage
    outside = (pl.col("local_date") < coverage.start) | (pl.col("local_date") > coverage.end)
    early = ok.filter(outside)
    if early.height:
        ok = ok.filter(~outside)
    _step("local date, period")
    # integer codes of (plan, visited country, event type): the joins below compare integers
    countries = sorted(cat.countries)
    plan_ids = sorted({p.id for p in plans.values()})
    codes = _SegmentCodes(plan_ids, countries)
    pair = ok.select(codes.pair(pl.col("_plan"), pl.col("_visited"))).to_series()
    pairs = (
        pl.DataFrame({"_pair": pair, "local_date": ok.get_column("local_date")})
        .group_by("_pair")
        .agg(lo=pl.col("local_date").min(), hi=pl.col("local_date").max())
        .sort("_pair")
    )
    pair_code = pairs.get_column("_pair").to_numpy()
    pairs = pairs.with_columns(
        plan_id=pl.Series(np.array(plan_ids, dtype=object)[pair_code // codes.n_countries]),
        visited_country=pl.Series(np.array(countries, dtype=object)[pair_code % codes.n_countries]),
    )
    prices = (
        price_table(pairs, plans, fx, segment_cache, catalog=cat)
        .rename({"plan_id": "_plan", "visited_country": "_visited", "event_type": "_event"})
        .with_row_index("_price_row")
    )
    _step("price table")
    price_row = _price_rows(ok, pair, prices, codes)
    plan_frame = plans_frame(plans)
    table = _row_table(prices, plan_frame, countries)
    beyond = np.ascontiguousarray(ok.get_column("_beyond").to_numpy())
    reason = np.where(
        beyond, table["reason_beyond"][price_row], table["reason_plain"][price_row]
    ).astype(np.int8)
    rejected = np.flatnonzero(reason)
    late_rejects = assembly.price_rejects(
        ok[rejected].with_columns(
            _price_row=pl.Series(price_row[rejected]),
            reason_code=pl.Series(
                np.array(rc.ALL, dtype=object)[reason[rejected] - 1], dtype=pl.String
            ),
        ),
        prices,
    )
    rejects = assembly.rejects(
        split,
        checked,
        [basic_rejects, assembly.coverage_rejects(early, coverage), late_rejects],
    )
    good = ok
    if rejected.size:
        keep = reason == 0
        good, price_row, beyond = ok.filter(pl.Series(keep)), price_row[keep], beyond[keep]
    _step("segment join, rejects")
    is_late = carry.late_flags(good, counters)
    sub = np.ascontiguousarray(
        good.get_column("_sub")
        .cast(pl.Categorical(pl.Categories.random()))
        .to_physical()
        .cast(pl.Int64)
        .to_numpy()
    )
    # a fresh category mapping numbers subscribers 0..n-1; plans keep the run's codes
    plan = np.ascontiguousarray(
        good.get_column("_plan").cast(codes.plans).to_physical().cast(pl.Int64).to_numpy()
    )
    period = np.ascontiguousarray(
        good.get_column("_period").cast(pl.Int32).cast(pl.Int64).to_numpy()
    )
    order = _event_order(sub, good, is_late)
    _step("event order")
    n_codes = int(sub.max()) + 1 if sub.size else 0
    sid, gid, sub_first, group_first = kernel.number_groups(order, sub, plan, period, n_codes)
    state, groups, subs = carry.initial_state(
        good, sub_first, group_first, counters, {c: i for i, c in enumerate(countries)}
    )
    inputs = dict(table["inputs"])
    inputs.update(
        order=order,
        sid=sid,
        gid=gid,
        is_late=np.ascontiguousarray(is_late.to_numpy()),
        qty=np.ascontiguousarray(good.get_column("_qty").to_numpy()),
        prow=price_row,
        beyond=beyond,
    )
    _step("pass inputs")
    out = kernel.walk(inputs, state)
    _step("compiled pass")
    after = carry.counters_after(good, state, groups, subs, counters, countries)
    _step("counters after")
    marked = np.flatnonzero(out["notes"])
    notes = notifications(
        good.select(notifications_columns())[marked].with_columns(
            pl.Series("_notes", out["notes"][marked]),
            *prices.select(PRICE_COLUMNS)[price_row[marked]].get_columns(),
        )
    )
    _step("notifications")
    rated = assembly.rated(split, good, out, is_late, price_row, prices, plan_frame, cat)
    _step("assembly")
    return RatingResult(
        rated=rated, rejects=rejects, notifications=notes, read=read, counters=after
    )


#: Above this many (plan, visited, event, day) combinations the records' price rows are found
#: by a hash join instead of a direct lookup table (4 bytes and 1 byte per combination).
DIRECT_KEYS = 2**23


def _price_rows(
    ok: pl.DataFrame, pair: pl.Series, prices: pl.DataFrame, codes: _SegmentCodes
) -> npt.NDArray[np.int64]:
    """Each record's price-table row: the segment of its (plan, visited, event) in force on its
    local date, found by an as-of join of the distinct (plan, visited, event, local date).

    The distinct combinations are found without hashing when they fit a table of
    :data:`DIRECT_KEYS` entries (the usual case: tens of plans and countries, a few months),
    else by Polars' hash-based ``unique`` and join; both give the same rows.
    """
    pe = codes.pair_event_series(pair, ok.get_column("_event")).to_numpy()
    day = ok.get_column("local_date").cast(pl.Int32).to_numpy()
    if not day.size:
        return np.zeros(0, np.int64)
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


def _segments(keys: pl.DataFrame, prices: pl.DataFrame, codes: _SegmentCodes) -> pl.DataFrame:
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


def _row_table(prices: pl.DataFrame, plans: pl.DataFrame, countries: list[str]) -> dict[str, Any]:
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
            .when(_needs_surcharge() & pl.col("sur_nanos").is_null())
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


def _event_order(
    sub: npt.NDArray[np.int64], good: pl.DataFrame, is_late: pl.Series
) -> npt.NDArray[np.int64]:
    """Processing order: every subscriber's on-time records in event order, then its late ones
    in read order (rating.md §2, §9).

    Counters are per subscriber, so subscribers may interleave: the pass takes all on-time
    records by start time, then the late records in read order. On a file in time order this is
    nearly the read order, so the pass reads its per-record arrays almost sequentially. One
    arg-sort on an integer key (nearly free on such a file); the ``record_id`` tie-breaker is
    applied only where two on-time records of one subscriber share a start time, by sorting
    just those rows.
    """
    late = np.ascontiguousarray(is_late.to_numpy())
    ts = np.ascontiguousarray(good.get_column("_ts").dt.epoch("us").to_numpy(), dtype=np.int64)
    if late.any():
        rows = good.get_column("row_number").to_numpy()
        on_time = np.flatnonzero(~late)
        key = np.where(late, rows, ts).astype(np.int64)
        late_rows = np.flatnonzero(late)
        order = np.concatenate(
            [
                on_time[_arg_sort(ts[on_time])],
                late_rows[np.argsort(rows[late_rows], kind="stable")],
            ]
        ).astype(np.int64)
    else:  # no counters (or no late record): every record by start time
        key = ts
        order = _arg_sort(ts)
    kernel.sort_runs_by_subscriber(order, key, late, sub)
    run = kernel.tie_runs(order, sub, key, late)
    tied = np.flatnonzero(run >= 0)
    if tied.size:
        tied_rows = order[tied]
        order[tied] = (
            pl.DataFrame({"run": run[tied], "row": tied_rows})
            .with_columns(rid=good.get_column("_rid").gather(tied_rows))
            .sort("run", "rid")
            .get_column("row")
            .to_numpy()
        )
    return order


def _arg_sort(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Positions of ``values`` in ascending order (ties in any order): nothing to sort when
    they already ascend, as start times do in a file written in time order."""
    if kernel.ascending(values):
        return np.arange(values.size, dtype=np.int64)
    return np.ascontiguousarray(pl.Series(values).arg_sort().cast(pl.Int64).to_numpy(writable=True))
