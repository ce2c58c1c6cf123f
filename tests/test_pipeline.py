"""``roamlike.pipeline.rate_file``: batches in memory or on disk, counters carried through."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, make_plan, rec
from comparison import text_frame
from roamlike import disk_split, input_reader, pipeline
from roamlike.cli import app
from roamlike.cli.common import run_app
from roamlike.errors import EXIT_DATA, EXIT_INTERNAL, OutputError, UsageInputError
from roamlike.pipeline import rate_file
from roamlike.rating import BATCH_ROW, RatingResult, rate_usage
from roamlike.tariffs import FxTable, Plan


def test_rate_file_carries_counters_across_files_and_batches(tmp_path: Path) -> None:
    plans = {"de": make_plan(data_allowance_gb="0.005")}
    day1 = [rec(f"a{i}", subscriber_id=f"s{i % 3}", volume_bytes=2_000_000) for i in range(6)]
    day2 = [
        rec(f"b{i}", subscriber_id=f"s{i % 4}", volume_bytes=2_000_000,
            started_at="2026-03-11T10:00:00Z")
        for i in range(8)
    ]  # fmt: skip
    paths = []
    for name, rows in (("day1", day1), ("day2", day2)):
        path = tmp_path / f"{name}.csv"
        text_frame(rows).write_csv(path)
        paths.append(path)
    first = rate_file(paths[0], plans, FxTable(), tmp_path / "r1.parquet", batch_rows=2)
    second = rate_file(
        paths[1], plans, FxTable(), tmp_path / "r2.parquet", batch_rows=3,
        counters=first.counters, known_record_ids={"a0"},
    )  # fmt: skip
    whole = rate_usage(text_frame(day1 + day2), plans)
    assert first.batches > 1
    assert second.batches > 1
    rated = pl.concat(
        [pl.read_parquet(tmp_path / "r1.parquet"), pl.read_parquet(tmp_path / "r2.parquet")]
    ).sort("record_id")
    columns = ["record_id", "in_bundle_units", "domestic_micros", "charge_incl_vat_micros"]
    assert rated.select(columns).equals(whole.rated.select(columns).sort("record_id"))
    merged = first.counters.merge(second.counters)
    assert merged.periods.equals(whole.counters.periods)
    assert merged.subscribers.equals(whole.counters.subscribers)


def _mixed_rows() -> list[dict[str, object]]:
    """Records of six subscribers, with duplicates across subscribers and a few rejects."""
    rows: list[dict[str, object]] = [
        rec(f"r{i}", subscriber_id=f" s{i % 6}", volume_bytes=1_500_000 + i,
            started_at=f"2026-03-{10 + i % 5}T1{i % 10}:00:00Z")
        for i in range(60)
    ]  # fmt: skip
    rows[7]["record_id"] = "r3"  # a duplicate of row 3, of another subscriber
    rows[20]["record_id"] = " r3 "  # and another one, once normalised
    rows[11]["visited_country"] = "ZZ"
    rows[12]["plan_id"] = "nope"
    return rows


def _mixed_file(tmp_path: Path) -> tuple[Path, dict[str, Plan]]:
    """:func:`_mixed_rows` in a CSV file, and a plan for them."""
    path = tmp_path / "usage.csv"
    text_frame(_mixed_rows()).write_csv(path)
    return path, {"de": make_plan(data_allowance_gb="0.01")}


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_rating_md_7c_one_call_in_memory_split_and_disk_split_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    plans = {"de": make_plan(data_allowance_gb="0.01")}
    path = tmp_path / name
    if name.endswith(".csv"):
        text_frame(_mixed_rows()).write_csv(path)
    else:
        text_frame(_mixed_rows()).write_parquet(path, row_group_size=16)
    # the on-disk split reads chunks of 7 rows: each batch file is written in several pieces
    monkeypatch.setattr(disk_split, "CHUNK_ROWS", 7)
    sunk: list[int] = []
    split = pipeline.split_on_disk

    def counting_split(
        usage: pl.LazyFrame, batches: int, folder: Path, where: Path
    ) -> disk_split.BatchFiles:
        sunk.append(batches)
        return split(usage, batches, folder, where)

    monkeypatch.setattr(pipeline, "split_on_disk", counting_split)
    runs = {
        "one call": {},
        "in memory": {"batch_rows": 7},
        # a budget of 7 records, which the input (about 13 kB) does not leave room for
        "on disk": {"memory_bytes": 7 * pipeline.ENGINE_BYTES_PER_RECORD},
    }
    got: dict[str, tuple[pl.DataFrame, ...]] = {}
    for name, options in runs.items():
        out, rej, notes = (tmp_path / f"{name}.{k}.parquet" for k in ("r", "j", "n"))
        summary = pipeline.rate_file(path, plans, FxTable(), out, rej, notes, **options)  # type: ignore[arg-type]
        assert summary.on_disk is (name == "on disk")
        assert (summary.batches == 1) is (name == "one call")  # else 9 planned, 6 subscribers
        assert summary.rated + summary.rejected == summary.read == 60
        got[name] = (
            pl.read_parquet(out).sort("row_number"),
            pl.read_parquet(rej).sort("row_number"),
            pl.read_parquet(notes).sort("record_id", "kind"),
            summary.counters.periods,
            summary.counters.subscribers,
        )
    assert len(sunk) == 1  # only the run over the budget wrote batch files
    whole = rate_usage(text_frame(_mixed_rows()), plans)
    assert got["one call"][0].equals(whole.rated)
    assert got["one call"][1].get_column("reason_code").to_list() == [
        "DUPLICATE_RECORD_ID", "UNKNOWN_COUNTRY", "UNKNOWN_PLAN", "DUPLICATE_RECORD_ID",
    ]  # fmt: skip
    for name in ("in memory", "on disk"):
        for mine, one in zip(got[name], got["one call"], strict=True):
            assert mine.equals(one), name


def test_a_corrupt_row_group_met_by_the_disk_split_exits_3_and_leaves_no_folder(
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    # about 6 MB in memory: more than a budget of 1 MB leaves room for, so split on disk
    rows = [rec(f"r{i}", subscriber_id=f"s{i % 50}") for i in range(30_000)]
    path = tmp_path / "usage.parquet"
    text_frame(rows).write_parquet(path, row_group_size=5_000, compression="uncompressed")
    meta = pq.ParquetFile(path).metadata.row_group(4)
    start = min(meta.column(i).data_page_offset for i in range(meta.num_columns))
    data = bytearray(path.read_bytes())
    # the fifth of six row groups, after the rows the run samples to plan its batches
    data[start : start + 300] = b"\xff" * 300
    path.write_bytes(bytes(data))
    plans_path = tmp_path / "plans.yaml"
    plans_path.write_text(yaml.safe_dump({"plans": [DE_PLAN]}))
    out = tmp_path / "rated.parquet"
    result = CliRunner().invoke(
        app,
        ["rate", str(path), "--plans", str(plans_path), "--out", str(out), "--memory-gb", "0.001"],
    )
    assert result.exit_code == EXIT_DATA, result.output
    assert "usage.parquet: cannot read usage records: " in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.yaml", "usage.parquet"]
    with pytest.raises(UsageInputError, match=r"usage\.parquet: cannot read usage records: "):
        rate_file(path, {"de": make_plan()}, FxTable(), out, memory_bytes=10**6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.yaml", "usage.parquet"]
    opened = input_reader.open_input(path, None, 10**6, None)
    assert opened.plan.on_disk  # the error came from the split, not from an earlier read


def test_plan_batches_holds_the_input_when_it_fits_the_budget() -> None:
    per, least = pipeline.ENGINE_BYTES_PER_RECORD, pipeline.MIN_CALL_ROWS
    one = pipeline.plan_batches(1_000, 10_000, 10**9)
    assert (one.batches, one.on_disk) == (1, False)
    # the input held aside, the rest of the budget rates 2 * least records per call
    split = pipeline.plan_batches(10 * least, 10**8, 10**8 + 2 * least * per)
    assert (split.batches, split.on_disk, split.rows_per_batch) == (5, False, 2 * least)
    capped = pipeline.plan_batches(10_000, 1_000, 10**9, batch_rows=2_500)
    assert (capped.batches, capped.on_disk) == (4, False)
    # no room for a call of `least` records beside the input: split on disk, each call as
    # large as the whole budget holds
    disk = pipeline.plan_batches(10 * least, 10**8, 10**8 + least * per - 1)
    assert disk.on_disk
    assert disk.rows_per_batch == (10**8 + least * per - 1) // per
    assert pipeline.plan_batches(0, 0, 1).batches == 1
    # by default calls of DEFAULT_BATCH_ROWS records: 4 million records in 8, in memory
    default = pipeline.plan_batches(4_000_000, 600_000_000, pipeline.DEFAULT_MEMORY_BYTES)
    assert (default.batches, default.on_disk) == (8, False)


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("roamlike-writer-")]


def test_a_failing_rated_writer_leaves_no_output_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roamlike.io import background

    def full_disk(rated: pl.LazyFrame, path: Path, **options: object) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{'0' * 32}.tmp")
        tmp.write_bytes(b"half a file")
        try:
            rated.collect()  # takes every batch, as the real writer does
        finally:
            tmp.unlink()  # the writer removes its temporary file (also when aborted), reports
        raise OutputError(f"{path}: cannot write parquet output: No space left on device")

    monkeypatch.setattr(background, "write_table", full_disk)
    path, plans = _mixed_file(tmp_path)
    out, rej, notes = (tmp_path / f"{k}.parquet" for k in ("rated", "rejects", "notes"))
    with pytest.raises(OutputError, match="No space left on device"):
        rate_file(path, plans, FxTable(), out, rej, notes, batch_rows=7)
    assert [p.name for p in tmp_path.iterdir()] == ["usage.csv"]
    assert not _writer_threads()
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump({"plans": [DE_PLAN]}), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["rate", str(path), "--plans", str(plans_file), "--out", str(out),
              "--rejects", str(rej), "--batch-rows", "7", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == EXIT_DATA, result.output
    assert "No space left on device" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.yaml", "usage.csv"]


class _FailOnSecondBatch:
    """Batch hooks whose second batch fails (as a store would on a bad batch)."""

    def __init__(self) -> None:
        self.batches = 0

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        self.batches += 1
        if self.batches == 2:
            raise UsageInputError("the second batch cannot be rated")
        return batch, {}

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        pass


def test_a_batch_failing_after_the_first_was_handed_to_the_writer_leaves_no_output(
    tmp_path: Path,
) -> None:
    path, plans = _mixed_file(tmp_path)
    out, rej, notes = (tmp_path / f"{k}.csv" for k in ("rated", "rejects", "notes"))
    out.write_text("the previous run's output")
    hooks = _FailOnSecondBatch()
    with pytest.raises(UsageInputError, match="second batch"):
        rate_file(path, plans, FxTable(), out, rej, notes, batch_rows=7, hooks=hooks)
    assert hooks.batches == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rated.csv", "usage.csv"]
    assert out.read_text() == "the previous run's output"
    assert not _writer_threads()


EngineName = Literal["auto", "in-memory", "streaming"]


def test_a_text_file_that_fits_the_budget_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # counting a CSV's records parses it as fully as reading it: it used to be parsed twice
    path = tmp_path / "usage.csv"
    text_frame(_mixed_rows()).write_csv(path)
    assert input_reader._text_rows(pl.read_csv(path, infer_schema=False), path) >= 60
    queries: list[str] = []
    collect = input_reader.collect_input

    def counting(lf: pl.LazyFrame, where: Path, *, engine: EngineName = "auto") -> pl.DataFrame:
        frame = collect(lf, where, engine=engine)
        queries.append("whole" if BATCH_ROW in frame.columns else "other")
        return frame

    monkeypatch.setattr(input_reader, "collect_input", counting)
    plans = {"de": make_plan(data_allowance_gb="0.01")}
    summary = rate_file(path, plans, FxTable(), tmp_path / "r.parquet", batch_rows=7)
    assert summary.read == 60
    assert summary.batches > 1
    # the file read once with its row numbers, and its first rows to estimate its size: no count
    assert sorted(queries) == ["other", "whole"]


def _rating_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("roamlike-rating")]


def _threads_calling(
    monkeypatch: pytest.MonkeyPatch, name: str, module: ModuleType = pipeline
) -> list[str]:
    """The names of the threads that call ``module.<name>`` from now on, in call order."""
    calls: list[str] = []
    real = getattr(module, name)

    def noting(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, noting)
    return calls


def test_rating_md_7c_batches_rated_on_two_threads_give_the_bytes_of_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, plans = _mixed_file(tmp_path)
    calls = _threads_calling(monkeypatch, "rate_usage")
    outputs = []
    for lanes in (1, 2):
        monkeypatch.setattr(pipeline, "RATING_THREADS", lanes)
        names = [tmp_path / f"{lanes}.{k}.parquet" for k in ("r", "j", "n")]
        summary = rate_file(path, plans, FxTable(), *names, batch_rows=7)
        assert summary.batches > 2
        outputs.append([p.read_bytes() for p in names])
        assert (threading.current_thread().name in calls) is (lanes == 1)
        calls.clear()
    assert outputs[0] == outputs[1]
    assert not _rating_threads()


def test_a_batch_failing_on_a_rating_thread_leaves_no_output_and_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    real = pipeline.rate_usage

    def failing_third(*args: Any, **kwargs: Any) -> RatingResult:
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise ZeroDivisionError("a defect on a rating thread")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "rate_usage", failing_third)
    path = tmp_path / "usage.csv"
    text_frame(_mixed_rows()).write_csv(path)
    plans_file = tmp_path / "plans.yaml"
    plans_file.write_text(yaml.safe_dump({"plans": [DE_PLAN]}), encoding="utf-8")
    out = tmp_path / "rated.parquet"
    out.write_text("the previous run's output")
    args = ["rate", str(path), "--plans", str(plans_file), "--out", str(out),
            "--rejects", str(tmp_path / "rej.parquet"), "--batch-rows", "7", "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        run_app(app, args)
    assert info.value.code == EXIT_INTERNAL
    assert "ZeroDivisionError: a defect on a rating thread" in capsys.readouterr().err
    assert all(name.startswith("roamlike-rating") for name in calls)
    # the batches after it were not rated; none being rated outlives the run
    assert len(calls) <= 3 + pipeline.RATING_THREADS
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "plans.yaml",
        "rated.parquet",
        "usage.csv",
    ]
    assert out.read_text() == "the previous run's output"
    assert not _writer_threads()
    assert not _rating_threads()


def test_rating_md_7c_an_input_read_on_a_thread_rates_as_one_read_by_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "usage.csv"
    text_frame(_mixed_rows()).write_csv(path)
    opened, outputs = _threads_calling(monkeypatch, "open_input", input_reader), []
    for name, rows in (("own", None), ("reader", 7), ("other", 8)):
        reader = None if rows is None else pipeline.InputReader(path, None, 3 * 10**9, rows)
        names = [tmp_path / f"{name}.{k}.parquet" for k in ("r", "j", "n")]
        rate_file(path, {"de": make_plan()}, FxTable(), *names, batch_rows=7, reader=reader)
        outputs.append([p.read_bytes() for p in names])
    assert outputs[0] == outputs[1] == outputs[2]
    main = threading.current_thread().name
    # the reader's read is used; one made for other batches is not (the run reads again)
    assert opened == [main, "roamlike-reader", "roamlike-reader", main]


def test_a_reader_of_an_unreadable_file_raises_usage_input_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.parquet"
    path.write_bytes(b"not parquet")
    reader = pipeline.InputReader(path)
    with pytest.raises(UsageInputError, match=r"usage\.parquet"):
        rate_file(path, {"de": make_plan()}, FxTable(), tmp_path / "r.parquet", reader=reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.parquet"]


def test_rating_md_7c_rated_rows_go_in_row_groups_of_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    path, plans = _mixed_file(tmp_path)
    monkeypatch.setattr(pipeline, "PARQUET_BATCH_ROW_GROUP_SIZE", 20)  # rate's own setting
    out = tmp_path / "rated.parquet"
    summary = rate_file(path, plans, FxTable(), out, batch_rows=7)
    meta = pq.ParquetFile(out).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == summary.rated == 56
    assert sizes == [20, 20, 16]
