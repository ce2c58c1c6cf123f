"""The rating engine: usage records in, rated records, rejects, notifications and counters out.

Implements docs/rating.md; the per-record oracle is ``roamlike.reference`` and the two are
property-tested to agree. No Python loop touches a record.

Pipeline
--------
1. ``normalise``: the canonical columns are read into the engine's own frame (extra input
   columns wait aside, so no input name can collide with a working column) and validated
   (reason codes in the order of rating.md §7);
2. local date, billing period, and each record's row of the price table (law + FX + VAT per
   segment, ``prices.price_table``, built once per run) by an as-of lookup (``segments``);
3. rows with a reason become rejects (as read), the others are rated: the rates and bounds of
   each price-table row (``units``, ``segments.row_table``), then one compiled pass in event
   order per subscriber (``kernel``, through ``passes``: built ahead of time when it can be)
   for billed units, pools, fair use, surcharges, bill-shock,
   VAT and notification marks, starting from the counters of an earlier run (``carry``);
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
from roamlike.rating import assembly, carry
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import messages, plans_frame, validate
from roamlike.rating.notifications import PRICE_COLUMNS, notifications, notifications_columns
from roamlike.rating.prices import SegmentCache, price_table
from roamlike.rating.relay import RangeLink
from roamlike.rating.segments import SegmentCodes, day_rows, price_rows, row_table
from roamlike.rating.tables import Built, PriceTables
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
    "_event_kind",
    "_plan_code",
    "_visited_code",
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


def rate_usage(
    usage: pl.LazyFrame | pl.DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    catalog: Catalog | None = None,
    counters: Counters | Callable[[], Counters | None] | None = None,
    known_record_ids: Collection[str] | pl.Series | Callable[[], pl.Series] | None = None,
    segment_cache: SegmentCache | None = None,
    price_tables: PriceTables | None = None,
    coded_text: bool = False,
    relay: RangeLink | None = None,
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
    counters : Counters, or a function giving them, optional
        Counters left by earlier runs (rating.md §9); default: every counter at zero. Records
        before their subscriber's last rated event are then rated last and flagged ``is_late``.
        A function is called once, where the counters are first needed (after validation,
        pricing and the numbering of subscribers, plans and periods: a store loads them
        meanwhile).
    known_record_ids : collection of str, Series, or a function giving a Series, optional
        Record ids rated or rejected by earlier runs: a row with one of them is a
        ``DUPLICATE_RECORD_ID`` (the hook for a store's duplicate rule across runs). A
        function is called once, after the other checks of validation (the duplicate rule
        comes last of them).
    segment_cache : dict, optional
        Price-table segments kept across calls with the same plans, FX and catalog.
    price_tables : PriceTables, optional
        Price tables kept across calls with the same plans, FX and catalog (the batches of one
        run, ``roamlike.rating.tables``); its segments are used instead of ``segment_cache``.
    coded_text : bool, optional
        Give the rated rows' ``plan_id`` and ``currency`` as enums of the plans' ids and
        currencies (sorted) instead of text: the same values, cheaper to gather and to write
        (``roamlike rate`` writes them so, rating.md §8). Default: text.
    relay : RangeLink, optional
        This call is one of consecutive ranges of an input in time order
        (``roamlike.rating.relay``): its pass starts from the state the ranges before it left
        (waiting for them) instead of from ``counters``, and leaves its own for the next;
        ``RatingResult.counters`` is then empty (the relay builds the run's at the end).

    Returns
    -------
    RatingResult
        Rated records (canonical input columns, normalised, then the other input columns, then
        the output columns of §8), rejects (the rows as read plus ``row_number``,
        ``reason_code``, ``message``), notifications and the counters after the run.
    """
    # imported here, not with this module: loading Numba takes half a CPU-second, which a run
    # spends on a thread while it reads its input (``roamlike.rating.compiled``)
    from roamlike.rating import passes

    fx = fx or FxTable()
    cat = catalog or default_catalog()
    # A lazy input (a scan) is read once here: the steps below query it twice (canonical columns
    # and pass-through columns), and Polars' streaming engine has been seen to panic on a dirty
    # CSV scan queried that way; the batch is held in memory by the next step anyway.
    frame = (usage.collect() if isinstance(usage, pl.LazyFrame) else usage).lazy()
    split = assembly.split_input(frame)
    _step("split input")
    known = known_record_ids
    checked = validate(split.core, plans, cat, None if callable(known) else known).collect()
    if callable(known):  # the last check of validation: a store's ids, given now
        checked = _known_duplicates(checked, known())
    read = checked.height
    basic = checked.filter(pl.col("reason_code").is_not_null())
    # messages only for rows to word (a query's fixed cost saved on clean input)
    basic_rejects = (
        messages(basic.lazy()).collect()
        if basic.height
        else basic.with_columns(message=pl.lit(None, dtype=pl.String))
    )
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
    codes = SegmentCodes(plan_ids, countries)
    pair = ok.select(codes.pair_of_codes(pl.col("_plan_code"), pl.col("_visited_code"))).to_series()
    # lazy: Polars' lazy group_by took half the CPU of the eager one on 500,000 records
    pairs = (
        pl.LazyFrame({"_pair": pair, "local_date": ok.get_column("local_date")})
        .group_by("_pair")
        .agg(lo=pl.col("local_date").min(), hi=pl.col("local_date").max())
        .sort("_pair")
        .collect()
    )
    plan_frame = plans_frame(plans)
    row_plan_codes = np.array(plan_ids, dtype=object)
    row_country_codes = np.array(countries, dtype=object)

    def make(pairs: pl.DataFrame) -> Built:
        code = pairs.get_column("_pair").to_numpy()
        named = pairs.with_columns(
            plan_id=pl.Series(row_plan_codes[code // codes.n_countries], dtype=pl.String),
            visited_country=pl.Series(row_country_codes[code % codes.n_countries], dtype=pl.String),
        )
        segments = price_tables.segments if price_tables is not None else segment_cache
        prices = (
            price_table(named, plans, fx, segments, catalog=cat)
            .rename({"plan_id": "_plan", "visited_country": "_visited", "event_type": "_event"})
            .with_row_index("_price_row")
        )
        row_pair = prices.select(codes.pair(pl.col("_plan"), pl.col("_visited"))).to_series()
        return Built(pairs, prices, row_table(prices, plan_frame, countries), row_pair.to_numpy())

    if price_tables is None:
        built = make(pairs)
    else:
        built = price_tables.find(pairs) or price_tables.build(pairs, make)
    prices, table = built.prices, built.table
    # a table the batches of a run share: its rows spread over its days once for all of them
    # (a single call, e.g. a service's commit group, keeps the join: nothing to share)
    if price_tables is not None and "day_rows" not in built.derived:
        dates = built.pairs.select(pl.col("lo").min(), pl.col("hi").max()).row(0)
        # two batches may both work it out: the same arrays
        built.derived["day_rows"] = None if None in dates else day_rows(prices, codes, *dates)
    _step("price table")
    price_row = price_rows(ok, pair, prices, codes, built.derived.get("day_rows"))
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
    # a fresh category mapping numbers subscribers 0..n-1 (in the order they first come)
    sub = np.ascontiguousarray(
        good.get_column("_sub")
        .cast(pl.Categorical(pl.Categories.random()))
        .to_physical()
        .cast(pl.Int64)
        .to_numpy()
    )
    # a plan's code is its price rows'
    row_plan = prices.select(pl.col("_plan").cast(codes.plans).to_physical().cast(pl.Int64))
    plan = np.ascontiguousarray(row_plan.to_series().to_numpy()[price_row])
    period = np.ascontiguousarray(
        good.get_column("_period").cast(pl.Int32).cast(pl.Int64).to_numpy()
    )
    # given now, after the numbers above, which do not need them: a store loads them while
    # the records are checked and numbered
    if callable(counters):
        counters = counters()
    # the stored subscribers joined once, by subscriber number (late flags, state, after)
    stored = carry.stored_subscribers(
        good.get_column("_sub"), sub, None if relay is not None else counters
    )
    is_late = carry.late_flags(good, sub, stored)
    order = _event_order(sub, good, is_late)
    _step("event order")
    n_codes = int(sub.max()) + 1 if sub.size else 0
    sid, gid, sub_first, group_first = passes.number_groups(order, sub, plan, period, n_codes)
    if relay is not None:  # waits for the range before this one
        state = relay.take(good, sid, plan, period, sub_first, group_first)
    else:
        state, groups, subs = carry.initial_state(
            good,
            sub,
            sub_first,
            group_first,
            counters,
            stored,
            {c: i for i, c in enumerate(countries)},
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
    out = passes.walk(inputs, state)
    _step("compiled pass")
    if relay is not None:
        relay.give(state, good)  # the next range may run its pass
        after = Counters.empty()
    else:
        before = None if stored is None else stored[pl.Series(sub[sub_first])]
        after = carry.counters_after(good, state, groups, subs, before, countries)
    _step("counters after")
    marked = np.flatnonzero(out["notes"])
    notes = notifications(
        good.select(notifications_columns())[marked].with_columns(
            pl.Series("_notes", out["notes"][marked]),
            *prices.select(PRICE_COLUMNS)[price_row[marked]].get_columns(),
        )
    )
    _step("notifications")
    rated = assembly.rated(
        split, good, out, is_late, price_row, prices, plan_frame, cat, coded_text=coded_text
    )
    _step("assembly")
    return RatingResult(
        rated=rated, rejects=rejects, notifications=notes, read=read, counters=after
    )


def _known_duplicates(checked: pl.DataFrame, known: pl.Series) -> pl.DataFrame:
    """``reason_code`` DUPLICATE_RECORD_ID for the rows without another reason whose record id
    is one of ``known``: what :func:`validate` gives with ``known_record_ids`` (its last rule)."""
    if known.len() == 0:
        return checked
    hit = pl.col("reason_code").is_null() & pl.col("_rid").is_in(
        known.cast(pl.String).implode()
    ).fill_null(False)
    return checked.with_columns(
        reason_code=pl.when(hit)
        .then(pl.lit(rc.DUPLICATE_RECORD_ID, dtype=checked.schema["reason_code"]))
        .otherwise(pl.col("reason_code"))
    )


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
    from roamlike.rating import passes

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
    passes.sort_runs_by_subscriber(order, key, late, sub)
    run = passes.tie_runs(order, sub, key, late)
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
    from roamlike.rating import passes

    if passes.ascending(values):
        return np.arange(values.size, dtype=np.int64)
    return np.ascontiguousarray(pl.Series(values).arg_sort().cast(pl.Int64).to_numpy(writable=True))
