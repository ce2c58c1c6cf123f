"""CPU seconds of each step of ``rate_usage`` on an in-memory frame, and of writing its outputs.

Usage::

    python benchmarks/profile_engine.py USAGE.parquet PLANS.yaml FX.csv [--rows N] [--repeat 2]
    python benchmarks/profile_engine.py USAGE.parquet PLANS.yaml FX.csv --pipeline

``--pipeline`` profiles a whole run of ``roamlike.pipeline.rate_file`` instead (as ``roamlike
rate`` runs it, with its default batches): each step's CPU and wall seconds summed over the
batches, the split and the writing included. So that every second is charged to one step, the
batches are rated one at a time on this thread (``RATING_THREADS = 1``) and every output is
written on this thread when the run commits (one table per output): the sum is the CPU time of
the work, not the wall time of a run, whose writing overlaps the rating.

The usage file is read into memory first (not timed); the engine then rates it in one call
(``roamlike.rating.rate_usage``), and each step's CPU seconds (``time.process_time``: every
thread of this process) and wall seconds are printed, then those of writing the rated rows to
Parquet with ``roamlike.io.write_table``. A first call on a few rows compiles (or loads) the
Numba code so it is not timed. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# roamlike first: importing it sets Polars' allocator options (as the CLI runs), which only
# take effect if Polars is not loaded yet
import roamlike  # noqa: F401  # isort: skip
import numpy as np  # isort: skip
import polars as pl  # isort: skip

from roamlike.io import write_table
from roamlike.rating import engine, rate_usage
from roamlike.tariffs import FxTable, load_plans


def _profile(usage: pl.DataFrame, plans: Path, fx: Path) -> list[tuple[str, float, float]]:
    loaded_plans, table = load_plans(plans), FxTable.from_csv(fx)
    steps: list[tuple[str, float, float]] = []
    last = [time.process_time(), time.perf_counter()]

    def mark(name: str) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        steps.append((name, cpu - last[0], wall - last[1]))
        last[:] = [cpu, wall]

    engine.STEP_HOOK = mark
    try:
        last[:] = [time.process_time(), time.perf_counter()]
        result = rate_usage(usage, loaded_plans, table)
        mark("(return)")
    finally:
        engine.STEP_HOOK = None
    with tempfile.TemporaryDirectory() as tmp:
        last[:] = [time.process_time(), time.perf_counter()]
        write_table(result.rated, Path(tmp) / "rated.parquet")
        mark("write rated (Parquet)")
        size = (Path(tmp) / "rated.parquet").stat().st_size
    steps.append((f"  rated: {result.rated.height:,} rows, {size / 1e6:.0f} MB", 0.0, 0.0))
    return steps


class _InlineWriter:
    """Stands in for ``BackgroundTableWriter`` in ``--pipeline``: keeps the frames, writes them
    on the caller's thread at commit."""

    def __init__(self, path: Path, schema: pl.Schema, *, row_group_size: int = 1) -> None:
        self.path, self.schema, self.frames = path, schema, list[pl.DataFrame]()
        self.row_group_size = row_group_size

    def write(self, frame: pl.DataFrame) -> None:
        self.frames.append(frame)

    def commit(self) -> None:
        _MARK[0]("(rating done)")
        write_table(pl.concat(self.frames), self.path, row_group_size=self.row_group_size)
        _MARK[0](f"write {self.path.stem}")

    def abort(self) -> None:
        self.frames.clear()


_MARK: list[Callable[[str], None]] = []


def _profile_pipeline(usage: Path, plans: Path, fx: Path) -> list[tuple[str, float, float]]:
    from roamlike import input_reader, pipeline, splits

    loaded_plans, table = load_plans(plans), FxTable.from_csv(fx)
    totals: dict[str, list[float]] = {}
    last = [time.process_time(), time.perf_counter()]
    # the run loads the compiled pass on a thread; loaded here first, so that its CPU time is
    # its own line and not charged to the step it overlaps
    from roamlike.rating import passes

    passes.ascending(np.zeros(2, dtype=np.int64))
    cpu, wall = time.process_time() - last[0], time.perf_counter() - last[1]
    loaded = "ahead of time" if passes.uses_aot() else "Numba"
    totals[f"load the compiled pass ({loaded})"] = [cpu, wall]
    last[:] = [time.process_time(), time.perf_counter()]

    def mark(name: str) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        step = totals.setdefault(name, [0.0, 0.0])
        step[0] += cpu - last[0]
        step[1] += wall - last[1]
        last[:] = [cpu, wall]

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            mark("(between steps)")
            result = fn(*args, **kwargs)
            mark(name)
            return result

        return run

    _MARK[:] = [mark]
    reading = input_reader._read_whole
    input_reader._read_whole = timed("read the input", reading)  # type: ignore[assignment]
    labels = {
        "split_in_memory": "split: ranges or keys, duplicates",
        "_totals": "summary totals",
        "_reasons": "summary reasons",
    }
    replaced: dict[str, Any] = {
        **{name: timed(label, getattr(pipeline, name)) for name, label in labels.items()},
        "BackgroundTableWriter": _InlineWriter,
        "RATING_THREADS": 1,
    }
    saved = {name: getattr(pipeline, name) for name in replaced}
    rows_of = splits._Gather.rows_of  # a batch by subscriber gathered (time ranges are slices)
    engine.STEP_HOOK = mark
    try:
        splits._Gather.rows_of = timed("split: gather a batch", rows_of)  # type: ignore[method-assign]
        for name, value in replaced.items():
            setattr(pipeline, name, value)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            last[:] = [time.process_time(), time.perf_counter()]
            summary = pipeline.rate_file(
                usage, loaded_plans, table, out / "rated.parquet", out / "rejects.parquet"
            )
            mark("(end)")
    finally:
        for name, value in saved.items():
            setattr(pipeline, name, value)
        splits._Gather.rows_of = rows_of  # type: ignore[method-assign]
        input_reader._read_whole = reading  # type: ignore[assignment]
        engine.STEP_HOOK = None
    steps = [(name, cpu, wall) for name, (cpu, wall) in totals.items()]
    steps.append((f"  {summary.read:,} records in {summary.batches} batches", 0.0, 0.0))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("usage", type=Path)
    parser.add_argument("plans", type=Path)
    parser.add_argument("fx", type=Path)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--pipeline", action="store_true", help="profile a whole rate_file run")
    args = parser.parse_args()
    if args.pipeline:
        steps = _profile_pipeline(args.usage, args.plans, args.fx)
        _print("rate_file (steps summed over the batches)", steps)
        return
    usage = pl.read_parquet(args.usage, n_rows=args.rows)
    loaded_plans, table = load_plans(args.plans), FxTable.from_csv(args.fx)
    rate_usage(usage.head(1000), loaded_plans, table)  # compile or load the Numba cache
    for run in range(args.repeat):
        _print(f"run {run + 1}: {usage.height:,} records", _profile(usage, args.plans, args.fx))


def _print(title: str, steps: list[tuple[str, float, float]]) -> None:
    print(title)
    print(f"  {'step':<26} {'CPU-s':>7} {'wall-s':>7}")
    total_cpu = total_wall = 0.0
    for name, cpu, wall in steps:
        if name.startswith("  "):
            print(name)
            continue
        total_cpu += cpu
        total_wall += wall
        print(f"  {name:<26} {cpu:7.2f} {wall:7.2f}")
    print(f"  {'total':<26} {total_cpu:7.2f} {total_wall:7.2f}")


if __name__ == "__main__":
    main()
