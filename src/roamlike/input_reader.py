"""How ``roamlike rate`` opens its input: count the records, plan the batches, read the rows.

:class:`InputReader` does it on a thread, so that Polars reads while Python does other work;
``roamlike rate`` starts one as soon as the process has loaded Polars (:func:`start_early`,
called by the command line before it builds and parses its commands), and the run takes it
(:func:`take_early`) if it reads what the run would read. This module imports only Polars and
``roamlike.io`` (not the engine), so that the read starts about half a second of imports
earlier (docs/rating.md §7c). ``roamlike.pipeline`` rates what it opened.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from roamlike.columns import BATCH_ROW
from roamlike.errors import UsageInputError, first_line
from roamlike.io.usage import USAGE_FORMATS, read_usage

if TYPE_CHECKING:  # the engine is imported only once the input is read
    from roamlike.splits import Split

#: Memory a run may take by default [bytes] (``roamlike rate --memory-gb``).
DEFAULT_MEMORY_BYTES = 3 * 10**9
#: Memory a batch takes per record it holds [bytes]: the peaks of the two engine calls that run
#: at once (:data:`RATING_THREADS`; about 320 bytes per record each in calls of 500,000,
#: ``benchmarks/bench_rating.py --profile --profile-records 500000``) plus the rated rows taken
#: or held by the writer meanwhile (up to three batches of about 210 bytes per record), with
#: room for the allocator's slack (docs/rating.md §7c).
ENGINE_BYTES_PER_RECORD = 1_400
#: Records per engine call by default: in the benchmark calls of this size took no more CPU
#: time than calls of 1 or 2 million records and less than one call of 4 million, and less
#: memory.
DEFAULT_BATCH_ROWS = 500_000
#: The smallest engine call worth holding the whole input in memory for [records].
MIN_CALL_ROWS = 200_000
#: Rows read to estimate the memory the input takes.
_SAMPLE_ROWS = 10_000
#: Usage files whose records are counted only by parsing them (CSV, JSON lines).
_TEXT_SUFFIXES = frozenset(s for s, fmt in USAGE_FORMATS.items() if fmt != "parquet")


def unreadable(path: Path, exc: BaseException) -> UsageInputError:
    """The error of a usage file ``path`` that cannot be read (exit 3, no traceback)."""
    return UsageInputError(f"{path}: cannot read usage records: {first_line(exc)}")


def collect_input(
    lf: pl.LazyFrame,
    path: Path,
    *,
    engine: Literal["auto", "in-memory", "streaming"] = "auto",
) -> pl.DataFrame:
    """Collect a query of the usage file ``path`` on Polars' ``engine``; a Polars or OS error
    becomes a :class:`~roamlike.errors.UsageInputError` naming the file (:func:`unreadable`)."""
    try:
        return lf.collect(engine=engine)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise unreadable(path, exc) from exc


@dataclass(frozen=True)
class BatchPlan:
    """How :func:`rate_file` splits a file: ``batches`` engine calls, in memory or on disk."""

    batches: int
    on_disk: bool
    #: Records per engine call aimed at (the split by subscriber makes batches of about this).
    rows_per_batch: int


def plan_batches(
    read: int, input_bytes: int, memory_bytes: int, batch_rows: int | None = None
) -> BatchPlan:
    """The batches of a run of ``read`` records taking ``input_bytes`` in memory.

    The input is held in memory when the budget leaves room beside it for engine calls of at
    least :data:`MIN_CALL_ROWS` records (:data:`ENGINE_BYTES_PER_RECORD` each); it is then split
    in memory into calls of ``batch_rows`` records, or fewer if the room is smaller, and nothing
    is written to disk (an input of at most ``batch_rows`` records is rated in one call). A
    larger input is split by subscriber into batch files on disk, rated one at a time (memory
    then holds one batch whatever the size of the file).

    Parameters
    ----------
    read : int
        Records in the input.
    input_bytes : int
        Memory the input takes once read [bytes] (an estimate).
    memory_bytes : int
        The budget [bytes].
    batch_rows : int, optional
        At most this many records per engine call (default :data:`DEFAULT_BATCH_ROWS`).
    """
    read = max(read, 1)
    cap = min(batch_rows or DEFAULT_BATCH_ROWS, read)
    room = max(memory_bytes - input_bytes, 0) // ENGINE_BYTES_PER_RECORD
    if room >= min(read, MIN_CALL_ROWS):
        rows = max(1, min(cap, room))
        return BatchPlan(math.ceil(read / rows), False, rows)
    rows = max(1, min(cap, memory_bytes // ENGINE_BYTES_PER_RECORD))
    batches = math.ceil(read / rows)
    return BatchPlan(batches, batches > 1, rows)


def _row_bytes(sample: pl.DataFrame) -> float:
    """Estimated memory of one input row once read [bytes], from the first rows."""
    if not sample.height:
        return 0.0
    # a text value takes a 16-byte view, which holds up to 12 bytes; longer ones are stored
    # beside it (Polars' own estimate counts the characters only)
    text = [n for n, dtype in sample.schema.items() if dtype == pl.String]
    long_text = (
        sample.select(
            pl.sum_horizontal(
                pl.col(n).str.len_bytes().filter(pl.col(n).str.len_bytes() > 12).sum() for n in text
            )
        ).item()
        if text
        else 0
    )
    other = sample.drop(text).estimated_size()
    return (16 * len(text) * sample.height + int(long_text or 0) + other) / sample.height


def _text_rows(sample: pl.DataFrame, path: Path) -> int:
    """Records in a text file, estimated from its size and its first rows.

    A row's text holds its values' bytes and at least one separator per value (JSON lines also
    the keys), so the estimate is rather too high than too low when the first rows are typical.
    """
    if not sample.height:
        return 0
    values = sample.select(
        pl.sum_horizontal(pl.col(n).str.len_bytes().fill_null(0).sum() for n in sample.columns)
    ).item()
    per_row = (int(values or 0) + sample.height * sample.width) / sample.height
    return math.ceil(path.stat().st_size / max(per_row, 1.0))


def _read_whole(usage: pl.LazyFrame, path: Path) -> pl.DataFrame:
    """The whole input in memory, with row numbers."""
    # the in-memory engine reads a Parquet file in one chunk per row group, the streaming engine
    # in ten times as many: taking each batch out of the latter costs more CPU (rechunking
    # instead costs as much again and a second copy of the input; roamlike.splits._Gather)
    return collect_input(usage.with_row_index(BATCH_ROW), path, engine="in-memory")


@dataclass(frozen=True)
class OpenedInput:
    """A usage file opened for a run: its records, batches and (in memory) its rows."""

    usage: pl.LazyFrame
    read: int
    plan: BatchPlan
    whole: pl.DataFrame | None  # the rows with their row numbers; None when split on disk
    #: The rows split into engine calls already (by :class:`InputReader`), or None.
    split: Split | None = None


def open_input(
    usage_path: Path, mapping: Path | None, memory_bytes: int, batch_rows: int | None
) -> OpenedInput:
    """Count the records, plan the batches and read the input when it is held in memory."""
    usage = read_usage(usage_path, mapping)
    sample = collect_input(usage.head(_SAMPLE_ROWS), usage_path)
    whole: pl.DataFrame | None = None
    if usage_path.suffix.lower() in _TEXT_SUFFIXES:
        # counting the records of a text file parses it as fully as reading it: a file that
        # seems to fit the budget is read once, and its records counted in memory
        guess = _text_rows(sample, usage_path)
        if not plan_batches(guess, math.ceil(guess * _row_bytes(sample)), memory_bytes).on_disk:
            whole = _read_whole(usage, usage_path)
    read = (
        whole.height
        if whole is not None
        else int(collect_input(usage.select(pl.len()), usage_path).item())
    )
    plan = plan_batches(read, math.ceil(read * _row_bytes(sample)), memory_bytes, batch_rows)
    if plan.on_disk:
        whole = None
    elif whole is None:
        whole = _read_whole(usage, usage_path)
    return OpenedInput(usage, read, plan, whole)


class InputReader:
    """Open a usage file for :func:`rate_file` on a thread, starting at once.

    ``roamlike rate`` starts one before it parses the plans and FX: Polars reads the file
    while Python parses them (and while Numba loads, ``roamlike.rating.compiled``), instead
    of after. An input held in memory in several batches is also split there
    (``roamlike.splits.split_in_memory``). An error (the file cannot be read) is raised by
    :meth:`result`.
    """

    def __init__(
        self,
        usage_path: Path,
        mapping: Path | None = None,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        batch_rows: int | None = None,
    ) -> None:
        self.key = (usage_path, mapping, memory_bytes, batch_rows)
        self._opened: OpenedInput | None = None
        self._error: BaseException | None = None
        # a daemon: a run that fails before it takes the input does not wait for the read
        self._thread = threading.Thread(target=self._run, name="roamlike-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            opened = open_input(*self.key)
            if opened.whole is not None and opened.plan.batches > 1:
                # the split as well, while the caller still imports and parses plans (imported
                # here, after the read: by then the caller has usually loaded the engine)
                from roamlike.splits import split_in_memory

                split = split_in_memory(opened.whole, opened.plan.batches)
                opened = dataclasses.replace(opened, split=split)
            self._opened = opened
        except BaseException as exc:  # raised in the caller by result()
            self._error = exc

    def peek(self) -> OpenedInput | None:
        """The opened input, left for :meth:`result` (waits for the read); None if the read
        failed (:meth:`result` raises why) or the input was taken already. For a helper
        that works on the rows beside the run (``rate --state`` derives the keys of its
        counters' preload from them, ``roamlike.state.preload``) and holds them no longer
        than the run does."""
        self._thread.join()
        return self._opened

    def result(self) -> OpenedInput:
        """The opened input (waits for the read).

        Raises
        ------
        UsageInputError
            The usage file cannot be read (as :func:`rate_file` raises it).
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        opened, self._opened = self._opened, None  # the caller holds the rows from now on
        return opened


#: Options of ``roamlike rate`` that take a value (all others are flags).
_VALUED = frozenset(
    (
        "--plans", "--out", "--rejects", "--notifications", "--fx", "--mapping", "--batch-rows",
        "--memory-gb", "--state", "--engine", "--spark-master", "--partitions", "--spark-conf",
    )
)  # fmt: skip
_early: InputReader | None = None


def rate_options(args: Sequence[str]) -> dict[str, str] | None:
    """The options of ``roamlike rate ARGS`` (a flag's value is ``""``) and its input, under
    the name ``""``; None if not plain to see (a short option, ``--help``, not one input)."""
    options: dict[str, str] = {}
    positional: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            positional.extend(items)
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in _VALUED:
                if not eq:
                    value = next(items, "")
                options[name] = value
            elif name in ("--help",):
                return None
            else:
                options[name] = ""
        elif arg.startswith("-") and arg != "-":
            return None  # a short option (-h): leave it to the command line
        else:
            positional.append(arg)
    if len(positional) != 1:
        return None
    return {"": positional[0], **options}


def _early_key(args: Sequence[str]) -> tuple[Path, Path | None, int, int] | None:
    """What ``roamlike rate ARGS`` will read (its reader's key), or None if not plain to see.

    None for anything but a native run whose arguments parse (the run then reads as before);
    a run with a store (``--state``) reads as one without. A key that differs from the run's is
    not used by it (:func:`take_early`).
    """
    options = rate_options(args)
    if options is None:
        return None
    if options.get("--engine", "native") != "native":
        return None
    try:
        memory_gb = float(options.get("--memory-gb", str(DEFAULT_MEMORY_BYTES / 10**9)))
        batch_rows = int(options.get("--batch-rows", str(DEFAULT_BATCH_ROWS)))
    except ValueError:
        return None
    if not (memory_gb > 0 and math.isfinite(memory_gb)) or batch_rows < 1:
        return None
    mapping = options.get("--mapping")
    return (
        Path(options[""]),
        None if mapping is None else Path(mapping),
        round(memory_gb * 10**9),
        batch_rows,
    )


def start_early(args: Sequence[str]) -> None:
    """Start reading the input of ``roamlike rate ARGS`` (the words after ``rate``) on a thread.

    Does nothing if the arguments do not plainly name a native run, or if the
    file does not exist (the command reports it). The read is a guess: :func:`take_early` gives
    it to the run only if the run reads the same file with the same mapping, budget and batch
    size, and an unused read only costs its time.
    """
    global _early
    key = _early_key(args)
    if key is None or not key[0].is_file() or _early is not None:
        return
    _early = InputReader(*key)


def early_reader() -> InputReader | None:
    """The reader :func:`start_early` started, left for :func:`take_early`."""
    return _early


def take_early(
    usage_path: Path, mapping: Path | None, memory_bytes: int, batch_rows: int
) -> InputReader | None:
    """The reader :func:`start_early` started, if it reads this (else None; once only)."""
    global _early
    reader, _early = _early, None
    if reader is not None and reader.key == (usage_path, mapping, memory_bytes, batch_rows):
        return reader
    return None
