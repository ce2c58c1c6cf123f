"""CPU seconds of each step of ``rate_usage`` on an in-memory frame, and of writing its outputs.

Usage::

    python benchmarks/profile_engine.py USAGE.parquet PLANS.yaml FX.csv [--rows N] [--repeat 2]

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
from pathlib import Path

# roamlike first: importing it sets Polars' allocator options (as the CLI runs), which only
# take effect if Polars is not loaded yet
import roamlike  # noqa: F401  # isort: skip
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("usage", type=Path)
    parser.add_argument("plans", type=Path)
    parser.add_argument("fx", type=Path)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    usage = pl.read_parquet(args.usage, n_rows=args.rows)
    loaded_plans, table = load_plans(args.plans), FxTable.from_csv(args.fx)
    rate_usage(usage.head(1000), loaded_plans, table)  # compile or load the Numba cache
    for run in range(args.repeat):
        steps = _profile(usage, args.plans, args.fx)
        print(f"run {run + 1}: {usage.height:,} records")
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
