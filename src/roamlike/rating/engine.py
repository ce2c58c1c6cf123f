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

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.counters import Counters
from roamlike.errors import TariffError
from roamlike.law import Catalog, default_catalog
from roamlike.rating import assembly, carry, kernel, units
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import messages, validate
from roamlike.rating.notifications import notifications, notifications_columns
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


#: What the pass and the outputs need of a validated row (the rest is joined back at the end).
_NARROW = [
    "row_number",
    "_sub",
    "_plan",
    "_period",
    "_ts",
    "_rid",
    "_event",
    "_visited",
    "_qty",
    "_beyond",
    "_binary",
    "_m2m",
    "_bs_continue",
    "_allow_voice_s",
    "_allow_sms",
    "_allow_data_bytes",
    "local_date",
    "currency",
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


def _local_and_period(lf: pl.LazyFrame) -> pl.LazyFrame:
    local = pl.col("_ts") + pl.duration(minutes=pl.col("_off"))
    lf = lf.with_columns(local_date=local.dt.date())
    days = (pl.col("local_date") - pl.col("_anchor")).dt.total_days()
    period_28 = pl.col("_anchor") + pl.duration(days=(days // 28) * 28)
    return lf.with_columns(
        _period=pl.when(pl.col("_period_kind") == "28d")
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

    ok = _local_and_period(checked.lazy().filter(pl.col("reason_code").is_null())).collect()
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
    codes = _SegmentCodes(sorted({p.id for p in plans.values()}), countries)
    ok = ok.with_columns(_pair=codes.pair(pl.col("_plan"), pl.col("_visited")))
    pairs = ok.group_by("_pair").agg(
        plan_id=pl.col("_plan").first(),
        visited_country=pl.col("_visited").first(),
        lo=pl.col("local_date").min(),
        hi=pl.col("local_date").max(),
    )
    prices = (
        price_table(pairs, plans, fx, segment_cache, catalog=cat)
        .rename({"plan_id": "_plan", "visited_country": "_visited", "event_type": "_event"})
        .with_row_index("_price_row")
    )
    _step("price table")
    # the segment of each distinct (plan, visited, event, local date) by an as-of join, then
    # each record's price-table row by a join on one integer key (records stay in read order)
    day = pl.col("local_date").cast(pl.Int32).cast(pl.Int64) + 2**31
    keyed = ok.select(_key=codes.pair_event(pl.col("_pair"), pl.col("_event")) * 2**32 + day)
    segments = (
        keyed.unique()
        .with_columns(
            _pe=pl.col("_key") // 2**32,
            local_date=(pl.col("_key") % 2**32 - 2**31).cast(pl.Int32).cast(pl.Date),
        )
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
        .select("_key", "_price_row")
    )
    price_row = keyed.join(segments, on="_key", how="left", maintain_order="left").get_column(
        "_price_row"
    )
    priced = pl.concat(
        [
            ok.select(_NARROW),
            prices.drop(
                "_plan", "_visited", "_event", "regime", "seg_message", "parameters", "valid_from"
            ).select(pl.all().gather(price_row)),
        ],
        how="horizontal",
    ).with_columns(
        reason_code=pl.when(pl.col("seg_reason").is_not_null())
        .then(pl.col("seg_reason"))
        .when(_needs_surcharge() & pl.col("sur_nanos").is_null())
        .then(pl.lit(rc.NO_RULE_IN_FORCE))
    )
    late_rejects = assembly.price_rejects(ok, priced, prices)
    rejects = assembly.rejects(
        split, [basic_rejects, assembly.coverage_rejects(early, coverage), late_rejects]
    )
    _step("segment join, rejects")

    good = units.billed(
        priced.lazy()
        .filter(pl.col("reason_code").is_null())
        .with_columns(
            # enums: the comparisons below test small integers, not text
            rule_kind=pl.col("rule_kind").cast(assembly.KIND_ENUM),
            _event=pl.col("_event").cast(assembly.EVENT_ENUM),
            _visited=pl.col("_visited").cast(pl.Enum(countries)),
        )
        .drop("seg_reason", "reason_code")
    ).collect()
    _step("billed units")
    is_late = carry.late_flags(good, counters)
    # dense codes (0..n-1) of a fresh category mapping: the numbering indexes a small array
    dense = good.select(
        pl.col("_sub").cast(pl.Categorical(pl.Categories.random())).to_physical(),
        pl.col("_plan").cast(pl.Categorical(pl.Categories.random())).to_physical(),
        pl.col("_period").cast(pl.Int32),
    )
    sub, plan, period = (
        np.ascontiguousarray(s.cast(pl.Int64).to_numpy()) for s in dense.get_columns()
    )
    order = _event_order(sub, good, is_late)
    _step("event order")
    n_codes = int(sub.max()) + 1 if sub.size else 0
    sid, gid, sub_first, group_first = kernel.number_groups(order, sub, plan, period, n_codes)
    state, groups, subs = carry.initial_state(
        good, sub_first, group_first, counters, {c: i for i, c in enumerate(countries)}
    )
    inputs = _segment_inputs(good, prices.height)
    inputs.update(
        order=order,
        sid=sid,
        gid=gid,
        is_late=np.ascontiguousarray(is_late.to_numpy()),
        units=np.ascontiguousarray(good.get_column("_units").to_numpy()),
        prow=np.ascontiguousarray(good.get_column("_price_row").cast(pl.Int64).to_numpy()),
        beyond=np.ascontiguousarray(good.get_column("_beyond").to_numpy()),
    )
    _step("pass inputs")
    out = kernel.walk(inputs, state)
    _step("compiled pass")
    after = carry.counters_after(good, state, groups, subs, counters, countries)
    _step("counters after")
    rated_narrow = good.with_columns(
        *(pl.Series(name, values) for name, values in out.items()),
        is_late=is_late,
    ).rename({"notes": "_notes"})
    marked = pl.Series(np.flatnonzero(out["notes"]))
    notes = notifications(
        good.select(*notifications_columns(), _notes=pl.Series(out["notes"]))[marked]
    )
    _step("notifications")
    rated = assembly.rated(split, ok, rated_narrow, prices, late_rejects)
    _step("assembly")
    return RatingResult(
        rated=rated, rejects=rejects, notifications=notes, read=read, counters=after
    )


def _segment_inputs(good: pl.DataFrame, n_rows: int) -> dict[str, npt.NDArray[np.generic]]:
    """The pass's inputs that depend on the price-table row alone, one entry per row.

    A row fixes the plan, visited country, event type and segment, so every input of
    ``units.pass_inputs`` but the units and the surcharge mode (which also depends on the
    record's ``is_beyond_fair_use``) is the same for all its records: it is computed once per
    row, from one record of the row, and the pass reads it by the record's row number. The
    surcharge mode is given for both values of the flag (``sur_mode``, ``sur_mode_beyond``).
    """
    table = good[good.get_column("_price_row").arg_unique()]
    rows = table.get_column("_price_row").cast(pl.Int64).to_numpy()
    out: dict[str, npt.NDArray[np.generic]] = {}
    for flag, suffix in ((False, ""), (True, "_beyond")):
        values = units.as_arrays(
            units.pass_inputs(table.lazy().with_columns(_beyond=pl.lit(flag))).collect()
        )
        for name, column in values.items():
            if name == "units" or (flag and name != "sur_mode"):
                continue
            scattered = np.zeros(n_rows, dtype=column.dtype)
            scattered[rows] = column
            out[name + suffix] = scattered
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
    rows = good.get_column("row_number").to_numpy()
    ts = good.get_column("_ts").dt.epoch("us").to_numpy()
    on_time = np.flatnonzero(~late)
    key = np.where(late, rows, ts).astype(np.int64)
    by_time = on_time[pl.Series(ts[on_time]).arg_sort().cast(pl.Int64).to_numpy()]
    late_rows = np.flatnonzero(late)
    order = np.ascontiguousarray(
        np.concatenate([by_time, late_rows[np.argsort(rows[late_rows], kind="stable")]])
    ).astype(np.int64)
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
