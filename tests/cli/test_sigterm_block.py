"""``sigterm_as_interrupt``: SIGTERM inside the block ends the command with exit 143 after its
cleanup, also when a compiled library turned the signal's exception into one of its own."""

from __future__ import annotations

import os
import signal
import time

import pytest

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
