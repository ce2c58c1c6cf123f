"""Counters in and out of a run: late records, the pass's state arrays, counters after the run.

See docs/rating.md §9. ``good`` below is the frame of records to rate, with the working columns
``_sub``, ``_plan``, ``_period``, ``_ts``, ``_rid``, ``_visited`` and ``row_number``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.rating import marks

_PERIOD_KEYS = ["subscriber_id", "plan_id", "period_start"]
#: The pools of ``Counters.periods``, in the order of the pass's ``pool_used`` columns.
POOLS = ["voice_used_s", "sms_used", "data_used_bytes"]
#: The notification flags of ``Counters.periods`` and their bits in the pass's ``flags``.
FLAGS = {
    "has_billshock_80": marks.BILLSHOCK_80,
    "has_billshock_100": marks.BILLSHOCK_100,
    "has_billshock_extra": marks.BILLSHOCK_EXTRA,
    "has_fup_exhausted": marks.FUP_EXHAUSTED,
}


def late_flags(good: pl.DataFrame, counters: Counters | None) -> pl.Series:
    """``is_late``: the record's (started_at, record_id) is before its subscriber's last event.

    Without counters no record is late.
    """
    if counters is None or counters.subscribers.height == 0:
        return pl.Series("is_late", np.zeros(good.height, dtype=np.bool_))
    last = counters.subscribers.select(
        _sub="subscriber_id", _last_ts="last_started_at", _last_rid="last_record_id"
    )
    joined = good.select("_sub", "_ts", "_rid").join(
        last, on="_sub", how="left", maintain_order="left"
    )
    late = (pl.col("_ts") < pl.col("_last_ts")) | (
        (pl.col("_ts") == pl.col("_last_ts")) & (pl.col("_rid") < pl.col("_last_rid"))
    )
    return joined.select(is_late=late.fill_null(False)).to_series()


def initial_state(
    good: pl.DataFrame,
    sub_first: npt.NDArray[np.int64],
    group_first: npt.NDArray[np.int64],
    counters: Counters | None,
    country_code: dict[str, int],
) -> tuple[dict[str, npt.NDArray[np.int64]], pl.DataFrame, pl.DataFrame]:
    """The pass's state arrays, from the counters of the run's groups and subscribers.

    Returns the arrays and the key frames of the groups (``subscriber_id``, ``plan_id``,
    ``period_start``) and subscribers (``subscriber_id``), in pass numbering.
    """
    groups = good.select(subscriber_id="_sub", plan_id="_plan", period_start="_period")[
        pl.Series(group_first)
    ]
    subs = good.select(subscriber_id="_sub")[pl.Series(sub_first)]
    n_groups, n_subs = groups.height, subs.height
    pool_used = np.zeros((n_groups, 3), np.int64)
    fup_used = np.zeros(n_groups, np.int64)
    bs_spend = np.zeros(n_groups, np.int64)
    flags = np.zeros(n_groups, np.int64)
    last_visited = np.full(n_subs, -1, np.int64)
    if counters is not None and counters.periods.height:
        known = groups.join(
            counters.periods, on=_PERIOD_KEYS, how="left", maintain_order="left"
        ).fill_null(0)
        for j, name in enumerate(POOLS):
            pool_used[:, j] = known.get_column(name).to_numpy()
        fup_used[:] = known.get_column("fup_used_bytes").to_numpy()
        bs_spend[:] = known.get_column("billshock_spend_micros").to_numpy()
        for name, bit in FLAGS.items():
            flags |= np.where(known.get_column(name).cast(pl.Boolean).to_numpy(), bit, 0)
    if counters is not None and counters.subscribers.height:
        visited = subs.join(
            counters.subscribers, on="subscriber_id", how="left", maintain_order="left"
        ).get_column("last_visited_country")
        last_visited[:] = visited.replace_strict(
            country_code, default=-1, return_dtype=pl.Int64
        ).to_numpy()
    state = {
        "pool_used": pool_used,
        "fup_used": fup_used,
        "bs_spend": bs_spend,
        "flags": flags,
        "last_visited": last_visited,
        "last_row": np.full(n_subs, -1, np.int64),
    }
    return state, groups, subs


def counters_after(
    good: pl.DataFrame,
    state: dict[str, npt.NDArray[np.int64]],
    groups: pl.DataFrame,
    subs: pl.DataFrame,
    counters: Counters | None,
    countries: list[str],
) -> Counters:
    """The counters of the groups and subscribers the run touched, after it."""
    flags = state["flags"]
    periods = groups.with_columns(
        *(pl.Series(name, state["pool_used"][:, j]) for j, name in enumerate(POOLS)),
        pl.Series("fup_used_bytes", state["fup_used"]),
        pl.Series("billshock_spend_micros", state["bs_spend"]),
        *(pl.Series(name, (flags & bit) != 0) for name, bit in FLAGS.items()),
    ).select(list(PERIOD_SCHEMA))
    last_row = state["last_row"]
    rows = pl.Series(np.where(last_row >= 0, last_row, 0))
    last = good.select(last_started_at="_ts", last_record_id="_rid")[rows]
    names = np.array([*countries, None], dtype=object)
    subscribers = subs.with_columns(
        last_visited_country=pl.Series(names[state["last_visited"]], dtype=pl.String),
        last_started_at=pl.when(pl.Series(last_row >= 0)).then(last["last_started_at"]),
        last_record_id=pl.when(pl.Series(last_row >= 0)).then(last["last_record_id"]),
    )
    if counters is not None and counters.subscribers.height:
        # a subscriber with late records only keeps its earlier last event
        before = counters.subscribers.select(
            "subscriber_id", _ts="last_started_at", _rid="last_record_id"
        )
        subscribers = subscribers.join(
            before, on="subscriber_id", how="left", maintain_order="left"
        ).with_columns(
            last_started_at=pl.coalesce("last_started_at", "_ts"),
            last_record_id=pl.coalesce("last_record_id", "_rid"),
        )
    subscribers = subscribers.select(
        pl.col(name).cast(dtype) for name, dtype in SUBSCRIBER_SCHEMA.items()
    )
    return Counters(
        periods=periods.sort(_PERIOD_KEYS), subscribers=subscribers.sort("subscriber_id")
    )
