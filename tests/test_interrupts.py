"""``roamlike.interrupts.held_interrupts``: a signal waits for the end of a step that may not be
cut in two, then acts as it would have; ``rate_file`` holds one over moving its outputs into
place and over removing its work folder."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from builders import make_plan, rec
from comparison import text_frame
from roamlike import pipeline
from roamlike.interrupts import held_interrupts
from roamlike.io.background import BackgroundTableWriter
from roamlike.tariffs import FxTable


class Stop(BaseException):
    """What the test's SIGTERM handler raises (the commands raise ``Terminated``)."""


@pytest.fixture
def sigterm_raises() -> Iterator[list[int]]:
    """SIGTERM raises :class:`Stop` (and is counted) while the test runs."""
    seen: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        raise Stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _two_signals_in_a_step(steps: list[str]) -> None:
    with held_interrupts():
        _sigterm_to_self()
        _sigterm_to_self()  # twice: delivered once
        steps.append("the whole step")
    steps.append("not reached")


def test_a_signal_in_the_block_is_raised_after_it_once(sigterm_raises: list[int]) -> None:
    steps: list[str] = []
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stop):
        _two_signals_in_a_step(steps)
    assert steps == ["the whole step"]
    assert sigterm_raises == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is handler


def _a_signal_in_a_failing_step() -> None:
    with held_interrupts():
        _sigterm_to_self()
        raise ValueError("the step's own error")


def test_a_block_that_fails_still_delivers_the_signal_after_its_error(
    sigterm_raises: list[int],
) -> None:
    with pytest.raises(Stop) as caught:
        _a_signal_in_a_failing_step()
    assert isinstance(caught.value.__context__, ValueError)
    assert sigterm_raises == [signal.SIGTERM]


def test_without_a_signal_the_block_changes_nothing(sigterm_raises: list[int]) -> None:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with held_interrupts():
        pass
    assert sigterm_raises == []
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_off_the_main_thread_the_handlers_are_left_alone(sigterm_raises: list[int]) -> None:
    seen: list[object] = []

    def step() -> None:
        with held_interrupts():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=step)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGTERM)]


def _usage(tmp_path: Path) -> Path:
    rows = [rec(f"r{i}", subscriber_id=f"s{i % 40}") for i in range(400)]
    rows[3]["visited_country"] = "ZZ"  # a reject: the rejects' file is written too
    path = tmp_path / "usage.csv"
    text_frame(rows).write_csv(path)
    return path


def _signal_before(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, when: Callable[..., bool]
) -> None:
    """SIGTERM to this process as ``owner.name`` starts, on the calls ``when`` picks."""
    original = getattr(owner, name)

    def patched(*args: object) -> object:
        if when(*args):
            _sigterm_to_self()
        return original(*args)

    monkeypatch.setattr(owner, name, patched)


def test_a_signal_between_two_outputs_waits_until_every_output_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigterm_raises: list[int]
) -> None:
    # the rated rows are moved into place first: a signal as the rejects' file follows used to
    # leave the rated rows new and the rejects missing
    _signal_before(monkeypatch, BackgroundTableWriter, "commit", lambda w: w.path.name == "rej.csv")
    out, rejects = tmp_path / "rated.csv", tmp_path / "rej.csv"
    with pytest.raises(Stop):
        pipeline.rate_file(_usage(tmp_path), {"de": make_plan()}, FxTable(), out, rejects)
    assert sigterm_raises == [signal.SIGTERM]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rated.csv", "rej.csv", "usage.csv"]
    assert len(out.read_text().splitlines()) == 400  # a header and 399 rated rows
    assert len(rejects.read_text().splitlines()) == 2


def test_a_signal_as_the_work_folder_is_removed_waits_until_it_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigterm_raises: list[int]
) -> None:
    _signal_before(monkeypatch, tempfile.TemporaryDirectory, "cleanup", lambda _: True)
    usage, out = _usage(tmp_path), tmp_path / "rated.csv"
    with pytest.raises(Stop):  # a budget of 200 kB: three batches on disk, in a work folder
        pipeline.rate_file(usage, {"de": make_plan()}, FxTable(), out, memory_bytes=200_000)
    assert sigterm_raises == [signal.SIGTERM]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rated.csv", "usage.csv"]
