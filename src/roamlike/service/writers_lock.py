"""The writers' lock of a SQLite store file: an exclusive ``flock`` of ``<store>.writers``.

The service's writers (each worker's commits, its compactions, its checkpoints' last pass)
take turns on it (:mod:`roamlike.service.runtime`): a process blocked on ``flock`` wakes as
soon as the holder lets go, where SQLite's own wait for its write lock polls with sleeps.
"""

from __future__ import annotations

import os


def open_writers_lock(target: str) -> int:
    """A new descriptor of the writers' lock file of the SQLite file ``target``
    (``<target>.writers``, created if missing), to ``flock`` exclusively around a write."""
    return os.open(f"{target}.writers", os.O_RDWR | os.O_CREAT, 0o600)
