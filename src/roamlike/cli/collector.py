"""Python's garbage collector during the start of ``roamlike rate``.

The start of a run (imports of Polars, NumPy, Typer and the engine; the plans, FX and catalog)
creates about a million Python objects that live until the process ends. The cyclic garbage
collector traversed them again and again: measured on the benchmark's 4 million records, its
collections took 0.23-0.42 s of a run's wall time at load 7-8 (most in one full collection), all
of it holding the GIL that the start's threads (reading the input, loading the engine) and the
rating threads share. :func:`hold` switches the collector off for the start; :func:`release`
moves every object alive by then to the permanent generation (:func:`gc.freeze`), which later
collections do not traverse, and switches it on again. Only the command line's own process does
this (``roamlike.cli.main``); a caller of the command's function (a test runner) is unchanged.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """Switch the collector off until :func:`release` (the start of a run)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release() -> None:
    """Freeze what the start made and switch the collector on again, if :func:`hold` had it
    off; otherwise nothing."""
    global _held
    if _held:
        gc.freeze()
        gc.enable()
        _held = False
