"""The price table of a run, built once and shared by its batches (docs/rating.md §7c).

A batch of a large run holds records of nearly every (plan, visited country) pair over nearly
the whole period of the file, so its price table (``prices.price_table``) and the per-row
arrays of the compiled pass (``segments.row_table``) are, but for a few rows, those of the
batch before. :class:`PriceTables` keeps the last ones built. A batch whose pairs and local
dates they cover reuses them; otherwise the table is extended: every pair is given the whole
date range seen so far, and only the pairs that are new (or whose range grew) are priced; their
rows join the kept ones (the table sorted by ``valid_from`` again, the row arrays permuted
alike).

A wider table rates every record alike: a record meets the segment of its (plan, visited
country, event type) in force on its local date, and segments start at change dates of the
law, FX and VAT inputs whatever the first date of the records (``prices.segment_starts``); a
wider table only adds segments no record of the batch falls in.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.rating.prices import SegmentCache


@dataclass(frozen=True)
class Built:
    """A price table (numbered ``_price_row``) and its per-row arrays."""

    pairs: pl.DataFrame  # ``_pair``, ``lo``, ``hi``: the pairs and dates the table covers
    prices: pl.DataFrame
    table: dict[str, Any]  # ``segments.row_table``: arrays, and a dict of arrays, per row
    row_pair: npt.NDArray[np.int64]  # the pair code of each row
    #: What the batches derive from the table alike, worked out by the first that needs it
    #: (``segments.day_rows``, under ``"day_rows"``).
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


#: Builds the table of the given ``_pair``, ``lo``, ``hi`` rows.
Make = Callable[[pl.DataFrame], Built]


def _permuted(old: Any, new: Any, kept_rows: npt.NDArray[np.int64], order: Any) -> Any:
    if isinstance(old, dict):
        assert old.keys() == new.keys()
        return {k: _permuted(old[k], new[k], kept_rows, order) for k in old}
    return np.ascontiguousarray(np.concatenate([old[kept_rows], new])[order])


def _merged(kept: Built, fresh: Built, target: pl.DataFrame) -> Built:
    """``kept``'s rows of the pairs ``fresh`` does not price, and ``fresh``'s rows."""
    kept_rows = np.flatnonzero(~np.isin(kept.row_pair, fresh.pairs.get_column("_pair").to_numpy()))
    both = pl.concat([kept.prices[kept_rows].drop("_price_row"), fresh.prices.drop("_price_row")])
    order = np.argsort(both.get_column("valid_from").to_physical().to_numpy(), kind="stable")
    return Built(
        target,
        both[order].with_row_index("_price_row"),
        _permuted(kept.table, fresh.table, kept_rows, order),
        _permuted(kept.row_pair, fresh.row_pair, kept_rows, order),
    )


@dataclass
class PriceTables:
    """Price tables kept across the batches of one run (same plans, FX and catalog).

    Safe to share between threads that rate batches at the same time. ``segments`` is the
    segment cache of ``prices.price_table``. ``span`` (first and last local date), when the
    run knows it, is priced from the first build on: batches that each hold a stretch of time
    (``roamlike.splits``) then find their dates in the kept table instead of each extending it.
    """

    segments: SegmentCache = field(default_factory=dict)
    span: tuple[dt.date, dt.date] | None = None
    _kept: Built | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _building: threading.Lock = field(default_factory=threading.Lock)

    def find(self, pairs: pl.DataFrame) -> Built | None:
        """The kept tables if they cover ``pairs`` (``_pair``, ``lo``, ``hi``), else None."""
        with self._lock:
            kept = self._kept
        if kept is None:
            return None
        inside = pairs.join(kept.pairs, on="_pair", how="left", suffix="_kept").select(
            ok=(pl.col("lo_kept") <= pl.col("lo")) & (pl.col("hi") <= pl.col("hi_kept"))
        )
        return kept if bool(inside.get_column("ok").fill_null(False).all()) else None

    def build(self, pairs: pl.DataFrame, make: Make) -> Built:
        """Tables covering ``pairs`` and the kept ones, each pair over the whole date range
        seen; only pairs the kept table does not cover so are priced by ``make``.

        One build at a time: a batch that finds another one building waits for it, then uses
        its table if it covers ``pairs`` (the first two time ranges of a run start together and
        hold nearly the same pairs: the second no longer prices them all again, its pricing
        holding the GIL the first one's needs), else extends it.
        """
        with self._building:
            return self.find(pairs) or self._build(pairs, make)

    def _build(self, pairs: pl.DataFrame, make: Make) -> Built:
        with self._lock:
            kept = self._kept
        seen = pairs if kept is None else pl.concat([pairs.select(kept.pairs.columns), kept.pairs])
        lo, hi = seen.get_column("lo").min(), seen.get_column("hi").max()
        if self.span is not None and isinstance(lo, dt.date) and isinstance(hi, dt.date):
            lo, hi = min(lo, self.span[0]), max(hi, self.span[1])  # a wider table rates alike
        target = (
            seen.select("_pair")
            .unique()
            .sort("_pair")
            .with_columns(lo=pl.lit(lo, dtype=pl.Date), hi=pl.lit(hi, dtype=pl.Date))
        )
        if kept is None:
            built = make(target)
        else:
            new = target.join(kept.pairs, on=["_pair", "lo", "hi"], how="anti")
            built = (
                make(target) if new.height == target.height else _merged(kept, make(new), target)
            )
        with self._lock:
            self._kept = built
        return built
