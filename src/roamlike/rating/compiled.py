"""Load the compiled pass (``roamlike.rating.kernel``) on a thread while the run does other work.

Importing Numba and loading the pass's cached machine code costs about half a CPU-second
(``benchmarks/bench_rating.py``: 0.29 s to import Numba, 0.19 s for the first call), mostly
Python byte code. The engine imports the kernel only when it first needs it; a run that knows it
will rate (``roamlike rate``) calls :func:`preload` first, so the loading overlaps reading and
validating the input (Polars releases the GIL while it works). Loading twice is harmless: Python's
import lock and Numba's compiler lock make the engine wait for a load in progress, and a load
that fails on the thread fails again, with its error, where the engine imports the kernel.
"""

from __future__ import annotations

import contextlib
import threading

_started = threading.Event()


def _load() -> None:
    with contextlib.suppress(Exception):  # the engine's own import reports any error
        import numpy as np

        from roamlike.rating import kernel

        kernel.ascending(np.zeros(2, dtype=np.int64))  # Numba's target and the cache, loaded


def preload() -> None:
    """Start loading the compiled pass on a daemon thread (once per process)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_load, name="roamlike-compiled", daemon=True).start()
