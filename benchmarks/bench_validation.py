"""CPU of the engine's validation step (``roamlike.rating.normalise``) by frame size.

Usage::

    python benchmarks/bench_validation.py [--sizes 1600,500000] [--calls 30]
        [--baseline OLD_NORMALISE.py]

Each size is a frame of canonical usage records: 1,600 rows as the service builds a commit
group of events of 100 records (``roamlike.service.group_rating.RECORD_SCHEMA``: typed numbers,
``started_at`` as text, one record per subscriber), larger sizes from the synthetic generator
(``roamlike.synth``, as ``roamlike rate`` reads a file). A call is what the engine's entry runs
for validation: ``validate(...)`` collected, then the basic rejects' ``messages``. The median and
least process CPU per call are printed (``time.process_time``: the Polars pool included).

``--baseline`` loads another copy of ``normalise.py`` (say, main's, saved aside) and alternates
it call by call with the current one in this process, after checking that both give the same
frame: an A/B in one run on a shared machine. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

# roamlike first: importing it sets Polars' allocator options (as the CLI runs)
import roamlike  # noqa: F401  # isort: skip
import polars as pl  # isort: skip

from roamlike.law import default_catalog
from roamlike.rating import normalise
from roamlike.tariffs import Plan, parse_plans


def _service_frame(n: int) -> tuple[pl.DataFrame, dict[str, Plan]]:
    """``n`` records as a commit group of events of 100 records is built by the service."""
    from roamlike.service.group_rating import RECORD_SCHEMA
    from roamlike.synth.generator import generate

    synth = generate(10, seed=7)
    plans = parse_plans(json.dumps({"plans": synth.plans}, default=str), "json", "bench")
    plan = next(p for p in plans.values() if p.home_country == "DE")
    columns: dict[str, list[Any]] = {name: [] for name in RECORD_SCHEMA}
    for i in range(n):
        row: dict[str, Any] = {
            "record_id": f"r0-{i}",
            "subscriber_id": f"b0-{i % 5000}",
            "plan_id": plan.id,
            "event_type": "data",
            "started_at": f"2026-01-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:"
            f"{i // 60 % 60:02d}:{i % 60:02d}Z",
            "utc_offset_min": 60,
            "home_country": "DE",
            "visited_country": "FR",
            "volume_bytes": 1_000_000,
        }
        for name in RECORD_SCHEMA:
            columns[name].append(row.get(name))
    return pl.DataFrame(columns, schema=RECORD_SCHEMA), plans


def _synth_frame(n: int) -> tuple[pl.DataFrame, dict[str, Plan]]:
    from roamlike.synth.generator import generate

    synth = generate(n, seed=7)
    plans = parse_plans(json.dumps({"plans": synth.plans}, default=str), "json", "bench")
    return synth.usage, plans


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_normalise", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _call(module: ModuleType, frame: pl.DataFrame, plans: dict[str, Plan]) -> pl.DataFrame:
    catalog = default_catalog()
    checked: pl.DataFrame = module.validate(frame.lazy(), plans, catalog).collect()
    module.messages(checked.lazy().filter(pl.col("reason_code").is_not_null())).collect()
    return checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1600,500000")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    ways: dict[str, ModuleType] = {"current": normalise}
    if args.baseline is not None:
        ways = {"baseline": _load(args.baseline), "current": normalise}
    for size in (int(s) for s in args.sizes.split(",")):
        frame, plans = _service_frame(size) if size <= 5000 else _synth_frame(size)
        results = {name: _call(module, frame, plans) for name, module in ways.items()}
        first = next(iter(results.values()))
        for name, result in results.items():
            if not result.equals(first):
                raise SystemExit(f"{name} differs from the first way on {size} rows")
        calls = args.calls if size <= 5000 else max(3, args.calls // 10)
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(calls):
            for name, module in ways.items():
                start = time.process_time()
                _call(module, frame, plans)
                times[name].append(time.process_time() - start)
        for name, spent in times.items():
            print(
                f"{size:>9,} rows {name:>9}: {statistics.median(spent) * 1e3:8.2f} ms CPU "
                f"median, {min(spent) * 1e3:8.2f} least ({calls} calls)"
            )


if __name__ == "__main__":
    main()
