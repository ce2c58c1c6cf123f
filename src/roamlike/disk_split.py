"""The on-disk split: a usage file larger than memory, cut into one file per batch.

``roamlike rate`` holds an input in memory when it fits the budget (``roamlike.splits``);
a larger one is split by subscriber (``roamlike.record_keys.subscriber_batch``) into batch
files in a temporary folder, which are then rated one batch at a time (docs/rating.md §7c).
:func:`split_on_disk` reads the input :data:`CHUNK_ROWS` rows at a time (Polars' streaming
engine, ``LazyFrame.collect_batches``, so the same reader, column mapping and types as any
other run), orders each chunk's rows by batch (a stable sort: read order within a batch) and
appends each batch's rows to that batch's file as one Arrow record batch. What it holds is
one chunk and its sorted copy (plus the reader's read-ahead), whatever the size of the input.

The same pass keeps an 8-byte hash of each normalised ``record_id``: the duplicates over the
whole file (``roamlike.duplicate_ids.repeated_rows``) then need only one more read, of the
record ids whose hash occurs more than once.

The batch files are Arrow IPC *streams*, uncompressed: the cheapest to write and to read back
(they are temporary), and, unlike the IPC file format, they keep any column type a Parquet input
may hold (a categorical column's dictionary differs from one chunk to the next). Until round
11 the split was Polars' partitioned sink (``sink_parquet(pl.PartitionBy(...))``), which held
about the whole file (docs/rating.md §7c, "Round 12").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from roamlike.columns import BATCH_ROW
from roamlike.duplicate_ids import hash_record_ids, repeated_rows
from roamlike.errors import OutputError, first_line
from roamlike.input_reader import collect_input, unreadable
from roamlike.record_keys import normalise_subscriber_id, subscriber_batch

#: Rows read and sorted at a time: memory holds a few times this many rows (the chunk, a copy
#: in one piece per column, its ordered copy, the reader's read-ahead), whatever the size of the
#: input (30 M records: peak 1.9 GB while splitting; 2.3 GB with chunks of 1,000,000).
CHUNK_ROWS: Final = 500_000
#: The batch of a row, and the hash of its normalised record id, while the input is split (in
#: the namespace no input column may use).
_BATCH: Final = "__roamlike_split_batch"
_ID_HASH: Final = "__roamlike_split_id_hash"


def _record_id_key() -> pl.Expr:
    """The normalised ``record_id``, in an expression the streaming engine streams."""
    return normalise_subscriber_id(pl.col("record_id"), streaming=True)


@dataclass(frozen=True)
class BatchFiles:
    """The batch files of a split: one Arrow IPC stream per batch that holds rows."""

    folder: Path
    #: The columns of every batch: the input's, then its row number ``BATCH_ROW``.
    schema: pl.Schema
    #: The batches that hold rows, ascending.
    keys: list[int]
    #: Row numbers (read order, ascending) whose normalised record id occurred on an earlier
    #: row of the whole input.
    duplicates: pl.Series

    def load(self, key: int) -> pl.DataFrame:
        """The rows of batch ``key``, in read order (an empty frame when it holds none)."""
        if key not in self.keys:
            return self.schema.to_frame()
        # through pyarrow: 3 M records in 6 batches, 0.35 CPU-s against 0.51 for
        # pl.read_ipc_stream, the same frames
        with ipc.open_stream(_batch_path(self.folder, key)) as stream:
            frame = pl.from_arrow(stream.read_all())
        assert isinstance(frame, pl.DataFrame)
        return frame


def _batch_path(folder: Path, key: int) -> Path:
    return folder / f"batch-{key:06d}.arrows"


def _chunks(query: pl.LazyFrame, chunk_rows: int, path: Path) -> Iterator[pl.DataFrame]:
    """The rows of ``query`` a chunk at a time; a read error becomes a UsageInputError."""
    try:
        yield from query.collect_batches(chunk_size=chunk_rows, engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise unreadable(path, exc) from exc


def _by_batch(chunk: pl.DataFrame, batches: int) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
    """The chunk's rows (without the split's columns) ordered by batch, read order within
    one, and where each batch's rows end in it."""
    keys = chunk.get_column(_BATCH).to_numpy()
    # a stable sort of small integers: NumPy's radix sort (16 bits and fewer)
    narrow = keys.astype(np.uint16 if batches <= 1 << 16 else np.uint32)
    order = np.argsort(narrow, kind="stable")
    ends = np.cumsum(np.bincount(narrow, minlength=batches))
    # one chunk per column first: a gather over a chunked column finds each row's chunk
    body = chunk.drop(_BATCH, _ID_HASH).rechunk()
    return body[order], ends


def split_on_disk(
    usage: pl.LazyFrame,
    batches: int,
    folder: Path,
    path: Path,
    *,
    chunk_rows: int | None = None,
    on_chunk: Callable[[pl.DataFrame], None] | None = None,
) -> BatchFiles:
    """Write the rows of ``usage``, numbered in read order, as one file per batch in ``folder``.

    Parameters
    ----------
    usage : polars.LazyFrame
        The input (``roamlike.io.read_usage``).
    batches : int
        Batches by subscriber (``roamlike.record_keys.subscriber_batch``).
    folder : Path
        An empty folder for the batch files (the caller removes it).
    path : Path
        The input file, named in errors.
    chunk_rows : int, optional
        Rows read and sorted at a time (default :data:`CHUNK_ROWS`).
    on_chunk : callable, optional
        Called with each chunk as read (tests check what the split holds).

    Returns
    -------
    BatchFiles
        The batch files, with the row numbers of the duplicate record ids.

    Raises
    ------
    UsageInputError
        The input cannot be read (e.g. a corrupt Parquet page, a CSV line that does not
        parse), wherever in the file.
    OutputError
        A batch file cannot be written (e.g. the disk is full).
    """
    query = usage.with_row_index(BATCH_ROW).with_columns(
        subscriber_batch(batches).alias(_BATCH),
        hash_record_ids(_record_id_key()).cast(pl.UInt64).alias(_ID_HASH),
    )
    schema = pl.Schema(
        (n, t) for n, t in query.collect_schema().items() if n not in (_BATCH, _ID_HASH)
    )
    writers: dict[int, ipc.RecordBatchStreamWriter] = {}
    hashes: list[npt.NDArray[np.uint64]] = []
    try:
        try:
            for chunk in _chunks(query, chunk_rows or CHUNK_ROWS, path):
                if on_chunk is not None:
                    on_chunk(chunk)
                hashes.append(chunk.get_column(_ID_HASH).drop_nulls().to_numpy())
                rows, ends = _by_batch(chunk, batches)
                del chunk
                start = 0
                for key in np.flatnonzero(np.diff(ends, prepend=0)):
                    end = int(ends[key])
                    table = rows.slice(start, end - start).to_arrow()
                    start = end
                    writer = writers.get(int(key))
                    if writer is None:
                        writer = writers[int(key)] = ipc.new_stream(
                            _batch_path(folder, int(key)), table.schema
                        )
                    writer.write_table(table)
                del rows
        finally:
            for writer in writers.values():
                writer.close()  # what it still buffers is written here
    except (OSError, pa.ArrowException) as exc:
        raise OutputError(f"{folder}: cannot write a batch file: {first_line(exc)}") from exc
    every_hash = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
    hashes.clear()  # 8 bytes per record held, not twice that
    duplicates = repeated_rows(
        usage.select(_record_id_key()),
        hashes=every_hash,
        read=lambda lf: collect_input(lf, path, engine="streaming"),
    )
    return BatchFiles(folder, schema, sorted(writers), duplicates)
