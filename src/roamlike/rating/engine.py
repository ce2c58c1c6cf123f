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
    pairs = (
        ok.group_by("_plan", "_visited")
        .agg(lo=pl.col("local_date").min(), hi=pl.col("local_date").max())
        .rename({"_plan": "plan_id", "_visited": "visited_country"})
    )
    prices = (
        price_table(pairs, plans, fx, segment_cache, catalog=cat)
        .rename({"plan_id": "_plan", "visited_country": "_visited", "event_type": "_event"})
        .with_row_index("_price_row")
    )
    _step("price table")
    # the segment of each distinct (plan, visited, event, local date), then a join that keeps
    # the records in read order (no sort of the records, none back at the end)
    keys = ["_plan", "_visited", "_event", "local_date"]
    segments = (
        ok.select(keys)
        .unique()
        .sort("local_date")
        .join_asof(
            prices.select("_plan", "_visited", "_event", "valid_from", "_price_row"),
            left_on="local_date",
            right_on="valid_from",
            by=["_plan", "_visited", "_event"],
            strategy="backward",
            check_sortedness=False,
        )
        .drop("valid_from")
    )
    priced = (
        ok.select(_NARROW)
        .join(segments, on=keys, how="left", maintain_order="left")
        .join(
            prices.drop("regime", "seg_message", "parameters", "valid_from"),
            on="_price_row",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            reason_code=pl.when(pl.col("seg_reason").is_not_null())
            .then(pl.col("seg_reason"))
            .when(_needs_surcharge() & pl.col("sur_nanos").is_null())
            .then(pl.lit(rc.NO_RULE_IN_FORCE))
        )
    )
    late_rejects = assembly.price_rejects(ok, priced, prices)
    rejects = assembly.rejects(
        split, [basic_rejects, assembly.coverage_rejects(early, coverage), late_rejects]
    )
    _step("segment join, rejects")

    countries = sorted(cat.countries)
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
    # dense codes (0..n-1) of a fresh category mapping, so counting sorts index small arrays
    codes = good.select(
        pl.col("_sub").cast(pl.Categorical(pl.Categories.random())).to_physical(),
        pl.col("_plan").cast(pl.Categorical(pl.Categories.random())).to_physical(),
        pl.col("_period").cast(pl.Int32),
    )
    sub, plan, period = (
        np.ascontiguousarray(s.cast(pl.Int64).to_numpy()) for s in codes.get_columns()
    )
    n_subs = int(sub.max()) + 1 if sub.size else 0
    order = _event_order(sub, n_subs, good, is_late)
    _step("event order")
    sid, gid, sub_first, group_first = kernel.number_groups(order, sub, plan, period)
    state, groups, subs = carry.initial_state(
        good, sub_first, group_first, counters, {c: i for i, c in enumerate(countries)}
    )
    inputs = units.as_arrays(units.pass_inputs(good.lazy()).collect())
    inputs.update(order=order, sid=sid, gid=gid, is_late=is_late.to_numpy())
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


def _event_order(
    sub: npt.NDArray[np.int64], n_subs: int, good: pl.DataFrame, is_late: pl.Series
) -> npt.NDArray[np.int64]:
    """Processing order: per subscriber, on-time records in event order, then late ones in
    read order (rating.md §2, §9).

    One arg-sort on an integer key (the start time, or the row number of a late record; nearly
    free on a file in time order), then a stable counting sort by (subscriber, lateness). The
    record_id tie-breaker of the event order is applied only where two on-time records of a
    subscriber share a start time: those few rows are sorted by record id in place.
    """
    late = np.ascontiguousarray(is_late.to_numpy())
    key = np.where(
        late,
        good.get_column("row_number").to_numpy(),
        good.get_column("_ts").dt.epoch("us").to_numpy(),
    ).astype(np.int64)
    pre = np.ascontiguousarray(pl.Series(key).arg_sort().cast(pl.Int64).to_numpy())
    order = kernel.bucket_sort(pre, sub * 2 + late, 2 * n_subs)
    run = kernel.tie_runs(order, sub, key, late)
    tied = np.flatnonzero(run >= 0)
    if tied.size:
        rows = order[tied]
        sorted_rows = (
            pl.DataFrame({"run": run[tied], "row": rows})
            .with_columns(rid=good.get_column("_rid").gather(rows))
            .sort("run", "rid")
            .get_column("row")
            .to_numpy()
        )
        order[tied] = sorted_rows
    return order
