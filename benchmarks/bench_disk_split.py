"""Benchmark of the on-disk split alone (``roamlike.disk_split``), against another tree's.

What ``roamlike rate`` does to an input larger than its memory budget before it rates any
batch: find the duplicates over the whole file and write one file per batch by subscriber;
then (``--load``) each batch read back, one after another, as the run loads them. Each run
is its own process (peak memory = that process's max RSS, CPU = its user + system time, all
threads, read with ``wait4``), with the ``roamlike`` command's Polars engine setting
(``roamlike.query_engine.for_process``). ``--before SRC`` alternates the runs with the code of
another tree (e.g. ``git archive main src | tar -x -C /tmp/pre``, then ``--before /tmp/pre/src``;
a tree of round 11 or earlier splits with Polars' partitioned sink,
``pipeline._sink_batches``).

Usage::

    python benchmarks/bench_disk_split.py USAGE.parquet [--batches 60] [--pairs 3]
        [--before SRC] [--load] [--chrt]

Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_SRC = Path(__file__).resolve().parent.parent / "src"


def _stage(usage: Path, batches: int, load: bool) -> None:
    """One split (and the batches read back), in this process; prints a JSON line."""
    from roamlike import query_engine

    query_engine.for_process()
    import polars as pl

    from roamlike import pipeline
    from roamlike.io import read_usage

    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(dir=usage.parent, prefix=".bench-split-") as work:
        folder = Path(work)
        usage_lf = read_usage(usage)
        rows: int
        if hasattr(pipeline, "_sink_batches"):  # round 11 and earlier
            from roamlike.duplicate_ids import repeated_rows
            from roamlike.input_reader import collect_input
            from roamlike.record_keys import normalise_subscriber_id

            duplicates = repeated_rows(
                usage_lf.select(normalise_subscriber_id(pl.col("record_id"))),
                read=lambda lf: collect_input(lf, usage),
            )
            pipeline._sink_batches(usage_lf, batches, folder, usage)
            split_s, split_cpu = time.perf_counter() - started, time.process_time() - cpu
            keys = sorted(int(d.name.split("=", 1)[1]) for d in folder.iterdir() if "=" in d.name)

            def read(key: int) -> pl.DataFrame:
                return pl.scan_parquet(folder / f"__roamlike_batch={key}" / "*.parquet").collect()

        else:
            from roamlike.disk_split import split_on_disk

            files = split_on_disk(usage_lf, batches, folder, usage)
            duplicates = files.duplicates
            split_s, split_cpu = time.perf_counter() - started, time.process_time() - cpu
            keys = files.keys
            read = files.load
        rows = 0
        if load:
            for key in keys:
                rows += read(key).height
        disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(
        json.dumps(
            {
                "split_s": split_s,
                "split_cpu_s": split_cpu,
                "batches": len(keys),
                "duplicates": len(duplicates),
                "rows_loaded": rows,
                "disk_mb": disk / 1e6,
            }
        )
    )
    sys.stdout.flush()
    os._exit(0)


def _run(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, str(args.usage), "--stage", "--batches", str(args.batches)]
    if args.load:
        command.append("--load")
    if args.chrt:
        command = ["chrt", "-f", "50", *command]
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage failed: {' '.join(command)}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result |= {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("usage", type=Path)
    parser.add_argument("--batches", type=int, default=0, help="default: records / 500,000")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="the src folder of the code to compare")
    parser.add_argument("--load", action="store_true", help="read every batch back as well")
    parser.add_argument("--chrt", action="store_true", help="each run under chrt -f 50")
    parser.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.batches:
        import pyarrow.parquet as pq

        args.batches = math.ceil(pq.ParquetFile(args.usage).metadata.num_rows / 500_000)
    if args.stage:
        _stage(args.usage, args.batches, args.load)
        return
    trees = ([("before", args.before)] if args.before else []) + [("after", _SRC)]
    for pair in range(args.pairs):
        for name, src in trees:
            r = _run(src, args)
            print(
                f"{pair + 1} {name:6s} split {r['split_s']:7.2f} s {r['split_cpu_s']:7.2f} CPU-s"
                f" | process {r['wall_s']:7.2f} s {r['cpu_s']:7.2f} CPU-s peak"
                f" {r['peak_mb']:6,.0f} MB | {r['batches']} batches, {r['duplicates']} dup,"
                f" {r['disk_mb']:,.0f} MB on disk, load {r['load']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
