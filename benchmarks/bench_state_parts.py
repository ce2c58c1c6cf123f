"""The parts of ``rate --state``'s store work, each timed in one process (thread CPU and wall).

On the files of ``bench_state.py`` (a day's file of 150,000 records, a SQLite store of 1 M
subscribers), after one rating of the day to obtain what a run writes, the parts run in
interleaved rounds, every write in a transaction rolled back afterwards:

* ``write``: the three log appends of a run (``state_periods``, ``state_subscribers``,
  ``state_days``: ``roamlike.state.log.append``), and with ``--compare-src`` the same with that
  tree's ``append`` (``write-compare``), for before/after in one process;
* ``load-1`` and ``load-N``: the batch's counters loaded by one read-only connection, and by the
  preload's :data:`~roamlike.state.preload.PRELOAD_READERS` connections side by side
  (``roamlike.state.preload``): the wall time is what the run waits for; the CPU time is that of
  the whole process (every thread);
* ``claim``: the 150,000 record ids inserted into ``state_records``;
* ``days``: the presence days aggregated from the rated rows (Polars).

::

    python benchmarks/bench_state_parts.py --reps 7 --compare-src OLD/src

Thread CPU counts the calling thread only (Polars' own threads are not in it); process CPU
counts every thread. Results go to ``benchmarks/out/state-parts.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_state import OUT, current_periods, fill_store, make_day_file


def _module_from(src: Path, name: str) -> ModuleType:
    """The module ``name`` (dotted) of another roamlike tree, loaded beside this one."""
    path = src.joinpath(*name.split(".")).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"compare_{name.replace('.', '_')}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _timed(work: Callable[[], object]) -> dict[str, float]:
    wall, cpu, proc = time.perf_counter(), time.thread_time(), os.times()
    work()
    after = os.times()
    return {
        "wall_s": time.perf_counter() - wall,
        "thread_cpu_s": time.thread_time() - cpu,
        "process_cpu_s": (after.user + after.system) - (proc.user + proc.system),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=150_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--compare-src", type=Path, help="another roamlike's src folder")
    args = parser.parse_args()

    from roamlike.io import read_usage
    from roamlike.rating import rate_usage
    from roamlike.rating.normalise import normalise_subscriber_id
    from roamlike.state import log as log_module
    from roamlike.state import open_store
    from roamlike.state import preload as preload_module
    from roamlike.state.counters import (
        claim_record_ids,
        load_counters,
        local_dates,
        periods_since,
        stored_counters,
    )
    from roamlike.state.days import days_of_rated
    from roamlike.tariffs import FxTable, load_plans

    work = OUT / "state-parts"
    work.mkdir(parents=True, exist_ok=True)
    day, plans, fx, subs, others = make_day_file(args.records, work, args.subscribers, False)
    db = work / "store.db"
    db.unlink(missing_ok=True)
    fill_store(str(db), subs, others, current_periods(day, plans, fx), 3)
    usage = read_usage(day, None).with_row_index("row_number").collect()
    keys = usage.select(
        normalise_subscriber_id(pl.col("subscriber_id")).alias("s"),
        normalise_subscriber_id(pl.col("record_id")).alias("r"),
        local_dates(usage).alias("d"),
    )
    ids = keys.get_column("s").drop_nulls().unique().sort()
    since = periods_since(keys.get_column("d"))
    store = open_store(db)
    with store.snapshot() as tx:
        counters = load_counters(tx, ids, "", since=since)
    result = rate_usage(usage, load_plans(plans), FxTable.from_csv(fx), counters=counters)
    days = days_of_rated(result.rated)
    periods, subscribers = stored_counters(result.counters)
    print(
        f"{periods.height:,} period, {subscribers.height:,} subscriber, {days.height:,} day rows",
        flush=True,
    )

    def write(module: Any) -> Callable[[], None]:
        def run() -> None:
            with store.snapshot() as tx:  # rolled back at its end
                for table, frame in (
                    ("state_periods", periods),
                    ("state_subscribers", subscribers),
                    ("state_days", days),
                ):
                    module.append(tx, table, frame)

        return run

    def load(readers: int) -> Callable[[], None]:
        def run() -> None:
            parts = [ids] if readers == 1 else preload_module._parts(ids)
            with ThreadPoolExecutor(max(1, len(parts) - 1)) as pool:
                rest = [pool.submit(preload_module._read, str(db), "", p, since) for p in parts[1:]]
                preload_module._read(str(db), "", parts[0], since)
                for f in rest:
                    f.result()

        return run

    def claim() -> None:
        with store.snapshot() as tx:
            claim_record_ids(tx, keys.get_column("r"), "")

    parts: dict[str, Callable[[], object]] = {"write": write(log_module)}
    if args.compare_src is not None:
        parts["write-compare"] = write(_module_from(args.compare_src, "roamlike.state.log"))
    parts |= {
        "load-1": load(1),
        f"load-{preload_module.PRELOAD_READERS}": load(preload_module.PRELOAD_READERS),
        "claim": claim,
        "days": lambda: days_of_rated(result.rated),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in parts}
    load_before = os.getloadavg()[0]
    for _ in range(args.reps):
        for name, work_of in parts.items():
            runs[name].append(_timed(work_of))
    median = {
        name: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for name, ms in runs.items()
    }
    summary = {
        "records": args.records,
        "store_subscribers": args.subscribers,
        "reps": args.reps,
        "median": median,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    }
    (OUT / "state-parts.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name, m in median.items():
        print(
            f"median {name:14s} wall {m['wall_s']:.3f} s  thread CPU {m['thread_cpu_s']:.3f} s  "
            f"process CPU {m['process_cpu_s']:.3f} s"
        )
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
