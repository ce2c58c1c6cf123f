"""The compiled pass's state carried from one engine call to the next (docs/rating.md §7c).

``roamlike rate`` rates an input in time order as consecutive ranges of rows
(``roamlike.splits``), two calls at a time. Every record of a range starts after every record of
the ranges before it, so the passes of the ranges, run one after another on the same state,
walk the records exactly as one pass over the whole input would (rating.md §9, "Split =
whole"). :class:`PassRelay` holds that state: per (subscriber, plan, period) group the pools,
fair-use counter, bill-shock spend and notification flags; per subscriber the last visited
country and last event. A call numbers its own subscribers and groups
(``passes.number_groups``), maps them to the relay's (:meth:`RangeLink.take`: a join on integer
codes), runs its pass on the gathered state and scatters it back (:meth:`RangeLink.give`): only
that stretch waits for the call before it, everything else (validation, prices, assembly)
overlaps. The counters of the whole run are built once, at the end (:meth:`PassRelay.counters`).
"""

from __future__ import annotations

import threading
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.rating.carry import FLAGS, POOLS

I64 = npt.NDArray[np.int64]
_KEYS: Final = ["_s", "_p", "_d"]


class RelayError(RuntimeError):
    """A range cannot take the state: an earlier range failed, or its records are not later."""


class PassRelay:
    """The pass's state over consecutive ranges rated in order (see the module docstring).

    Parameters
    ----------
    calls : int
        Ranges, numbered ``0 .. calls - 1`` in time order.
    countries : list of str
        The catalog's countries, sorted (the pass's visited-country codes index it).
    """

    def __init__(self, calls: int, countries: list[str]) -> None:
        self.calls = calls
        self._countries = countries
        self._turn = 0
        self._failed: BaseException | None = None
        self._cond = threading.Condition()
        self._groups = pl.DataFrame(schema=dict.fromkeys([*_KEYS, "_n"], pl.Int64))
        self._group_names: list[pl.DataFrame] = []
        self._subs = pl.DataFrame(schema={"subscriber_id": pl.String, "_n": pl.Int64})
        self._pool_used = np.zeros((0, 3), np.int64)
        self._fup_used = np.zeros(0, np.int64)
        self._bs_spend = np.zeros(0, np.int64)
        self._flags = np.zeros(0, np.int64)
        self._last_visited = np.zeros(0, np.int64)
        self._last_ts = np.zeros(0, np.int64)  # [us since 1970, UTC]
        self._last_rid = np.zeros(0, dtype=object)
        self._has_last = np.zeros(0, np.bool_)
        self._latest: int | None = None  # the latest start of a rated record so far [us]

    def link(self, k: int) -> RangeLink:
        """Range ``k``'s view of the relay (``rate_usage``'s ``relay``)."""
        return RangeLink(self, k)

    def fail(self, k: int, error: BaseException) -> None:
        """Range ``k`` failed: the ranges after it stop waiting (they raise :class:`RelayError`)."""
        with self._cond:
            if self._turn <= k and self._failed is None:
                self._failed = error
            self._cond.notify_all()

    def _wait(self, k: int) -> None:
        with self._cond:
            while self._turn < k and self._failed is None:
                self._cond.wait()
            if self._failed is not None:
                raise RelayError(f"range {k + 1} was not rated: an earlier range failed")

    def _done(self, k: int) -> None:
        with self._cond:
            self._turn = k + 1
            self._cond.notify_all()

    def _subscriber_numbers(self, names: pl.DataFrame) -> I64:
        """The relay's number of each subscriber of ``names`` (``subscriber_id``, distinct),
        new ones added."""
        s, missing, self._subs = _numbers(names, self._subs, ["subscriber_id"], self._has_last.size)
        self._grow_subscribers(missing)
        return s

    def _grow_subscribers(self, more: int) -> None:
        if not more:
            return
        self._last_visited = np.concatenate([self._last_visited, np.full(more, -1, np.int64)])
        self._last_ts = np.concatenate([self._last_ts, np.zeros(more, np.int64)])
        self._last_rid = np.concatenate([self._last_rid, np.full(more, None, dtype=object)])
        self._has_last = np.concatenate([self._has_last, np.zeros(more, np.bool_)])

    def _group_numbers(self, keys: pl.DataFrame, names: pl.DataFrame) -> I64:
        """The relay's number of each group of ``keys`` (``_s``, ``_p``, ``_d``), new ones added."""
        g, missing, self._groups = _numbers(keys, self._groups, _KEYS, self._flags.size)
        if missing:
            self._group_names.append(names.filter(pl.Series(g >= self._flags.size)))
            self._pool_used = np.concatenate([self._pool_used, np.zeros((missing, 3), np.int64)])
            self._fup_used = np.concatenate([self._fup_used, np.zeros(missing, np.int64)])
            self._bs_spend = np.concatenate([self._bs_spend, np.zeros(missing, np.int64)])
            self._flags = np.concatenate([self._flags, np.zeros(missing, np.int64)])
        return g

    def counters(self) -> Counters:
        """The counters after every range (rating.md §9), as one call would give them."""
        if not self._group_names:
            return Counters.empty()
        flags = self._flags
        periods = pl.concat(self._group_names).with_columns(
            *(pl.Series(name, self._pool_used[:, j]) for j, name in enumerate(POOLS)),
            pl.Series("fup_used_bytes", self._fup_used),
            pl.Series("billshock_spend_micros", self._bs_spend),
            *(pl.Series(name, (flags & bit) != 0) for name, bit in FLAGS.items()),
        )
        subs = self._subs
        code = subs.get_column("_n").to_numpy()
        names = np.array([*self._countries, None], dtype=object)
        has = pl.col("_has")
        subscribers = subs.with_columns(
            _has=pl.Series(self._has_last[code]),
            _ts=pl.Series(self._last_ts[code]),
            _rid=pl.Series(self._last_rid[code], dtype=pl.String),
        ).select(
            "subscriber_id",
            last_visited_country=pl.Series(names[self._last_visited[code]], dtype=pl.String),
            last_started_at=pl.when(has).then(pl.col("_ts").cast(pl.Datetime("us", "UTC"))),
            last_record_id=pl.when(has).then(pl.col("_rid")),
        )
        return Counters(
            periods=periods.select(pl.col(n).cast(t) for n, t in PERIOD_SCHEMA.items()).sort(
                "subscriber_id", "plan_id", "period_start"
            ),
            subscribers=subscribers.select(
                pl.col(n).cast(t) for n, t in SUBSCRIBER_SCHEMA.items()
            ).sort("subscriber_id"),
        )


def _numbers(
    keys: pl.DataFrame, table: pl.DataFrame, on: list[str], first: int
) -> tuple[I64, int, pl.DataFrame]:
    """Each row's number in ``table`` (keyed by ``on``, numbered ``_n``): rows of ``keys`` (each
    key once) not in it are numbered from ``first`` on, in order, and added to it.

    Returns the numbers, how many were added, and the table with them.
    """
    known = keys.join(table, on=on, how="left", maintain_order="left")
    n = np.array(known.get_column("_n").fill_null(-1).to_numpy(), dtype=np.int64)
    missing = np.flatnonzero(n < 0)
    if missing.size:
        n[missing] = np.arange(first, first + missing.size, dtype=np.int64)
        table = pl.concat([table, keys[missing].with_columns(_n=pl.Series(n[missing]))])
    return np.ascontiguousarray(n), int(missing.size), table


class RangeLink:
    """One range's view of a :class:`PassRelay`: its subscriber codes, then the state it takes
    (after the range before it gave it back) and gives back after its pass."""

    def __init__(self, relay: PassRelay, k: int) -> None:
        self._relay, self._k = relay, k
        self._groups = np.zeros(0, np.int64)
        self._subs = np.zeros(0, np.int64)

    def take(
        self,
        good: pl.DataFrame,
        sid: I64,
        plan: I64,
        period: I64,
        sub_first: I64,
        group_first: I64,
    ) -> dict[str, I64]:
        """The pass's state arrays for this range's groups and subscribers (in its numbering),
        as the ranges before it left them; waits for the range before it.

        Raises
        ------
        RelayError
            An earlier range failed, or a record of this range does not start after every
            record of the earlier ranges (the cut between them was wrong: a defect).
        """
        relay = self._relay
        sub_names = good.select(subscriber_id="_sub")[pl.Series(sub_first)]
        group_names = good.select(subscriber_id="_sub", plan_id="_plan", period_start="_period")[
            pl.Series(group_first)
        ]
        first = good.get_column("_ts").dt.epoch("us").min()
        relay._wait(self._k)
        if isinstance(first, int) and relay._latest is not None and first <= relay._latest:
            raise RelayError(f"range {self._k + 1} starts before the end of the ranges before it")
        self._subs = s = relay._subscriber_numbers(sub_names)
        keys = pl.DataFrame(
            {"_s": s[sid[group_first]], "_p": plan[group_first], "_d": period[group_first]}
        )
        self._groups = g = relay._group_numbers(keys, group_names)
        return {
            "pool_used": np.ascontiguousarray(relay._pool_used[g]),
            "fup_used": relay._fup_used[g],
            "bs_spend": relay._bs_spend[g],
            "flags": relay._flags[g],
            "last_visited": relay._last_visited[s],
            "last_row": np.full(s.size, -1, np.int64),
        }

    def give(self, state: dict[str, I64], good: pl.DataFrame) -> None:
        """Give back the state after this range's pass; the next range may take it."""
        relay, g, s = self._relay, self._groups, self._subs
        relay._pool_used[g] = state["pool_used"]
        relay._fup_used[g] = state["fup_used"]
        relay._bs_spend[g] = state["bs_spend"]
        relay._flags[g] = state["flags"]
        relay._last_visited[s] = state["last_visited"]
        last_row = state["last_row"]
        with_last = np.flatnonzero(last_row >= 0)
        if with_last.size:
            rows = pl.Series(last_row[with_last])
            ts = good.get_column("_ts").dt.epoch("us").gather(rows).to_numpy()
            relay._last_ts[s[with_last]] = ts
            relay._last_rid[s[with_last]] = good.get_column("_rid").gather(rows).to_numpy()
            relay._has_last[s[with_last]] = True
            latest = int(ts.max())
            relay._latest = latest if relay._latest is None else max(relay._latest, latest)
        relay._done(self._k)
