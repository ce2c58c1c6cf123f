"""Load the compiled pass (``roamlike.rating.passes``) on a thread while the run does other work.

The pass's ahead-of-time module (``roamlike.rating.aot``) loads in about a millisecond; without
it, importing Numba and loading the pass's cached machine code costs about half a CPU-second
(``benchmarks/bench_rating.py``: 0.29 s to import Numba, 0.19 s for the first call), mostly
Python byte code. The engine loads the pass only when it first needs it; a run that knows it
will rate (``roamlike rate``) calls :func:`preload` first, so the loading overlaps reading and
validating the input (Polars releases the GIL while it works). Loading twice is harmless: Python's
import lock and Numba's compiler lock make the engine wait for a load in progress, and a load
that fails on the thread fails again, with its error, where the engine imports the kernel.
A run that had to use the JIT pass may start building the ahead-of-time module for the next
runs (:func:`build_for_next_runs`).
"""

from __future__ import annotations

import contextlib
import threading

_started = threading.Event()


def _load() -> None:
    with contextlib.suppress(Exception):  # the engine's own import reports any error
        import numpy as np

        from roamlike.rating import passes

        # the ahead-of-time module (a millisecond), else Numba's target and its cached code
        passes.ascending(np.zeros(2, dtype=np.int64))


def preload() -> None:
    """Start loading the compiled pass on a daemon thread (once per process)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_load, name="roamlike-compiled", daemon=True).start()


def build_for_next_runs() -> bool:
    """Start building the ahead-of-time module in the background if this process rated with the
    JIT pass (``roamlike rate`` calls it as it ends). Returns whether a build was started."""
    import sys

    passes = sys.modules.get("roamlike.rating.passes")
    if passes is None or not passes._chosen:  # nothing rated in this process
        return False
    from roamlike.rating import aot

    return not passes.uses_aot() and aot.build_in_background()
