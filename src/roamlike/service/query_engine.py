"""Which Polars engine runs the queries of a service process: the in-memory one.

Polars 2 runs ``collect()`` on its streaming engine by default (``auto``): built for inputs
larger than memory, it sets up a pipeline of morsels and tasks per query, a fixed cost that a
commit group's frames of a few hundred to a few thousand rows do not repay. Every query of a
service process is of that size (a group's counters, its rating by the batch engine, its
answers and rows; a quote), so the process runs them on the in-memory engine: the same
results (the engine is a choice of execution, not of semantics; ``tests/service/
test_query_engine.py`` rates a group both ways), less CPU. Measured on a group of 1,600
records of 1,600 subscribers with stored counters (``rate_group``, one process, the two
alternated, median process CPU): 72-82 ms on ``auto`` against 57-72 ms in memory
(``docs/service.md``, "Round 11").

``ROAMLIKE_POLARS_ENGINE=auto`` in the server's environment keeps Polars' default (an A/B
run). ``roamlike rate`` and the other commands are not affected: the setting is made by the
service's lifespan and undone when it ends.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import polars as pl

#: The engine affinity of a service process (module docstring).
ENGINE = os.environ.get("ROAMLIKE_POLARS_ENGINE", "in-memory")


@contextlib.contextmanager
def service_queries(engine: str = ENGINE) -> Iterator[None]:
    """Run the process's Polars queries on ``engine`` while the block runs (the service's
    lifespan), then restore the affinity there was."""
    from polars._plr import get_engine_affinity

    before = get_engine_affinity()
    pl.Config.set_engine_affinity(engine)  # type: ignore[arg-type]
    try:
        yield
    finally:
        pl.Config.set_engine_affinity(before)
