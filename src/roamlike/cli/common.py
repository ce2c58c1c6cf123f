"""Helpers shared by the CLI command modules: dates, errors to exit codes, console output."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final, NoReturn

import typer
from rich.console import Console

from roamlike.errors import (
    EXIT_DATA,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CatalogError,
    FxError,
    NotInForceError,
    OutputError,
    RoamlikeError,
    StoreError,
    TariffError,
    UnknownCountryError,
    UsageInputError,
)

console = Console()
err_console = Console(stderr=True)


def parse_date(text: str, option: str = "--on") -> dt.date:
    """Parse YYYY-MM-DD or exit 2 with a clear message."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected a date written YYYY-MM-DD, found {text!r}", EXIT_USAGE)


def fail(message: str, code: int) -> NoReturn:
    """Print an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def exit_code_for(exc: RoamlikeError) -> int:
    """Map an error of the tree to the CLI exit code."""
    if isinstance(exc, UnknownCountryError):
        return EXIT_USAGE
    if isinstance(
        exc,
        NotInForceError
        | CatalogError
        | TariffError
        | FxError
        | UsageInputError
        | OutputError
        | StoreError,
    ):
        return EXIT_DATA
    return EXIT_DATA


def handle(exc: RoamlikeError) -> NoReturn:
    """Report a roamlike error and exit with its code."""
    fail(str(exc), exit_code_for(exc))


def print_json(obj: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


#: Where to report an internal error.
REPORT_URL = "https://github.com/roamlike/roamlike/issues"


def run_app(app: Callable[..., Any], argv: list[str] | None = None) -> NoReturn:
    """Run the Typer app with the catch-all for unexpected errors.

    Any exception that is not a deliberate exit becomes one line on stderr with a hint to report
    it and exit code 4 (:data:`roamlike.errors.EXIT_INTERNAL`), never a traceback and never exit
    1 (which means "finished with rejects"). ``--debug`` anywhere on the command line (or
    ``ROAMLIKE_DEBUG=1``) prints the traceback as well.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("ROAMLIKE_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        app(args, prog_name="roamlike")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]", highlight=False)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BaseException as exc:  # the catch-all: a defect, reported in one line
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        where = "" if debug else " (run again with --debug for the traceback)"
        err_console.print(
            f"[bold red]internal error[/]: {type(exc).__name__}: {_first_line(exc)}{where}; "
            f"please report it at {REPORT_URL}",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(EXIT_INTERNAL) from None
    raise SystemExit(0)


def exit_now(code: object) -> NoReturn:
    """End the process with the exit status of ``SystemExit(code)``, skipping the teardown.

    What a normal exit does that a user can see is done first: the threads that are not
    daemons are waited for (as the interpreter does, with the callbacks of
    :func:`threading._register_atexit`, which stop idle thread pools), the :mod:`atexit`
    handlers run and ``stdout``/``stderr`` are flushed. Then :func:`os._exit` ends the process
    without the interpreter's teardown: freeing every module and object one by one, which costs
    ``roamlike rate`` about half a second of wall time after its work is done (Polars, NumPy,
    Numba and LLVM loaded; docs/rating.md §7c). Files are all closed by then (every writer
    closes its file before it returns).

    Parameters
    ----------
    code : object
        ``SystemExit.code``: None (0), an int, or a message printed on stderr (status 1), as
        the interpreter treats it.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"{code}\n")
        status = 1
    shutdown: Callable[[], None] | None = getattr(threading, "_shutdown", None)
    if shutdown is not None:  # CPython: what its own exit runs first
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to tell anyone
            stream.flush()
    os._exit(status)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it cleans up as after Ctrl-C."""


#: Libraries whose compiled code calls Python back on the caller's thread (Polars: its
#: wrappers, the signal checks of its long calls, its callbacks): the signal's exception is not
#: raised while one of their frames is on the main thread's stack.
CALLING_BACK: Final = ("polars",)
#: How soon a signal that arrived inside such a library is delivered again [s].
RETRY_S: Final = 0.05


def _inside_library(frame: FrameType | None) -> bool:
    """Whether a frame of a :data:`CALLING_BACK` library is on ``frame``'s stack."""
    roots = tuple(
        os.path.dirname(module.__file__) + os.sep
        for module in map(sys.modules.get, CALLING_BACK)
        if module is not None and module.__file__ is not None
    )
    while roots and frame is not None:
        if frame.f_code.co_filename.startswith(roots):
            return True
        frame = frame.f_back
    return False


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`: cleanup runs as after Ctrl-C, then
    exit 143 (Ctrl-C: exit 130).

    The signal's exception is raised wherever the main thread runs Python code, except inside a
    library that calls Python back from compiled code (:data:`CALLING_BACK`): there the
    library may turn it into an error of its own (Polars panics: ``PanicException``) or stop
    halfway through its own work. The signal is then delivered again every :data:`RETRY_S`
    seconds until the main thread is out of the library. Should an exception of a library still
    leave the block after SIGTERM was received, it is taken as the termination it became.
    """
    received: list[int] = []
    again: list[threading.Timer] = []

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if _inside_library(frame):
            timer = threading.Timer(RETRY_S, os.kill, (os.getpid(), signum))
            timer.daemon = True
            again.append(timer)
            timer.start()
            return
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
        if received:  # it came inside a library, and the block ended before it came again
            raise Terminated()
    except Terminated:
        err_console.print("[bold red]terminated[/]: temporary files removed", highlight=False)
        raise SystemExit(EXIT_TERMINATED) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: temporary files removed", highlight=False)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except SystemExit:
        raise
    except BaseException:
        if not received:
            raise
        err_console.print("[bold red]terminated[/]: temporary files removed", highlight=False)
        raise SystemExit(EXIT_TERMINATED) from None
    finally:
        for timer in again:
            timer.cancel()
        signal.signal(signal.SIGTERM, previous)
