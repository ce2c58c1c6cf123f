"""Benchmark of ``roamlike simulate`` against one ``roamlike rate`` run, in one run on one file.

Stages, each a fresh child process whose wall time, CPU seconds (user + system, children
included) and peak memory (max RSS) are read with ``wait4``:

* ``floor``: Parquet read + write of the usage (the I/O floor);
* ``rate``: ``roamlike rate`` end to end on the usage;
* ``simulate``: ``roamlike simulate`` with a built-in scenario on the same usage (two rating
  runs, the impact tables and the report).

Usage::

    python benchmarks/bench_simulate.py [--records 10000000] [--scenario wb6-join-eu-rlah-2027]

The usage spans 2026-11-01 .. 2027-02-28 so the built-in scenarios change the law inside it.
Prints the figures and the ratio simulate / rate (target <= 2.5), and writes
``benchmarks/out/simulate.json``. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"


def _spawn(cli_args: list[str]) -> dict[str, float]:
    """Run ``roamlike CLI_ARGS`` in a child: wall and CPU seconds, peak RSS [MB]."""
    command = [sys.executable, "-m", "roamlike.cli", *cli_args]
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: finished with some rejects
        raise SystemExit(f"stage failed ({proc.returncode}): {' '.join(command)}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def _floor(usage: Path, target: Path) -> dict[str, float]:
    code = "import polars as pl, sys; pl.scan_parquet(sys.argv[1]).sink_parquet(sys.argv[2])"
    started = time.perf_counter()
    with subprocess.Popen([sys.executable, "-c", code, str(usage), str(target)]) as proc:
        _, status, ru = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("floor stage failed")
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": ru.ru_utime + ru.ru_stime,
        "peak_mb": ru.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", default="wb6-join-eu-rlah-2027")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    usage, plans, fx = OUT / "sim-usage.parquet", OUT / "sim-plans.yaml", OUT / "sim-fx.csv"
    print(f"generating {args.records:,} records (seed {args.seed}) ...", flush=True)
    _spawn(
        ["synth", "--records", str(args.records), "--seed", str(args.seed), "--start",
         "2026-11-01", "--months", "4", "--out", str(usage), "--plans-out", str(plans),
         "--fx-out", str(fx)]
    )  # fmt: skip
    floor = _floor(usage, OUT / "sim-copy.parquet")
    rate = _spawn(
        ["rate", str(usage), "--plans", str(plans), "--fx", str(fx), "--out",
         str(OUT / "sim-rated.parquet"), "--rejects", str(OUT / "sim-rejects.parquet"), "--quiet"]
    )  # fmt: skip
    simulate = _spawn(
        ["simulate", "--scenario", args.scenario, "--usage", str(usage), "--plans", str(plans),
         "--fx", str(fx), "--out", str(OUT / "simulate"), "--quiet"]
    )  # fmt: skip
    results: dict[str, Any] = {
        "records": args.records,
        "scenario": args.scenario,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "floor": floor,
        "rate": rate,
        "simulate": simulate,
        "ratios": {
            "simulate_over_rate_seconds": simulate["seconds"] / rate["seconds"],
            "simulate_over_rate_cpu_seconds": simulate["cpu_seconds"] / rate["cpu_seconds"],
            "rate_over_floor_seconds": rate["seconds"] / floor["seconds"],
        },
    }
    (OUT / "simulate.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for name, stage in (("I/O floor", floor), ("rate", rate), ("simulate", simulate)):
        print(
            f"{name:10s} {stage['seconds']:8.2f} s wall  {stage['cpu_seconds']:8.2f} s CPU  "
            f"peak {stage['peak_mb']:,.0f} MB"
        )
    ratios = results["ratios"]
    print(
        f"simulate / rate: {ratios['simulate_over_rate_seconds']:.2f} (wall), "
        f"{ratios['simulate_over_rate_cpu_seconds']:.2f} (CPU); target <= 2.5"
    )


if __name__ == "__main__":
    main()
