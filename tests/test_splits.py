"""Time ranges (``roamlike.splits``) and the pass's state relayed between them (rating.md §7c)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from builders import make_plan, rec
from comparison import text_frame
from roamlike import pipeline, splits
from roamlike.columns import BATCH_RECORD_ID
from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.pipeline import rate_file
from roamlike.rating import BATCH_ROW, RatingResult, rate_usage
from roamlike.rating.relay import PassRelay, RelayError
from roamlike.record_keys import normalise_subscriber_id
from roamlike.tariffs import FxTable
from strategies import FX, PLANS, records

Rows = list[dict[str, Any]]


def _frame(started: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"started_at": started}, schema={"started_at": pl.String})


def test_time_ranges_cut_only_where_every_earlier_record_starts_before_every_later_one() -> None:
    stamps = [f"2026-03-10T10:00:0{i}Z" for i in (0, 1, 2, 2, 2, 3, 4, 5)]
    found = splits.time_ranges(_frame(list(stamps)), 2)
    # the even cut (row 4) falls inside the run of equal times (rows 2-4): the nearest allowed
    # cut is taken, at row 5; the last range is then halved at row 6 (the run's tail)
    assert found is not None
    assert found.ranges == [(0, 5), (5, 1), (6, 2)]
    assert found.span == (dt.date(2026, 3, 9), dt.date(2026, 3, 11))  # +- the offsets' bounds


def test_time_ranges_ignore_rows_without_a_start_and_refuse_an_input_out_of_order() -> None:
    ordered = ["2026-03-10T10:00:00Z", None, "not a time", "2026-03-10T11:00:00Z"]
    found = splits.time_ranges(_frame(ordered), 2)
    assert found is not None
    assert [n for _, n in found.ranges] == [2, 1, 1]
    backwards = [f"2026-03-1{9 - i}T10:00:00Z" for i in range(8)]
    assert splits.time_ranges(_frame(backwards), 2) is None
    assert splits.time_ranges(_frame(["2026-03-10T10:00:00Z"] * 8), 2) is None  # all equal
    assert splits.time_ranges(_frame(ordered), 1) is None
    assert splits.time_ranges(pl.DataFrame({"x": [1, 2]}), 2) is None
    assert splits.time_ranges(_frame([None, "not a time", None, None]), 2) is None  # no start


def test_time_ranges_halve_the_last_range_only_where_a_cut_is_allowed_near_its_middle() -> None:
    # the run's tail (the last range's rows encoded after all others are rated) is halved
    stamps = [f"2026-03-10T10:00:0{i}Z" for i in range(8)]
    assert splits.time_ranges(_frame(stamps), 2).ranges == [(0, 4), (4, 2), (6, 2)]  # type: ignore[union-attr]
    # the last range's times all equal: no cut inside it, the ranges are those asked for
    equal_tail = [f"2026-03-10T10:00:0{i}Z" for i in (0, 1, 2, 3, 4, 4, 4, 4)]
    found = splits.time_ranges(_frame(equal_tail), 2)
    assert found is not None
    assert found.ranges == [(0, 4), (4, 4)]


def test_time_ranges_take_datetimes_as_the_engine_does() -> None:
    naive = pl.datetime_range(
        dt.datetime(2026, 3, 10), dt.datetime(2026, 3, 10, 9), "1h", eager=True
    ).alias("started_at")
    found = splits.time_ranges(naive.to_frame(), 3)
    assert found is not None
    assert found.ranges == [(0, 3), (3, 4), (7, 1), (8, 2)]
    zoned = naive.dt.replace_time_zone("Europe/Berlin").to_frame()
    assert splits.time_ranges(zoned, 3) == found
    assert splits.time_ranges(pl.DataFrame({"started_at": [[1], [2]]}), 2) is None  # a list


def test_the_split_imports_no_engine() -> None:
    # the input reader's thread splits while the main thread imports the engine: importing it
    # there too raced with the main thread's import (a partly initialised module)
    code = (
        "import sys, roamlike.splits, roamlike.input_reader\n"
        "print([m for m in sys.modules if m.startswith('roamlike.rating')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _time_ordered(rows: Rows) -> Rows:
    rows = sorted(rows, key=lambda r: str(r["started_at"]))
    for i, r in enumerate(rows):  # ids unique again, duplicates kept where the strategy made them
        if r["record_id"] != "r0":
            r["record_id"] = f"t{i}"
    return rows


def _rate_both(rows: Rows, batch_rows: int, folder: Path) -> tuple[Any, RatingResult, bool]:
    path = folder / "usage.csv"
    text_frame(rows).write_csv(path)
    made: list[int] = []
    real = pipeline.PassRelay

    def noting(calls: int, countries: list[str]) -> PassRelay:
        made.append(calls)
        return real(calls, countries)

    pipeline.PassRelay = noting  # type: ignore[misc,assignment]
    try:
        names = [folder / f"{k}.parquet" for k in ("r", "j", "n")]
        summary = rate_file(path, PLANS, FX, *names, batch_rows=batch_rows)
    finally:
        pipeline.PassRelay = real  # type: ignore[misc]
    got = (summary, *(pl.read_parquet(p) for p in names))
    return got, rate_usage(text_frame(rows), PLANS, FX), bool(made)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records(), batch_rows=st.integers(2, 7))
def test_rating_md_7c_time_ranges_rate_as_one_call(rows: Rows, batch_rows: int) -> None:
    rows = _time_ordered(rows)
    with tempfile.TemporaryDirectory() as tmp:
        (summary, rated, rejects, notes), whole, in_ranges = _rate_both(rows, batch_rows, Path(tmp))
    event(f"in ranges: {in_ranges}")
    # in ranges, rated rows come out in read order; batches by subscriber (an input the ranges
    # do not take) come out grouped by batch, in read order within a batch (rating.md §7c)
    if in_ranges:
        assert rated.equals(whole.rated)
    else:
        assert rated.sort("row_number").equals(whole.rated)
    reasons = ["row_number", "record_id", "reason_code", "message"]
    assert rejects.select(reasons).sort("row_number").equals(whole.rejects.select(reasons))
    keys = ["subscriber_id", "started_at", "record_id", "kind"]
    assert notes.sort(keys).equals(whole.notifications.sort(keys))
    assert summary.counters.periods.equals(whole.counters.periods)
    assert summary.counters.subscribers.equals(whole.counters.subscribers)


def _day_rows(n: int) -> Rows:
    """``n`` records of three subscribers, one a minute, with bill-shock and welcome
    notifications crossing the ranges."""
    rows: Rows = []
    for i in range(n):
        rows.append(
            rec(
                f"d{i}",
                subscriber_id=f"s{i % 3}",
                started_at=f"2026-03-10T{10 + i // 60:02d}:{i % 60:02d}:00Z",
                visited_country=("FR", "IT", "ES")[(i // 5) % 3],
                volume_bytes=900_000_000,
            )
        )
    rows[9]["record_id"] = "d2"  # a duplicate of a record of the first range
    rows[14]["visited_country"] = "ZZ"
    return rows


def test_a_time_ordered_file_is_rated_in_ranges_with_the_results_of_one_call(
    tmp_path: Path,
) -> None:
    plans = {"de": make_plan(data_allowance_gb="2")}
    rows = _day_rows(40)
    # a duplicate inside the first range (rated before the duplicates of the whole input are
    # known: the engine finds its own), as well as d2's in the second range
    rows[4]["record_id"] = " d1 "
    path = tmp_path / "usage.csv"
    text_frame(rows).write_csv(path)
    out, rej, notes = (tmp_path / f"{k}.parquet" for k in ("r", "j", "n"))
    summary = rate_file(path, plans, FxTable(), out, rej, notes, batch_rows=6)
    whole = rate_usage(text_frame(rows), plans)
    assert summary.batches == 8  # 7 ranges of 6 rows or so, the last one halved
    assert summary.rejected == 3
    assert summary.rejects_by_reason["DUPLICATE_RECORD_ID"] == 2
    rated = pl.read_parquet(out)
    assert rated.get_column("row_number").is_sorted()  # read order, not grouped by subscriber
    assert rated.equals(whole.rated)
    reasons = ["row_number", "record_id", "reason_code"]
    assert pl.read_parquet(rej).select(reasons).equals(whole.rejects.select(reasons))
    kinds = set(pl.read_parquet(notes).get_column("kind"))
    assert "welcome" in kinds
    assert any(k.startswith("billshock") for k in kinds)
    keys = ["subscriber_id", "started_at", "record_id", "kind"]
    assert pl.read_parquet(notes).sort(keys).equals(whole.notifications.sort(keys))
    assert summary.counters.periods.equals(whole.counters.periods)
    assert summary.counters.subscribers.equals(whole.counters.subscribers)


def test_a_range_that_fails_releases_the_ranges_waiting_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline.rate_usage
    started: list[int] = []

    def failing_first(batch: pl.DataFrame, *args: Any, **kwargs: Any) -> RatingResult:
        first = int(batch.get_column(BATCH_ROW)[0])
        started.append(first)
        if first == 0:  # the first range fails while the second waits for its state
            time.sleep(0.2)
            raise ZeroDivisionError("a defect in the first range")
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(pipeline, "rate_usage", failing_first)
    path = tmp_path / "usage.csv"
    text_frame(_day_rows(40)).write_csv(path)
    out = tmp_path / "rated.parquet"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rate_file(path, {"de": make_plan()}, FxTable(), out, batch_rows=6)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "a range waited for ever for the state of a failed one"
    assert [type(e) for e in errors] == [ZeroDivisionError]
    assert len(started) == 2  # the second range ran (and was released), no later one began
    assert not out.exists()
    assert not [t for t in threading.enumerate() if t.name.startswith("roamlike-rating")]


def test_relay_raises_for_a_failed_earlier_range_and_for_a_range_that_is_not_later() -> None:
    countries = sorted(default_catalog().countries)
    relay = PassRelay(3, countries)
    relay.fail(0, ValueError("first range"))
    with pytest.raises(RelayError, match="range 2 was not rated"):
        relay.link(1).take(*_one_record("2026-03-10T10:00:00Z"))
    relay = PassRelay(2, countries)
    first = relay.link(0)
    state = first.take(*_one_record("2026-03-10T10:00:00Z"))
    state["last_row"][0] = 0
    first.give(state, _one_record("2026-03-10T10:00:00Z")[0])
    with pytest.raises(RelayError, match="starts before the end"):
        relay.link(1).take(*_one_record("2026-03-10T10:00:00Z"))
    assert relay.counters().subscribers.height == 1
    assert PassRelay(1, countries).counters().periods.equals(Counters.empty().periods)


def _one_record(started: str) -> tuple[Any, ...]:
    """What ``RangeLink.take`` gets for one rated record of subscriber s1."""
    import numpy as np

    good = pl.DataFrame(
        {
            "_sub": ["s1"],
            "_plan": ["de"],
            "_period": [dt.date(2026, 3, 1)],
            "_ts": [dt.datetime.fromisoformat(started)],
            "_rid": ["r1"],
        }
    ).with_columns(pl.col("_ts").dt.replace_time_zone("UTC"))
    zero = np.zeros(1, np.int64)
    return good, zero, zero, np.full(1, 20_513, np.int64), zero, zero


def test_a_run_with_counters_re_splits_a_reader_s_time_ranges_by_subscriber(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # counters of an earlier run may make records late, which time ranges cannot rate as one
    # call does: such a run splits by subscriber even when the reader split in time ranges
    path = tmp_path / "usage.csv"
    text_frame(_day_rows(40)).write_csv(path)
    plans = {"de": make_plan(data_allowance_gb="2")}
    last = rec("x1", subscriber_id="s1", started_at="2026-03-10T10:30:00Z")
    earlier = rate_usage(text_frame([last]), plans).counters
    reader = pipeline.InputReader(path, None, 3 * 10**9, 6)
    split = reader.result()
    assert split.split is not None
    assert split.split.ranges is not None  # the reader split in time ranges
    relays: list[int] = []
    real = pipeline.PassRelay
    monkeypatch.setattr(pipeline, "PassRelay", lambda *a: relays.append(1) or real(*a))
    outs = []
    for name, use in (("reader", pipeline.InputReader(path, None, 3 * 10**9, 6)), ("own", None)):
        out = tmp_path / f"{name}.parquet"
        summary = rate_file(path, plans, FxTable(), out, batch_rows=6, counters=earlier, reader=use)
        outs.append((pl.read_parquet(out), summary.counters))
    assert not relays
    assert outs[0][0].equals(outs[1][0])
    assert outs[0][1].periods.equals(outs[1][1].periods)
    assert outs[0][0].get_column("is_late").any()  # s1's records before x1 are late


def test_time_ranges_only_when_a_range_holds_few_enough_subscribers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _day_rows(40)  # three subscribers
    frame = text_frame(rows).with_row_index("__roamlike_row_number")
    assert splits.split_in_memory(frame, 4).ranges is not None
    monkeypatch.setattr(splits, "RANGE_MAX_SUBSCRIBERS", 2)
    by_subscriber = splits.split_in_memory(frame, 4)
    assert by_subscriber.ranges is None
    assert len(by_subscriber.parts) >= 2
    path = tmp_path / "usage.csv"
    text_frame(rows).write_csv(path)
    out = tmp_path / "r.parquet"
    rate_file(path, {"de": make_plan()}, FxTable(), out, batch_rows=10)
    assert not pl.read_parquet(out).get_column("row_number").is_sorted()  # grouped by batch


@pytest.mark.parametrize("ordered", [True, False])
def test_both_splits_give_each_row_its_normalised_record_id(ordered: bool) -> None:
    # time ranges (ordered) and batches by subscriber alike: the key the duplicates were found
    # on, which the engine then takes as the row's normalised record id
    stamps = [f"2026-03-10T10:00:{i:02d}Z" for i in range(8)]
    ids = [" a", "b ", "", None, "c", "  ", "d", "e"]
    frame = pl.DataFrame(
        {
            "record_id": ids,
            "subscriber_id": [f"s{i % 3}" for i in range(8)],
            "started_at": stamps if ordered else stamps[::-1],
        }
    ).with_row_index(BATCH_ROW)
    split = splits.split_in_memory(frame, 2)
    assert (split.ranges is not None) == ordered
    loaded = [load() for load in split.parts.values()]
    if ordered:
        # the first range is rated while the ids are worked out over the whole input: it
        # comes as read, and the engine normalises its ids and finds its duplicates itself
        assert loaded[0].columns == frame.columns
        assert loaded[0].equals(frame.slice(0, loaded[0].height))
        loaded[0] = loaded[0].with_columns(
            normalise_subscriber_id(pl.col("record_id")).alias(BATCH_RECORD_ID)
        )
    parts = pl.concat(loaded, how="diagonal").sort(BATCH_ROW)
    assert parts.get_column(BATCH_RECORD_ID).to_list() == [
        "a", "b", None, None, "c", None, "d", "e"
    ]  # fmt: skip
