"""Steps a signal may not cut in two.

Ctrl-C (SIGINT) and, in the commands, SIGTERM raise an exception wherever the main thread runs
Python code (``roamlike.cli.common.sigterm_as_interrupt``), and the cleanup on the way out
undoes what the run did. A few steps are not safe to stop halfway: moving a run's outputs
into place one after the other (stopped between two of them, one output would be new and
the next missing) and removing the work folder (stopped inside, half of it would stay).
:func:`held_interrupts` runs such a step whole and delivers the signal after it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

HELD_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are held; when it ends (normally or by an error),
    the handlers are put back and each signal received meanwhile is raised again, once, so it
    acts as it would have.

    Off the main thread (where Python runs no signal handler) the block runs as it is. A
    signal whose handler was not set from Python (``signal.getsignal`` gives None) is left
    alone.

    Examples
    --------
    >>> import os
    >>> done = []
    >>> try:
    ...     with held_interrupts():
    ...         os.kill(os.getpid(), signal.SIGINT)
    ...         done.append("the whole step")
    ... except KeyboardInterrupt:
    ...     done.append("then the interrupt")
    >>> done
    ['the whole step', 'then the interrupt']
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[int, Callable[[int, FrameType | None], object] | int] = {}
    for held in HELD_SIGNALS:
        handler = signal.getsignal(held)
        if handler is not None:
            previous[held] = handler
            signal.signal(held, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)  # the handler put back runs here
