"""Tests of roamlike.io.background: frames written on a worker thread, atomically."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pytest

from roamlike.errors import OutputError
from roamlike.io import background, write_table
from roamlike.io.background import BackgroundTableWriter


def _frames() -> list[pl.DataFrame]:
    return [
        pl.DataFrame({"i": range(k * 1000, (k + 1) * 1000)}).with_columns(
            pl.format("r{}", pl.col("i")).alias("record_id")
        )
        for k in range(5)
    ]


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("roamlike-writer-")]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_frames_written_in_the_background_give_the_bytes_of_one_write(
    tmp_path: Path, suffix: str
) -> None:
    frames = _frames()
    writer = BackgroundTableWriter(tmp_path / f"bg{suffix}", frames[0].schema)
    for frame in frames:
        writer.write(frame)
    writer.commit()
    write_table(pl.concat(frames), tmp_path / f"one{suffix}")
    assert (tmp_path / f"bg{suffix}").read_bytes() == (tmp_path / f"one{suffix}").read_bytes()
    assert not _writers()


def test_nothing_written_before_commit_and_abort_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "rated.parquet"
    writer = BackgroundTableWriter(target, _frames()[0].schema)
    writer.write(_frames()[0])
    assert not target.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert not _writers()


def test_an_earlier_file_survives_an_aborted_write(tmp_path: Path) -> None:
    target = tmp_path / "rated.csv"
    target.write_text("the previous run's output")
    writer = BackgroundTableWriter(target, _frames()[0].schema)
    for frame in _frames():
        writer.write(frame)
    writer.abort()
    assert target.read_text() == "the previous run's output"
    assert [p.name for p in tmp_path.iterdir()] == ["rated.csv"]


def test_a_failing_worker_raises_output_error_in_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roamlike.io import outputs

    def full_disk(lf: pl.LazyFrame, fmt: str, target: Path, row_group_size: int) -> None:
        target.write_bytes(b"half a file")  # what a write cut short leaves
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "_write", full_disk)
    target = tmp_path / "rated.parquet"
    writer = BackgroundTableWriter(target, _frames()[0].schema)

    def write_all() -> None:
        for frame in _frames():  # the error surfaces at a later write or at commit
            writer.write(frame)
        writer.commit()

    with pytest.raises(OutputError, match="No space left on device"):
        write_all()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert not _writers()


def test_a_worker_that_dies_without_an_error_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BackgroundTableWriter, "_run", lambda self: None)
    monkeypatch.setattr(background, "_POLL_S", 0.01)
    writer = BackgroundTableWriter(tmp_path / "rated.csv", _frames()[0].schema)

    def write_all() -> None:
        for frame in _frames():
            writer.write(frame)

    with pytest.raises(OutputError, match="writer stopped"):  # nobody takes them: no hang
        write_all()
    writer.abort()


def test_after_abort_a_write_is_refused(tmp_path: Path) -> None:
    writer = BackgroundTableWriter(tmp_path / "rated.csv", _frames()[0].schema)
    writer.abort()
    with pytest.raises(OutputError, match="run failed before its output was complete"):
        writer.write(_frames()[0])


def test_abort_stops_the_worker_even_if_its_queue_loses_the_wake_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an exception raised in the caller's thread inside the queue (a signal's) can leave the
    # waiting worker unwoken; a fresh-clone CI run's SIGTERM test hung on it, in abort's join
    target = tmp_path / "rated.csv"
    writer = BackgroundTableWriter(target, _frames()[0].schema)
    writer.write(_frames()[0])
    monkeypatch.setattr(writer._queue, "put_nowait", lambda item: None)  # the wake-up is lost
    stopped = threading.Thread(target=writer.abort, daemon=True)
    stopped.start()
    stopped.join(timeout=30)
    assert not stopped.is_alive()
    assert list(tmp_path.iterdir()) == []
    assert not _writers()
