"""What stored counters cost the engine itself: ``rate_usage`` on a day's batch with the counters
a store holds for its subscribers, against the same call without counters.

``rate --state`` hands the engine the counters its preload read (``roamlike.state.preload``);
the engine then joins them to the batch (``roamlike.rating.carry``: the subscribers' stored
rows, the late flags, the pass's state from the stored periods). That work runs on the main
thread, between the engine's steps, whatever the store did before. This script loads the
counters of the day's subscribers once (``load_counters``, the periods since the day's first
local day less 31, as a run asks for them), then calls the engine alternately without and with
them, in one process, and prints each call's wall and CPU time, the time between the engine's
steps and the time of each ``carry`` function::

    python benchmarks/bench_engine_counters.py benchmarks/out/state --calls 6

(the folder ``bench_state.py`` leaves: ``day.parquet``, ``plans.yaml``, ``fx.csv``,
``template.db``). The first two calls of each kind are not printed (caches, compilation).
Run it under ``chrt -f 50`` on a quiet machine. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import functools
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

import roamlike.rating.carry as carry
import roamlike.rating.engine as engine
from roamlike.counters import Counters
from roamlike.rating import normalise_subscriber_id, rate_usage
from roamlike.state.counters import load_counters, local_dates, periods_since
from roamlike.state.store import open_store
from roamlike.tariffs.fx import FxTable
from roamlike.tariffs.schema import load_plans

#: The ``carry`` functions timed, as the engine calls them.
CARRY = ("stored_subscribers", "late_flags", "initial_state", "counters_after")


def _timed(spent: dict[str, list[float]], name: str, real: Callable[..., Any]) -> Any:
    @functools.wraps(real)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[name].append((time.perf_counter() - start) * 1000)

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the files bench_state.py leaves")
    parser.add_argument("--calls", type=int, default=6, help="calls of each kind (printed)")
    args = parser.parse_args()
    folder: Path = args.folder
    plans = load_plans(folder / "plans.yaml")
    fx = FxTable.from_csv(folder / "fx.csv")
    day = pl.read_parquet(folder / "day.parquet")
    subscribers = (
        day.select(normalise_subscriber_id(pl.col("subscriber_id"))).to_series().unique().sort()
    )
    since = periods_since(day.select(local_dates(day)).to_series())
    with open_store(str(folder / "template.db"), create=False) as store, store.snapshot() as tx:
        stored = load_counters(tx, subscribers, "", since=since)
    print(
        f"{day.height:,} records, {subscribers.len():,} subscribers; stored: "
        f"{stored.periods.height:,} periods since {since}, {stored.subscribers.height:,} rows"
    )
    steps: list[tuple[str, float]] = []
    engine.STEP_HOOK = lambda step: steps.append((step, time.perf_counter()))
    spent: dict[str, list[float]] = defaultdict(list)
    for name in CARRY:
        setattr(carry, name, _timed(spent, name, getattr(carry, name)))

    def call(counters: Counters | None) -> str:
        steps.clear()
        spent.clear()
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        rate_usage(day, plans, fx, counters=counters, coded_text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        marks = [start, *(t for _, t in steps)]
        gaps = " ".join(f"{step} {1000 * (t - marks[i]):.1f}" for i, (step, t) in enumerate(steps))
        parts = " ".join(f"{n} {sum(spent[n]):.1f}" for n in CARRY)
        return f"wall {wall:.3f} s, CPU {cpu:.3f} s | steps [ms]: {gaps} | carry [ms]: {parts}"

    for i in range(args.calls + 2):
        for label, counters in (("without", None), ("stored", stored)):
            line = call(counters)
            if i >= 2:
                print(f"{label:8s} {line}")


if __name__ == "__main__":
    main()
