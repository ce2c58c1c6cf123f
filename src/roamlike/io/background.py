"""Write a stream of frames to one table on a worker thread, while the caller makes the next.

``roamlike rate`` rates a file batch by batch; encoding a rated batch as Parquet costs about as
much as a third of rating it. :class:`BackgroundTableWriter` hands each batch to a worker
thread that streams it into :func:`roamlike.io.write_table` (the same writer, so the same bytes
as writing the batches in one go), so the next batch is rated while the previous one is
encoded: Polars and Numba release the GIL while they work, and the two overlap on two cores.

At most ``depth`` batches wait for the worker (memory holds them, the one being encoded and the
one being made). Errors: the worker's error (an :class:`~roamlike.errors.OutputError`) is raised
in the caller by the next :meth:`~BackgroundTableWriter.write` or by
:meth:`~BackgroundTableWriter.commit`; :meth:`~BackgroundTableWriter.abort` stops the worker
and waits until its temporary file is gone, so a failed run leaves no partial output.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import polars as pl
from polars.io.plugins import register_io_source

from roamlike.errors import OutputError
from roamlike.io.outputs import PARQUET_ROW_GROUP_SIZE, write_table

#: How long a blocked hand-over waits before it checks that the worker still runs [s].
_POLL_S: Final = 0.1


class _AbortedError(Exception):
    """Raised inside the worker's frame source to make the writer give up."""


_END: Final = object()
_ABORT: Final = object()


class BackgroundTableWriter:
    """Write frames of one schema to ``path`` on a worker thread, atomically.

    Parameters
    ----------
    path : Path
        Destination table (``.parquet``, ``.csv``, ``.jsonl``, ``.ndjson``), written by
        :func:`roamlike.io.write_table`: nothing appears at ``path`` before :meth:`commit`.
    schema : polars.Schema
        The columns of every frame written.
    depth : int
        Frames that may wait for the worker.
    row_group_size : int
        Rows per Parquet row group (:func:`roamlike.io.write_table`).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "t.csv"
    >>> writer = BackgroundTableWriter(target, pl.Schema({"a": pl.Int64}))
    >>> writer.write(pl.DataFrame({"a": [1]}))
    >>> writer.write(pl.DataFrame({"a": [2]}))
    >>> writer.commit()
    >>> target.read_text()
    'a\\n1\\n2\\n'
    """

    def __init__(
        self,
        path: Path,
        schema: pl.Schema,
        *,
        depth: int = 1,
        row_group_size: int = PARQUET_ROW_GROUP_SIZE,
    ) -> None:
        self.path = path
        self._row_group_size = row_group_size
        self._schema = schema
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
        self._aborted = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"roamlike-writer-{path.name}", daemon=True
        )
        self._thread.start()

    @property
    def schema(self) -> pl.Schema:
        """The columns of every frame written."""
        return self._schema

    def _frames(
        self, with_columns: list[str] | None, predicate: object, n_rows: int | None, size: object
    ) -> Iterator[pl.DataFrame]:
        while True:
            # polled: an abort is seen even if the queue's wake-up was lost (an exception
            # raised in the caller's thread inside the queue, as Ctrl-C's can be)
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                item = None
            if item is _ABORT or self._aborted.is_set():
                raise _AbortedError("the run failed before its output was complete")
            if item is _END:
                return
            if item is None:
                continue
            assert isinstance(item, pl.DataFrame)
            yield item

    def _run(self) -> None:
        try:
            write_table(
                register_io_source(self._frames, schema=self._schema),
                self.path,
                row_group_size=self._row_group_size,
            )
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def _hand_over(self, item: object) -> None:
        while True:
            if not self._thread.is_alive():
                self._raise_error()
                raise OutputError(f"{self.path}: the writer stopped before the output was complete")
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _raise_error(self) -> None:
        if self._error is not None:
            if isinstance(self._error, OutputError):
                raise self._error
            raise OutputError(f"{self.path}: cannot write output: {self._error}") from self._error

    def write(self, frame: pl.DataFrame) -> None:
        """Queue a frame for writing (waits while ``depth`` frames wait already).

        Raises
        ------
        OutputError
            The worker failed (on this frame or an earlier one); call :meth:`abort`.
        """
        self._raise_error()
        self._hand_over(frame)

    def commit(self) -> None:
        """Finish the file and move it into place (waits for the worker).

        Raises
        ------
        OutputError
            Writing failed; nothing is left at ``path`` or beside it.
        """
        self._hand_over(_END)
        self._thread.join()
        self._raise_error()

    def abort(self) -> None:
        """Stop the worker and wait until its temporary file is removed."""
        self._aborted.set()
        while True:  # the caller is the only producer: once emptied, the queue has room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):  # the flag is enough: it is polled
                self._queue.put_nowait(_ABORT)
            self._thread.join()
