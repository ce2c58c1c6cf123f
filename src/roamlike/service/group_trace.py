"""A timeline of the events writer's commit groups, for measurements only (off by default).

With ``ROAMLIKE_GROUP_TRACE=DIR`` in the server's environment, each worker process writes one
JSON object per line to ``DIR/trace-<pid>.jsonl``: every commit group with its steps' times
(the requests' arrival in the queue, the group taken, worked out, the writers' lock taken,
its statements run, ``COMMIT`` returned, the flush started on its thread and returned, the
requests answered), every request of a hot route (arrival in the RSGI layer, its answer
handed to granian), every WAL checkpoint (the ``PASSIVE`` copy, the wait for the writers'
lock and the ``RESTART``) and every store call under the writers' lock on the writer's thread
(compaction slices: the wait for the lock, the hold). Times are ``time.perf_counter()``
seconds (``CLOCK_MONOTONIC`` on Linux: comparable across the worker processes).
``benchmarks/group_trace.py`` reads the files and tells what the slowest requests waited on.

Off, :data:`TRACE` is None and every call site costs one module attribute read and a test.
Rows are kept in memory and appended to the file every :data:`WRITE_EVERY` rows and when the
process closes its store; the write is a few milliseconds per thousand rows, on the thread
that records the row that fills the batch (measurements that trace pay it; nothing else does).
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

#: Environment variable naming the folder of the trace files (unset: no trace).
TRACE_ENV = "ROAMLIKE_GROUP_TRACE"
#: Rows kept in memory before they are appended to the file.
WRITE_EVERY = 2000

#: The row of the group whose commit the current task runs (set by the writer's commit task,
#: read by the loop's committer), while tracing.
GROUP_ROW: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "roamlike_group_row", default=None
)

now = time.perf_counter


class GroupTrace:
    """The rows of one process's trace (module docstring).

    Parameters
    ----------
    folder : Path
        Where ``trace-<pid>.jsonl`` is appended to (created if missing).
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # rows come from the loop and the store's threads

    def add(self, row: dict[str, Any]) -> None:
        """Keep ``row`` (a ``kind`` and its times); write the batch once it is full."""
        with self._lock:
            self._rows.append(row)
            if len(self._rows) < WRITE_EVERY:
                return
            rows, self._rows = self._rows, []
        self._write(rows)

    def flush(self) -> None:
        """Append the rows kept so far to the file."""
        with self._lock:
            rows, self._rows = self._rows, []
        self._write(rows)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pid = os.getpid()
        text = "".join(json.dumps({"pid": pid, **row}) + "\n" for row in rows)
        with (self.folder / f"trace-{pid}.jsonl").open("a", encoding="utf-8") as out:
            out.write(text)


def from_env() -> GroupTrace | None:
    """The trace :data:`TRACE_ENV` asks for, or None."""
    folder = os.environ.get(TRACE_ENV)
    return GroupTrace(Path(folder)) if folder else None


#: This process's trace, or None (the default: nothing recorded).
TRACE: GroupTrace | None = from_env()
