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


def stored_subscribers(
    sub_ids: pl.Series, sub: npt.NDArray[np.int64], counters: Counters | None
) -> pl.DataFrame | None:
    """The stored counters of the run's subscribers, one row per subscriber number of ``sub``
    (0, 1, 2…; ``sub_ids``: the records' ``_sub``, ``sub`` their numbers): the columns of
    ``Counters.subscribers`` after ``subscriber_id``, null where nothing is stored. None
    without stored subscribers.

    One join of the run's distinct subscribers with the stored ones, read by the late flags,
    the pass's state and the counters after the run (instead of a join of each with the
    stored rows, the first of them over every record).
    """
    if counters is None or counters.subscribers.height == 0:
        return None
    first = np.full(int(sub.max()) + 1 if sub.size else 0, -1, np.int64)
    # each number's first record: the last write of a reversed scatter wins
    first[sub[::-1]] = np.arange(sub.size - 1, -1, -1, dtype=np.int64)
    return (
        sub_ids.gather(pl.Series(first))
        .alias("subscriber_id")
        .to_frame()
        .join(counters.subscribers, on="subscriber_id", how="left", maintain_order="left")
        .drop("subscriber_id")
    )


def late_flags(
    good: pl.DataFrame, sub: npt.NDArray[np.int64], stored: pl.DataFrame | None
) -> pl.Series:
    """``is_late``: the record's (started_at, record_id) is before its subscriber's last event
    (``stored``, by subscriber number ``sub``: :func:`stored_subscribers`).

    Without stored subscribers no record is late. The record ids are compared only where the
    instants are equal.
    """
    late = np.zeros(good.height, dtype=np.bool_)
    if stored is None:
        return pl.Series("is_late", late)
    last = stored.get_column("last_started_at").dt.epoch("us")
    has = ~last.is_null().to_numpy()[sub]
    last_ts = last.fill_null(0).to_numpy()[sub]
    ts = good.get_column("_ts").dt.epoch("us").to_numpy()
    late[:] = has & (ts < last_ts)
    ties = np.flatnonzero(has & (ts == last_ts))
    if ties.size:
        rids = good.get_column("_rid").gather(pl.Series(ties))
        last_rids = stored.get_column("last_record_id").gather(pl.Series(sub[ties]))
        late[ties] = (rids < last_rids).fill_null(False).to_numpy()
    return pl.Series("is_late", late)


def initial_state(
    good: pl.DataFrame,
    sub: npt.NDArray[np.int64],
    sub_first: npt.NDArray[np.int64],
    group_first: npt.NDArray[np.int64],
    counters: Counters | None,
    stored: pl.DataFrame | None,
    country_code: dict[str, int],
) -> tuple[dict[str, npt.NDArray[np.int64]], pl.DataFrame, pl.DataFrame]:
    """The pass's state arrays, from the counters of the run's groups and subscribers
    (``stored``: the subscribers' by number ``sub``, :func:`stored_subscribers`).

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
    if stored is not None:
        visited = stored.get_column("last_visited_country").gather(pl.Series(sub[sub_first]))
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
    before: pl.DataFrame | None,
    countries: list[str],
) -> Counters:
    """The counters of the groups and subscribers the run touched, after it (``before``: the
    stored last events of ``subs``, in their order, or None)."""
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
    if before is not None:
        # a subscriber with late records only keeps its earlier last event
        subscribers = subscribers.with_columns(
            last_started_at=pl.coalesce("last_started_at", before.get_column("last_started_at")),
            last_record_id=pl.coalesce("last_record_id", before.get_column("last_record_id")),
        )
    subscribers = subscribers.select(
        pl.col(name).cast(dtype) for name, dtype in SUBSCRIBER_SCHEMA.items()
    )
    return Counters(
        periods=periods.sort(_PERIOD_KEYS), subscribers=subscribers.sort("subscriber_id")
    )
