"""The WAL's checkpoints of a service process, off the commit path.

SQLite copies the WAL's pages back into the database file in a *checkpoint*. By default the
connection whose commit takes the WAL past 1,000 pages runs one inside that ``COMMIT``
(``wal_autocheckpoint``): the group that pays it waits for the copy and for the database
file's flush, and so does every writer of the store, since the writers' lock is held until
the ``COMMIT`` returned (round 8: ~200 pages copied and a flush that grows the file, a few to
tens of milliseconds, every ~40 groups). Here the service's committing connections run with
``wal_autocheckpoint`` off and tell the *checkpointer* of their commits; every
:data:`CHECKPOINT_COMMITS` commits its thread, on a connection of its own:

1. runs a ``PASSIVE`` checkpoint holding no lock of the service's: it copies what no reader
   still needs while the writers go on appending to the WAL;
2. when the WAL then holds at least :data:`RESTART_FRAMES` frames, runs a ``RESTART``
   checkpoint under the writers' lock (the frames committed since step 1, and the wait, at
   most :data:`RESTART_WAIT_MS`, for readers of older snapshots to finish), so that the next
   commit starts the WAL again from its beginning.

Why step 2: SQLite starts the WAL again only when a writer begins after a checkpoint copied
*every* frame; with the writers appending during step 1 that rarely happens, and the WAL then
grows without end (measured: 63 to 148 MB in 8 s of events). Each commit that appends past
the WAL file's end changes its size, and the flush of a file whose size changed waits for a
journal commit of the file system; a WAL started again is overwritten in place. Step 2 holds
the writers a few milliseconds once per :data:`RESTART_FRAMES` frames (~300 groups of events),
instead of every ~40 groups.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from roamlike.errors import StoreError
from roamlike.service import group_trace
from roamlike.service.writers_lock import open_writers_lock
from roamlike.sqlite_driver import sqlite3
from roamlike.state import Store, open_store

#: Commits of a process between two checkpoints of its checkpointer (a group of a dozen
#: events writes ~25-30 WAL frames).
CHECKPOINT_COMMITS = 40
#: WAL frames from which a checkpoint ends with a ``RESTART`` under the writers' lock.
RESTART_FRAMES = 8000
#: Longest wait of that ``RESTART`` for readers of older snapshots and SQLite's write lock [ms].
RESTART_WAIT_MS = 50


def without_autocheckpoint(store: Store) -> Store:
    """``store`` (a SQLite connection) with the automatic checkpoint of its commits off."""
    store.connection.execute("PRAGMA wal_autocheckpoint=0")
    return store


class Checkpointer:
    """Checkpoints the WAL of a SQLite file on a thread of its own (module docstring).

    Parameters
    ----------
    target : str
        The SQLite file.
    every : int
        Commits between two checkpoints.
    restart_frames : int
        WAL frames from which a checkpoint ends with a ``RESTART`` under the writers' lock.

    Attributes
    ----------
    checkpoints, restarts, failures : int
        Checkpoints run, those that ended with a ``RESTART``, and those that failed (a
        failure leaves the WAL as it was; the next one tries again; a store the thread
        cannot open ends it, counted once).
    ended : threading.Event
        Set once the thread ended.
    """

    def __init__(
        self, target: str, every: int = CHECKPOINT_COMMITS, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.target = target
        self.every = every
        self.restart_frames = restart_frames
        self.checkpoints = 0
        self.restarts = 0
        self.failures = 0
        self._commits = 0  # counted from the loop's and the writer's threads: an estimate
        self._wake = threading.Event()
        self.ended = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Count a commit; every :attr:`every` commits wake the checkpointer's thread."""
        self._commits += 1
        if self._commits < self.every:
            return
        self._commits = 0
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="roamlike-checkpoint", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        try:
            store = open_store(self.target, create=False)
        except StoreError:
            self.failures += 1  # no checkpoint of this process: SQLite's readers still work
            self.ended.set()
            return
        turns = open_writers_lock(self.target)
        try:
            store.connection.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    self.checkpoint(store.connection, turns)
                except sqlite3.Error:
                    self.failures += 1
        finally:
            os.close(turns)
            store.close()
            self.ended.set()

    def checkpoint(self, conn: sqlite3.Connection, turns: int) -> None:
        """Steps 1 and 2 of the module docstring on ``conn``; ``turns``: a descriptor of
        the writers' lock file.

        Raises
        ------
        sqlite3.Error
            A checkpoint failed.
        """
        trace = group_trace.TRACE
        started = 0.0 if trace is None else group_trace.now()
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        row = None
        if trace is not None:
            row = {"kind": "checkpoint", "t0": started, "t1": group_trace.now(),
                   "frames": frames, "copied": copied, "busy": busy}  # fmt: skip
            trace.add(row)
        if busy or int(frames) < self.restart_frames:
            return  # busy: another process's checkpointer is at work
        fcntl.flock(turns, fcntl.LOCK_EX)
        if row is not None:
            row["l"] = group_trace.now()
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            fcntl.flock(turns, fcntl.LOCK_UN)
            if row is not None:
                row["r"] = group_trace.now()
        if not busy:
            self.restarts += 1

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop = True
            self._wake.set()
            with contextlib.suppress(RuntimeError):
                thread.join()
