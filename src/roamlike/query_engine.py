"""Which Polars engine runs roamlike's queries: the in-memory one.

Polars 2 runs ``collect()`` on its streaming engine by default (``auto``): built for inputs
larger than memory, it sets up a pipeline of morsels and tasks per query, a fixed cost that
roamlike's queries do not repay. Their frames are a batch of at most a few hundred thousand
records (``roamlike rate``: the input is split into batches, on disk when it is larger than
memory allows, and the on-disk split reads on the streaming engine whatever this setting), or
a commit group of a few hundred to a few thousand rows (the service). The engine is a choice of
execution, not of semantics: the same results either way (``tests/service/
test_query_engine.py`` rates a group both ways; `roamlike rate`'s rated and rejected files
on 4 M records were compared equal).

Measured, alternated in one session: a service commit group of 1,600 records (``rate_group``,
one process, median process CPU) 72-82 ms on ``auto`` against 57-72 ms in memory
(``docs/service-speed.md``, "Round 11"); ``roamlike rate`` on 4 M records (``docs/rating.md`` §7c,
"Round 11").

``ROAMLIKE_POLARS_ENGINE=auto`` in the environment keeps Polars' default (A/B runs); Polars'
own ``POLARS_ENGINE_AFFINITY``, when set, is left as it is for the commands.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, MutableMapping

#: roamlike's setting (module docstring); Polars' own variable for the engine of ``collect()``.
ENGINE_ENV = "ROAMLIKE_POLARS_ENGINE"
POLARS_ENV = "POLARS_ENGINE_AFFINITY"
#: The engine affinity of roamlike's processes (module docstring).
ENGINE = os.environ.get(ENGINE_ENV, "in-memory")


def for_process(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make :data:`ENGINE` the engine of this process's queries (the ``roamlike`` command),
    unless Polars' own variable says otherwise.

    Polars reads its variable when it is imported; when it is imported already, it is told
    to read it again.
    """
    environ.setdefault(POLARS_ENV, environ.get(ENGINE_ENV, "in-memory"))
    if environ is os.environ and "polars" in sys.modules:
        import polars as pl

        pl.Config.set_engine_affinity(environ[POLARS_ENV])


@contextlib.contextmanager
def queries_on(engine: str = ENGINE) -> Iterator[None]:
    """Run the process's Polars queries on ``engine`` while the block runs (the service's
    lifespan), then restore the affinity there was."""
    import polars as pl  # here: the command line calls for_process before importing Polars
    from polars._plr import get_engine_affinity

    before = get_engine_affinity()
    pl.Config.set_engine_affinity(engine)  # type: ignore[arg-type]
    try:
        yield
    finally:
        pl.Config.set_engine_affinity(before)
