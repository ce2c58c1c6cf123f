"""The SQLite write-ahead log copied into the store file off the writers' lock.

A SQLite commit appends its pages to the WAL (``<store>-wal``) and syncs it; that is what makes
it durable (``synchronous=FULL``). Copying the WAL's pages back into the store file (a
*checkpoint*) is done by default by the committing connection itself, right after a commit that
left more than 1,000 pages (4 MB) in the WAL: inside the service's group commit, under the
writers' lock, the other worker waiting. A group of events of 100 records writes about 2 MB
(its answers, counters and days), so every second group paid for a checkpoint there (measured
in one process: 50-63 instead of 74-85 ms of wall time under the lock per group of 1,600
records, at a load average of 8-9).

So the writer's connection checkpoints only past :data:`WRITER_CHECKPOINT_PAGES` pages (a
safety net: ``PRAGMA wal_autocheckpoint``), and a thread of each worker process, with a
connection of its own, runs a passive checkpoint every :data:`INTERVAL_S` seconds: it copies
what no reader still needs, never waits for a lock and never blocks a writer, and its work
overlaps the groups' rating and commits. Nothing about durability changes: a commit is on
disk once its WAL frames are synced, checkpointed or not.

References
----------
SQLite, "Write-Ahead Logging" (https://www.sqlite.org/wal.html), "Checkpointing" and
``PRAGMA wal_checkpoint`` (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint).
"""

from __future__ import annotations

import threading

from roamlike.state import Store, open_store

#: How often the checkpointer looks at the WAL [s].
INTERVAL_S = 0.1


#: WAL pages past which the writer's own commits still checkpoint (10 times SQLite's default):
#: a safety net should the checkpointer fall behind or stop.
WRITER_CHECKPOINT_PAGES = 10_000


def checkpoint_rarely_on_commit(store: Store) -> None:
    """The store's connection checkpoints after its commits only past
    :data:`WRITER_CHECKPOINT_PAGES` pages (SQLite; nothing else)."""
    if store.dialect == "sqlite":
        store.connection.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")


class Checkpointer:
    """A thread running passive checkpoints of one SQLite store file (module docstring).

    Parameters
    ----------
    target : str
        The store file.
    interval_s : float
        :data:`INTERVAL_S` [s].

    Attributes
    ----------
    checkpoints : int
        Passive checkpoints that copied pages.
    failures : int
        Checkpoints that failed (the next one tries again).
    """

    def __init__(self, target: str, interval_s: float = INTERVAL_S) -> None:
        self.target = target
        self.interval_s = interval_s
        self.checkpoints = 0
        self.failures = 0
        self._logged = self._copied = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="roamlike-checkpointer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (its last checkpoint finishes first)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        store: Store | None = None
        try:
            store = open_store(self.target, create=False)
            while not self._stop.wait(self.interval_s):
                self.checkpoint(store)
        except Exception:
            self.failures += 1  # no store to open: the writers' own checkpoints take over
        finally:
            if store is not None:
                store.close()

    def checkpoint(self, store: Store) -> bool:
        """One passive checkpoint; True when it copied pages into the store file."""
        try:
            # (1 if it could not finish, frames in the WAL, frames now in the store file)
            [(_, logged, copied)] = store.connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchall()
        except Exception:
            self.failures += 1
            return False
        done = int(copied) > self._copied or int(logged) < self._logged
        self._logged, self._copied = int(logged), int(copied)
        self.checkpoints += done
        return done
