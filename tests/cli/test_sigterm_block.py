"""``sigterm_as_interrupt``: SIGTERM inside the block ends the command with exit 143 after its
cleanup, also when a compiled library turned the signal's exception into one of its own."""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from roamlike.cli import common
from roamlike.cli.common import Terminated, sigterm_as_interrupt
from roamlike.errors import EXIT_TERMINATED


class LibraryPanic(BaseException):
    """What a library raises when a Python callback of its fails (as Polars'
    ``PanicException``, a ``BaseException``)."""


def _wait_for_signal() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the handler runs between two bytecodes of this loop
        time.sleep(0.01)
    raise AssertionError("SIGTERM was not delivered")


def _terminated(cleaned: list[bool]) -> None:
    with sigterm_as_interrupt():
        try:
            _wait_for_signal()
        finally:
            cleaned.append(True)


def _panicked(cleaned: list[bool]) -> None:
    with sigterm_as_interrupt():
        try:
            try:
                _wait_for_signal()
            except Terminated as exc:  # the library's callback failed: it panics
                raise LibraryPanic("called `Result::unwrap()` on an `Err` value") from exc
        finally:
            cleaned.append(True)


def _failing() -> None:
    with sigterm_as_interrupt():
        raise LibraryPanic("a defect, reported as one")


def _exiting() -> None:
    with sigterm_as_interrupt():
        try:
            _wait_for_signal()
        except Terminated:
            raise SystemExit(3) from None


def test_sigterm_in_the_block_exits_143_after_cleanup() -> None:
    cleaned: list[bool] = []
    with pytest.raises(SystemExit) as ended:
        _terminated(cleaned)
    assert ended.value.code == EXIT_TERMINATED
    assert cleaned == [True]


def test_sigterm_a_library_turned_into_its_own_error_still_exits_143() -> None:
    cleaned: list[bool] = []
    with pytest.raises(SystemExit) as ended:
        _panicked(cleaned)
    assert ended.value.code == EXIT_TERMINATED
    assert cleaned == [True]


def test_an_error_without_sigterm_is_not_taken_for_one() -> None:
    with pytest.raises(LibraryPanic):
        _failing()


def test_a_deliberate_exit_after_sigterm_keeps_its_code() -> None:
    with pytest.raises(SystemExit) as ended:
        _exiting()
    assert ended.value.code == 3


def test_the_previous_handler_is_back_after_the_block() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in for a library that calls Python back from compiled code: ``work(steps,
    send)`` calls ``send`` (which sends SIGTERM) from its own frame, then works on for 0.3 s."""
    path = tmp_path / "calling_back" / "__init__.py"
    path.parent.mkdir()
    source = (
        "def work(steps, send):\n"
        "    send()\n"
        "    end = time.monotonic() + 0.3\n"
        "    while time.monotonic() < end:\n"
        "        time.sleep(0.01)\n"
        "    steps.append('the library finished')\n"
    )
    path.write_text(source)
    module = types.ModuleType("calling_back")
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, "calling_back", module)
    monkeypatch.setattr(common, "CALLING_BACK", ("calling_back",))
    names: dict[str, Any] = {"time": time}
    exec(compile(source, str(path), "exec"), names)
    return names


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _in_library_then_ours(library: dict[str, Any], steps: list[str]) -> None:
    with sigterm_as_interrupt():
        library["work"](steps, _sigterm)
        steps.append("back in roamlike")
        _wait_for_signal_again()


def _wait_for_signal_again() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    raise AssertionError("SIGTERM was not delivered again")


def test_sigterm_inside_a_library_is_raised_once_the_main_thread_is_out_of_it(
    library: dict[str, Any],
) -> None:
    steps: list[str] = []
    with pytest.raises(SystemExit) as ended:
        _in_library_then_ours(library, steps)
    assert ended.value.code == EXIT_TERMINATED
    assert steps == ["the library finished", "back in roamlike"]


def _in_library_then_done(library: dict[str, Any], steps: list[str]) -> None:
    with sigterm_as_interrupt():
        library["work"](steps, _sigterm)
        steps.append("the block's end")


def test_sigterm_inside_a_library_at_the_blocks_end_still_exits_143(
    library: dict[str, Any],
) -> None:
    # the block ends before the signal comes again: the termination is not lost
    steps: list[str] = []
    with pytest.raises(SystemExit) as ended:
        _in_library_then_done(library, steps)
    assert ended.value.code == EXIT_TERMINATED
    assert steps == ["the library finished", "the block's end"]
    time.sleep(3 * common.RETRY_S)  # no signal comes after the block (pytest would end)
