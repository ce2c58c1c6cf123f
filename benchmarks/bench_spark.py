"""Benchmark of the Spark path next to ``roamlike rate``, measured in one run on one file.

Stages, each a ``roamlike`` command in its own process tree, sampled every 0.2 s through /proc
so that CPU seconds and peak memory count every process (the JVM and the Python workers too):

* ``floor``: Parquet read + write of the same usage (the I/O floor);
* ``native``: ``roamlike rate`` (this machine's engine);
* ``spark``: ``roamlike rate --engine spark`` in local mode (default ``local[2]``).

Usage::

    python benchmarks/bench_spark.py [--records 10000000] [--master local[2]] [--partitions N]

Prints wall and CPU seconds, the speed ratio to the I/O floor, peak memory of the whole tree and
of the largest Python worker (one worker runs one task at a time: its peak is the memory per
task), checks that both engines rated the same records to the same totals, and writes
``benchmarks/out/spark.json``. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

OUT = Path(__file__).parent / "out"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measure:
    """What one stage cost: wall and CPU seconds, peak memory (MB)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_tree_mb: float = 0.0
    peak_worker_mb: float = 0.0
    peak_jvm_mb: float = 0.0
    processes: dict[int, tuple[float, float, str]] = field(default_factory=dict)
    largest: list[tuple[float, str]] = field(default_factory=list)  # (peak MB, command)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _sample(root: int, m: Measure) -> None:
    tree = _children()
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(tree.get(pid, []))
    rss_total = 0.0
    for pid in seen:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/status", encoding="utf-8") as f:
                hwm = next((ln for ln in f if ln.startswith("VmHWM:")), "VmHWM: 0 kB")
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
        rss = int(fields[21]) * _PAGE / 1e6
        rss_total += rss
        # the largest resident size seen (VmHWM alone under-reports workers forked by pyspark)
        seen_peak = m.processes.get(pid, (0.0, 0.0, ""))[1]
        peak = max(seen_peak, rss, int(hwm.split()[1]) / 1e3)
        m.processes[pid] = (cpu, peak, cmd[:120])
    m.peak_tree_mb = max(m.peak_tree_mb, rss_total)


def _measure(command: list[str]) -> Measure:
    m = Measure()
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as proc:
        while proc.poll() is None:
            _sample(proc.pid, m)
            time.sleep(0.2)
    m.seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"stage failed ({proc.returncode}): {' '.join(command)}")
    # the last sample of each process (processes that lived less than 0.2 s are missed)
    m.cpu_seconds = sum(cpu for cpu, _, _ in m.processes.values())
    workers = [p for _, p, c in m.processes.values() if "pyspark" in c and "java" not in c]
    m.peak_worker_mb = max(workers, default=0.0)
    m.largest = sorted(((p, c) for _, p, c in m.processes.values()), reverse=True)[:5]
    m.peak_jvm_mb = max((p for _, p, c in m.processes.values() if "java" in c), default=0.0)
    return m


def _roamlike(*args: str) -> list[str]:
    return [sys.executable, "-m", "roamlike.cli", *args]


def _totals(rated: Path) -> dict[str, int]:
    import polars as pl

    lf = pl.scan_parquet(rated / "*.parquet" if rated.is_dir() else rated)
    row = lf.select(
        records=pl.len(),
        charge_incl_vat_micros=pl.col("charge_incl_vat_micros").cast(pl.Int128).sum(),
        row_number_sum=pl.col("row_number").cast(pl.Int128).sum(),
    ).collect()
    return {k: int(v) for k, v in row.row(0, named=True).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    usage, plans, fx = OUT / "usage.parquet", OUT / "plans.yaml", OUT / "fx.csv"
    print(f"generating {args.records:,} records (seed {args.seed}) ...", flush=True)
    subprocess.run(
        _roamlike(
            "synth",
            "--records",
            str(args.records),
            "--seed",
            str(args.seed),
            "--out",
            str(usage),
            "--plans-out",
            str(plans),
            "--fx-out",
            str(fx),
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    common = ["--plans", str(plans), "--fx", str(fx), "--quiet"]
    floor_code = "import polars as pl, sys; pl.scan_parquet(sys.argv[1]).sink_parquet(sys.argv[2])"
    stages = {
        "floor": [sys.executable, "-c", floor_code, str(usage), str(OUT / "copy.parquet")],
        "native": _roamlike(
            "rate", str(usage), *common, "--out", str(OUT / "native.parquet"),
            "--rejects", str(OUT / "native-rejects.parquet"),
        ),
        "spark": _roamlike(
            "rate", str(usage), *common, "--out", str(OUT / "spark.parquet"),
            "--rejects", str(OUT / "spark-rejects.parquet"),
            "--engine", "spark", "--spark-master", args.master,
            "--spark-conf", f"spark.driver.memory={args.driver_memory}",
            "--spark-conf", "spark.ui.enabled=false",
            *(["--partitions", str(args.partitions)] if args.partitions else []),
        ),
    }  # fmt: skip
    results: dict[str, object] = {
        "records": args.records,
        "master": args.master,
        "partitions": args.partitions,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": os.getloadavg(),
        },
    }
    measured: dict[str, Measure] = {}
    for name, command in stages.items():
        print(f"{name} ...", flush=True)
        measured[name] = _measure(command)
        m = measured[name]
        print(
            f"  {m.seconds:.1f} s wall, {m.cpu_seconds:.1f} CPU-s, peak {m.peak_tree_mb:.0f} MB"
            + (f", largest worker {m.peak_worker_mb:.0f} MB" if m.peak_worker_mb else "")
            + (f", JVM {m.peak_jvm_mb:.0f} MB" if m.peak_jvm_mb else ""),
            flush=True,
        )
    native, spark = _totals(OUT / "native.parquet"), _totals(OUT / "spark.parquet")
    results["same_totals"] = native == spark
    results["totals"] = {"native": native, "spark": spark}
    floor = measured["floor"].seconds
    for name, m in measured.items():
        entry = {k: v for k, v in asdict(m).items() if k != "processes"}
        entry["speed_over_floor"] = floor / m.seconds
        results[name] = entry
    results["spark_overhead_seconds"] = measured["spark"].seconds - measured["native"].seconds
    (OUT / "spark.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("same_totals", "spark_overhead_seconds")}))
    for name in measured:
        print(f"{name}: speed / I/O floor = {floor / measured[name].seconds:.3f}")
    if not results["same_totals"]:
        raise SystemExit(f"the engines disagree: {native} != {spark}")


if __name__ == "__main__":
    main()
