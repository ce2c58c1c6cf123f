"""How an input held in memory is split into engine calls (docs/rating.md §7c).

Two ways, both with the duplicates found over all rows (``BATCH_DUPLICATE``, on a thread of
their own while the split goes on), both giving the rated values, rejects, notifications and
counters of one call over the whole input:

* **time ranges**: an input whose records come in time order (as a day's file usually does)
  is cut into contiguous ranges of rows, each a zero-copy slice in read order, such that every
  record of a range starts strictly after every record of the ranges before it. The ranges are
  then rated in order, each compiled pass continuing the state the range before it left
  (``roamlike.rating.relay``; rating.md §9, "Split = whole"), so rated rows come out in read
  order;
* **by subscriber** otherwise (or with a state store, or counters of an earlier run): a hash of
  the normalised subscriber id picks each row's batch, and each batch's rows are gathered out
  of the input when its turn comes; every counter stays inside one batch.

This module imports no engine (``roamlike.rating``): the input reader's thread splits the input
while the engine is still being imported on the main thread (``roamlike.input_reader``).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.columns import BATCH_DUPLICATE, BATCH_RECORD_ID, UTC_OFFSET_RANGE_MIN
from roamlike.duplicate_ids import repeated_ids
from roamlike.record_keys import normalise_subscriber_id, started_at_utc, subscriber_batch

#: The batch of a row while the file is split (in the namespace no input column may use).
BATCH: Final = "__roamlike_batch"

#: The bounds of ``utc_offset_min`` [min] (docs/rating.md §7).
_OFFSETS: Final = UTC_OFFSET_RANGE_MIN
_EPOCH: Final = dt.date(1970, 1, 1)
#: Days since 1970 of the first and last date Python holds.
_DAYS: Final = (dt.date.min - _EPOCH).days, (dt.date.max - _EPOCH).days
#: How far a cut may move from an even split of the rows, as a fraction of a range's rows.
CUT_SLACK: Final = 0.25
#: Time ranges only when the first range holds at most this many distinct subscribers: each
#: range holds nearly every subscriber, and the pass's state relayed between ranges (and the
#: pass itself) cost more with more of them. Measured (engine calls of the benchmark's records
#: one after another, against batches by subscriber): 26,666 subscribers (4 M records, ranges of
#: 500,000) 2.6-3.2 against 2.8-3.8 CPU-s; 66,666 (10 M) 12.6 against 11.1 CPU-s.
RANGE_MAX_SUBSCRIBERS: Final = 32_768
_LOW: Final = np.iinfo(np.int64).min
_HIGH: Final = np.iinfo(np.int64).max


@dataclass(frozen=True)
class TimeRanges:
    """Consecutive row ranges of an input, each later in time than the ones before it."""

    #: (offset, length) of each range, in read order.
    ranges: list[tuple[int, int]]
    #: The first and last local date a record of the input may have (its UTC start times
    #: widened by the bounds of ``utc_offset_min``): the dates its price table needs.
    span: tuple[dt.date, dt.date]


def time_ranges(whole: pl.DataFrame, batches: int) -> TimeRanges | None:
    """``batches`` consecutive row ranges in time order, or None.

    A cut between rows ``c - 1`` and ``c`` is allowed when every ``started_at`` before it is
    strictly earlier than every one after it (as the engine reads them: a UTC instant, rows
    without one ignored, they are rejected anyway). Each cut is the allowed one nearest to an
    even split; None when one is further than :data:`CUT_SLACK` of a range from it (the input
    is not in time order: it is then split by subscriber). The last range is then cut in two
    halves (``batches + 1`` ranges) when a cut is allowed within :data:`CUT_SLACK` of half a
    range from its middle: the rows of the last range are encoded after all others are rated,
    alone at the end of the run, and a half range halves that tail (on 4 million records,
    0.4 instead of 0.5-0.9 s from the last range rated to the end of ``roamlike rate``).

    Parameters
    ----------
    whole : polars.DataFrame
        The input as read (canonical column names), in read order.
    batches : int
        Ranges wanted (at least 2).
    """
    n = whole.height
    if batches < 2 or n < batches or "started_at" not in whole.columns:
        return None
    try:
        ts = whole.select(started_at_utc(whole.schema).dt.epoch("us")).to_series()
    except pl.exceptions.PolarsError:  # an unusable type: validation reports it
        return None
    # rows without a start are ignored: the latest start before a cut counts them as the
    # earliest time, the earliest start after it as the latest (no copy when there is none)
    lo = ts.fill_null(_LOW).to_numpy() if ts.null_count() else ts.to_numpy()
    hi = ts.fill_null(_HIGH).to_numpy() if ts.null_count() else lo
    before = np.maximum.accumulate(lo)[:-1]  # the latest start up to row c - 1
    after = np.minimum.accumulate(hi[::-1])[::-1][1:]  # the earliest start from row c
    allowed = np.flatnonzero(before < after) + 1  # positions c of allowed cuts, ascending
    if allowed.size == 0:
        return None
    size = n / batches
    cuts = [0]
    for k in range(1, batches):
        target = round(k * size)
        cut = _nearest(allowed, target)
        if cut is None or abs(cut - target) > CUT_SLACK * size or cut <= cuts[-1]:
            return None
        cuts.append(cut)
    # the last range in two halves where a cut is allowed near its middle: the run's tail, the
    # last range's rows encoded after everything else is rated, is then half as long
    tail = _nearest(allowed, round(n - size / 2))
    if tail is not None and abs(tail - (n - size / 2)) <= CUT_SLACK * size / 2 and cuts[-1] < tail:
        cuts.append(tail)
    cuts.append(n)
    first, last = ts.min(), ts.max()  # of the rows with a start
    if not isinstance(first, int) or not isinstance(last, int):
        return None  # no row has one (every row is rejected): any split will do
    span = (_local_date(first, _OFFSETS[0]), _local_date(last, _OFFSETS[1]))
    return TimeRanges([(a, b - a) for a, b in itertools.pairwise(cuts)], span)


def _nearest(allowed: npt.NDArray[np.intp], target: int) -> int | None:
    """The allowed cut (``allowed`` ascending) nearest to ``target``."""
    i = int(np.searchsorted(allowed, target))
    near = [int(allowed[j]) for j in (i - 1, i) if 0 <= j < allowed.size]
    return min(near, key=lambda c: abs(c - target)) if near else None


def _local_date(utc_us: int, offset_min: int) -> dt.date:
    """The local date of a UTC instant [us since 1970] at an offset [min], clamped to the
    dates Python can hold."""
    days = (utc_us // 60_000_000 + offset_min) // 1_440
    return _EPOCH + dt.timedelta(days=min(max(days, _DAYS[0]), _DAYS[1]))


class _Duplicates:
    """The input's normalised record ids and duplicate flags, worked out on a thread of their
    own from the moment the split starts (``ids``: ``BATCH_RECORD_ID``, ``flags``:
    ``BATCH_DUPLICATE``), so that they overlap the rest of the split and, for time ranges, the
    rating of the first range (:func:`_by_range`)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._done: Future[tuple[pl.Series, pl.Series]] = Future()
        threading.Thread(
            target=self._run, args=(frame,), name="roamlike-duplicates", daemon=True
        ).start()

    def _run(self, frame: pl.DataFrame) -> None:
        try:
            ids = frame.select(normalise_subscriber_id(pl.col("record_id"))).to_series()
            self._done.set_result(
                (ids.alias(BATCH_RECORD_ID), repeated_ids(ids).alias(BATCH_DUPLICATE))
            )
        except BaseException as exc:  # raised where a batch is loaded
            self._done.set_exception(exc)

    def columns(self) -> tuple[pl.Series, pl.Series]:
        """The ids and the flags, one per row of the input (waits for them)."""
        return self._done.result()


def split_by_subscriber(
    frame: pl.DataFrame, batches: int, duplicates: _Duplicates | None = None
) -> dict[int, Callable[[], pl.DataFrame]]:
    """A loader of each batch's rows (in read order), keyed by batch number.

    ``frame`` is the whole input with its row numbers; the duplicates are found over all its
    rows first (``BATCH_DUPLICATE``, by ``duplicates`` when the caller started them already),
    with the normalised record ids the engine then takes as they are (``BATCH_RECORD_ID``).

    Each batch's rows are gathered out of the input when it is loaded, so memory holds the
    input and one batch, never a second copy of the input (:class:`_Gather`).
    """
    duplicates = duplicates or _Duplicates(frame)
    batch = frame.select(subscriber_batch(batches).alias(BATCH)).to_series()
    gather = _Gather(frame.with_columns(*duplicates.columns()), batch.to_numpy())
    return {int(k): functools.partial(gather.rows_of, int(k)) for k in batch.unique().sort()}


class _Gather:
    """The rows of each batch by subscriber, gathered by row number from each stretch of the
    input that every column holds in one chunk (a Parquet row group, as read).

    Filtering a batch out of the input reads every row of it, once per batch: on 10 million
    records (20 batches) 0.25-0.36 CPU-s per batch, 7.3-7.6 CPU-s for all. Gathering a batch's
    rows by row number from the chunked input took more (0.9 CPU-s a batch: Polars looks each
    row up among the chunks), but from single chunks 0.12-0.16 CPU-s
    (``benchmarks/bench_rating.py``); the row numbers of a batch are found with one comparison
    of its batch numbers, and come in read order.
    """

    def __init__(self, keyed: pl.DataFrame, batch: npt.NDArray[np.int64]) -> None:
        self._batch = batch
        # the stretches between every column's chunk boundaries: one chunk per column each
        cuts = {0, keyed.height}
        for column in keyed.get_columns():
            cuts.update(itertools.accumulate(column.chunk_lengths()))
        bounds = sorted(cuts)
        self._starts = np.array(bounds[:-1], dtype=np.int64)
        self._pieces = [keyed.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
        self._empty = keyed.clear()

    def rows_of(self, key: int) -> pl.DataFrame:
        """The rows of batch ``key``, in read order."""
        rows = np.flatnonzero(self._batch == key)
        at = np.searchsorted(rows, self._starts)
        parts = [
            piece[pl.Series(rows[a:b] - start)]
            for piece, start, a, b in zip(
                self._pieces, self._starts, at, [*at[1:], rows.size], strict=True
            )
            if a < b
        ]
        return pl.concat(parts, rechunk=False) if parts else self._empty


def _keyed_slice(frame: pl.DataFrame, duplicates: _Duplicates, at: int, n: int) -> pl.DataFrame:
    return frame.slice(at, n).with_columns(column.slice(at, n) for column in duplicates.columns())


def _by_range(
    frame: pl.DataFrame, ranges: list[tuple[int, int]], duplicates: _Duplicates
) -> dict[int, Callable[[], pl.DataFrame]]:
    """A loader of each range's rows (a slice of the input), keyed by range number.

    The first range is the input's first rows as they are: every earlier occurrence of one of
    their ids is among them, so the engine finds their duplicates itself, exactly, and the
    first range is rated while ``duplicates`` are found over the whole input; the later ranges
    wait for those (and take the normalised record ids too: ``BATCH_RECORD_ID``).
    """
    at, n = ranges[0]
    parts: dict[int, Callable[[], pl.DataFrame]] = {0: functools.partial(frame.slice, at, n)}
    for k, (at, n) in enumerate(ranges[1:], start=1):
        parts[k] = functools.partial(_keyed_slice, frame, duplicates, at, n)
    return parts


@dataclass(frozen=True)
class Split:
    """An input split in memory: a loader of each call's rows, keyed by call number."""

    parts: dict[int, Callable[[], pl.DataFrame]]
    #: The ranges when the parts are time ranges (rated in order, the pass's state relayed),
    #: None when they are batches by subscriber.
    ranges: TimeRanges | None


def _subscribers_at_most(frame: pl.DataFrame, rows: int) -> bool:
    """Whether the first ``rows`` rows hold at most :data:`RANGE_MAX_SUBSCRIBERS` distinct
    subscribers (as written: a path's choice, not a result).

    Counted on their 64-bit hashes (500,000 of the benchmark's rows: 0.03 instead of 0.11-0.17
    CPU-s for the text): two ids sharing a hash are counted once, which can only choose time
    ranges a little earlier, never change what a run gives.
    """
    first = frame.slice(0, rows).get_column("subscriber_id")
    return bool(first.hash().n_unique() <= RANGE_MAX_SUBSCRIBERS)


def split_in_memory(frame: pl.DataFrame, batches: int, *, by_time: bool = True) -> Split:
    """``frame`` (the whole input, with row numbers) in ``batches`` parts: time ranges when
    ``by_time``, its records allow it (:func:`time_ranges`) and a range holds at most
    :data:`RANGE_MAX_SUBSCRIBERS` subscribers, else by subscriber."""
    duplicates = _Duplicates(frame)  # on a thread, while the ranges are looked for
    # the first range holds at least these rows: too many subscribers among them already and
    # the ranges are not looked for (10 million records: 0.2-0.6 s saved before the first batch)
    surely_first = int(frame.height / max(batches, 1) * (1 - CUT_SLACK))
    ranges = (
        time_ranges(frame, batches)
        if by_time and _subscribers_at_most(frame, surely_first)
        else None
    )
    if ranges is not None and _subscribers_at_most(frame, ranges.ranges[0][1]):
        return Split(_by_range(frame, ranges.ranges, duplicates), ranges)
    return Split(split_by_subscriber(frame, batches, duplicates), None)
