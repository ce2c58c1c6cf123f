"""Write tables (rated records, rejects, synthetic usage) atomically and deterministically.

Atomic: the table is written to a temporary file in the destination directory, then moved over
the destination with :func:`os.replace`; a crash leaves either the old file or the new one, never
a partial file. Deterministic: the same frame gives the same bytes.

Formats by extension: ``.parquet`` (zstd level 1, no statistics, fixed row-group size), ``.csv``
and ``.jsonl`` (``.ndjson``). In text formats time-zone-aware datetimes are written in ISO 8601
UTC with a ``Z`` suffix (``2026-03-01T10:00:00.000000Z``), the form
:func:`roamlike.io.read_usage` and the engine accept.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any, Final

import polars as pl

from roamlike.errors import OutputError, first_line

#: File extensions accepted by :func:`write_table` and the format each selects.
OUTPUT_FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
#: Rows per Parquet row group: fixed so that the file layout never depends on chunking.
PARQUET_ROW_GROUP_SIZE = 1_000_000
#: Rows per Parquet row group of the outputs ``roamlike rate`` writes while it rates
#: (``roamlike.pipeline``): a batch's rows (about 500,000) are encoded as soon as they are
#: handed over, where row groups of 1,000,000 held them until a second batch filled the group;
#: measured on 4 M records (docs/rating.md §7c): less CPU time and about 100 MB less memory.
PARQUET_BATCH_ROW_GROUP_SIZE = 500_000
#: Parquet compression, chosen by measurement (docs/rating.md §8): zstd at level 1 writes a
#: rated file with about 12 % less CPU than zstd's default level 3, for a file about 4 % larger
#: (lz4 and snappy cost as much CPU as zstd-1 for files two-thirds larger).
PARQUET_COMPRESSION: Final = "zstd"
PARQUET_COMPRESSION_LEVEL = 1
#: No min/max statistics: rows are in read order, so every row group spans nearly the whole
#: range of every column and the statistics would let a reader skip nothing; they cost about a
#: sixth of the write.
PARQUET_STATISTICS = False
_UTC_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def _text_ready(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Format time-zone-aware datetimes as ISO 8601 UTC strings ending in ``Z``."""
    schema = lf.collect_schema()
    exprs = [
        pl.col(name).dt.convert_time_zone("UTC").dt.strftime(_UTC_TEXT_FORMAT)
        for name, dtype in schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return lf.with_columns(exprs) if exprs else lf


def _remove_temporary(tmp: Path, grace_s: float = 1.0) -> None:
    """Remove a failed write's temporary file, also if the writer creates it after failing.

    A failing Polars sink can raise before its I/O task has opened the file, which then appears
    a moment later; the file is therefore watched for ``grace_s`` seconds and removed again.
    """
    deadline = time.monotonic() + grace_s
    while True:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _write(lf: pl.LazyFrame, fmt: str, target: Path, row_group_size: int) -> None:
    if fmt == "parquet":
        lf.sink_parquet(
            target,
            compression=PARQUET_COMPRESSION,
            compression_level=PARQUET_COMPRESSION_LEVEL,
            statistics=PARQUET_STATISTICS,
            row_group_size=row_group_size,
            maintain_order=True,
        )
    elif fmt == "csv":
        _text_ready(lf).sink_csv(target, maintain_order=True)
    else:
        _text_ready(lf).sink_ndjson(target, maintain_order=True)


def write_table(
    df: pl.DataFrame | pl.LazyFrame,
    path: Path | str,
    *,
    row_group_size: int = PARQUET_ROW_GROUP_SIZE,
) -> None:
    """Write a table atomically, in the format given by the file extension.

    Parameters
    ----------
    df : polars.DataFrame or polars.LazyFrame
        The table. A lazy frame is streamed (``sink_*``) without being collected first.
    path : Path or str
        Destination ``.parquet``, ``.csv``, ``.jsonl`` or ``.ndjson`` file. Its directory must
        exist; an existing file is replaced.
    row_group_size : int, optional
        Rows per Parquet row group (default :data:`PARQUET_ROW_GROUP_SIZE`; ignored for text).

    Raises
    ------
    OutputError
        Unknown extension, missing directory, or any failure while writing (the destination is
        then left untouched and no temporary file remains).

    Notes
    -----
    The same frame always gives the same bytes: row order is kept, the Parquet row-group size is
    fixed and no timestamp is written into the file.
    """
    path = Path(path)
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"{path}: unknown output format {path.suffix or '(no extension)'!r}; expected one of "
            f"{', '.join(OUTPUT_FORMATS)}"
        )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: output directory {directory} does not exist")
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    tmp_name: str | None = None
    try:
        # a fresh name (not mkstemp) so the file gets the usual permissions, not 0600
        tmp_name = str(directory / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        _write(lf, fmt, Path(tmp_name), row_group_size)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write {fmt} output: {exc}") from exc
    except (pl.exceptions.PolarsError, ValueError, RuntimeError, TypeError) as exc:
        message = first_line(exc)
        raise OutputError(f"{path}: cannot write {fmt} output: {message}") from exc
    finally:
        if tmp_name is not None:
            _remove_temporary(Path(tmp_name))


class TableWriter:
    """Write a table in batches to one file, atomically (for outputs larger than memory).

    Batches are appended to a temporary file in the destination directory; :meth:`commit` moves
    it over the destination, :meth:`abort` (or leaving the ``with`` block on an exception)
    removes it. Every batch must have the columns of the first (types are unified to it).
    The same batches always give the same bytes.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with TableWriter(Path(d) / "t.csv") as w:
    ...     w.write(pl.DataFrame({"a": [1]}))
    ...     w.write(pl.DataFrame({"a": [2]}))
    >>> (Path(d) / "t.csv").read_text()
    'a\\n1\\n2\\n'
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        fmt = OUTPUT_FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise OutputError(
                f"{self.path}: unknown output format {self.path.suffix or '(no extension)'!r}; "
                f"expected one of {', '.join(OUTPUT_FORMATS)}"
            )
        self.format = fmt
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise OutputError(f"{self.path}: output directory {directory} does not exist")
        self._tmp = directory / f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        self._schema: pl.Schema | None = None
        self._parquet: Any = None  # pyarrow.parquet.ParquetWriter (untyped library)
        self._handle: IO[bytes] | None = None
        self.rows = 0

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def write(self, batch: pl.DataFrame) -> None:
        """Append a batch (an empty batch fixes the schema if it is the first)."""
        import pyarrow.parquet as pq

        try:
            if self._schema is None:
                self._schema = batch.schema
            else:
                batch = batch.select([pl.col(n).cast(t) for n, t in self._schema.items()])
            self.rows += batch.height
            if self.format == "parquet":
                table = batch.to_arrow()
                if self._parquet is None:
                    self._parquet = pq.ParquetWriter(
                        str(self._tmp),
                        table.schema,
                        compression=PARQUET_COMPRESSION,
                        compression_level=PARQUET_COMPRESSION_LEVEL,
                        write_statistics=PARQUET_STATISTICS,
                    )
                self._parquet.write_table(table, row_group_size=PARQUET_ROW_GROUP_SIZE)
                return
            text = _text_ready(batch.lazy()).collect()
            if self._handle is None:
                self._handle = self._tmp.open("wb")
                if self.format == "csv":
                    text.write_csv(self._handle)
                else:
                    text.write_ndjson(self._handle)
                return
            if self.format == "csv":
                text.write_csv(self._handle, include_header=False)
            else:
                text.write_ndjson(self._handle)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write {self.format} output: {exc}") from exc
        except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write {self.format} output: {exc}") from exc

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def commit(self) -> None:
        """Finish the file and move it into place."""
        try:
            self._close()
            if not self._tmp.exists():
                # nothing written at all: an empty table (with the first batch's columns)
                write_table(pl.DataFrame(schema=self._schema or {}), self.path)
                return
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot write {self.format} output: {exc}") from exc

    def abort(self) -> None:
        """Drop the temporary file; the destination is left untouched."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()
