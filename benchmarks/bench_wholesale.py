"""Benchmark of the wholesale path: TAP decode, check + settle, against the Parquet I/O floor.

Stages, each in its own process so that peak memory (max RSS) is per stage:

* ``make``: encode one synthetic TAP 3.12 file of ``--events`` events, then copy it under new
  names until the set reaches ``--total-mb`` (the files are identical but for their names: the
  decoder does the same work on each);
* ``decode``: ``tap decode`` of every file, one file at a time, events streamed to one Parquet
  file (bounded memory: one file's bytes and events at a time);
* ``floor``: Parquet read + write of that events table (the I/O floor);
* ``check_settle``: read the first ``--check-events`` events of that table (all of them are in
  memory at once), ``check_wholesale`` + ``settle`` of one month.

Usage::

    python benchmarks/bench_wholesale.py [--events 200000] [--total-mb 1024] [--seed 7]

Prints events/s, CPU seconds, peak memory and ratios; writes ``benchmarks/out/wholesale.json``.
Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out" / "wholesale"


def _make(path: Path, events: int, seed: int, total_mb: int) -> None:
    import datetime as dt
    from decimal import Decimal

    import numpy as np
    import polars as pl

    from roamlike.wholesale import EVENT_SCHEMA, BatchSpec, encode_batch

    rng = np.random.default_rng(seed)
    kinds = rng.choice(3, events, p=[0.45, 0.2, 0.35])
    mccs = np.array(["262", "208", "222", "260", "232", "204"])
    imsi = [
        f"{m}01{n:010d}"
        for m, n in zip(rng.choice(mccs, events), rng.integers(0, 10**10, events), strict=True)
    ]
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    seconds = rng.integers(0, 30 * 86_400, events)
    gprs = kinds == 2
    frame = pl.DataFrame(
        {
            "kind": np.array(["mobile_originated_call", "mobile_terminated_call", "gprs_call"])[
                kinds
            ],
            "imsi": imsi,
            "started_at": [start + dt.timedelta(seconds=int(s)) for s in seconds],
            "utc_offset_min": np.full(events, 60, np.int32),
            "duration_s": rng.integers(1, 900, events),
            "volume_in_bytes": rng.integers(0, 50_000_000, events),
            "volume_out_bytes": rng.integers(0, 5_000_000, events),
            "is_gprs": gprs,
            "charged_item": np.where(gprs, "X", "D"),
            "charge_micros": rng.integers(0, 50_000, events),
            "exchange_rate_code": np.full(events, 1),
        },
        strict=False,
    )
    gprs_col = pl.col("is_gprs")
    frame = frame.with_columns(
        pl.when(gprs_col).then(pl.col(c)).alias(c) for c in ("volume_in_bytes", "volume_out_bytes")
    ).with_columns(pl.when(~gprs_col).then(pl.lit("11")).alias("service_code"))
    frame = frame.with_columns(
        [pl.lit(None, d).alias(c) for c, d in EVENT_SCHEMA.items() if c not in frame.columns]
    ).select([pl.col(c).cast(d) for c, d in EVENT_SCHEMA.items()])
    spec = BatchSpec("ESPTE", "DEUD1", "00001", 6, exchange_rates={1: Decimal("1")})
    data = encode_batch(frame.sort("started_at"), spec)
    path.mkdir(parents=True, exist_ok=True)
    first = path / "CDESPTEDEUD100001.tap"
    first.write_bytes(data)
    copies = max(1, (total_mb * 1024 * 1024) // len(data))
    for n in range(2, copies + 1):
        shutil.copyfile(first, path / f"CDESPTEDEUD1{n:05d}.tap")


def _decode(path: Path, target: Path) -> dict[str, Any]:
    from roamlike.io import TableWriter
    from roamlike.law import default_catalog
    from roamlike.wholesale import decode_file

    catalog = default_catalog()
    decode_file(next(iter(sorted(path.glob("*.tap")))), catalog)  # compile the kernel first
    t0, c0 = time.perf_counter(), time.process_time()
    events = 0
    findings = 0
    with TableWriter(target) as writer:
        for f in sorted(path.glob("*.tap")):
            tap = decode_file(f, catalog)
            writer.write(tap.events)
            events += tap.decoded
            findings += len(tap.findings)
    return {
        "events": events,
        "findings": findings,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }


def _floor(source: Path, target: Path) -> dict[str, Any]:
    import polars as pl

    t0, c0 = time.perf_counter(), time.process_time()
    pl.scan_parquet(source).sink_parquet(target)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def _check_settle(source: Path, limit: int) -> dict[str, Any]:
    import polars as pl

    from roamlike.law import default_catalog
    from roamlike.wholesale.check import check_wholesale
    from roamlike.wholesale.settle import settle

    catalog = default_catalog()
    events = pl.scan_parquet(source).head(limit).collect().rechunk()
    t0, c0 = time.perf_counter(), time.process_time()
    result = check_wholesale(events, catalog)
    s = settle(result.events, "2026-03")
    return {
        "events": events.height,
        "net_rows": s.net.height,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }


def _stage(args: argparse.Namespace) -> None:
    work = Path(args.work)
    files, events = work / "tap", work / "events.parquet"
    if args.stage == "make":
        out: dict[str, Any] = {}
        _make(files, args.events, args.seed, args.total_mb)
    elif args.stage == "decode":
        out = _decode(files, events)
    elif args.stage == "floor":
        out = _floor(events, work / "floor.parquet")
    else:
        out = _check_settle(events, args.check_events)
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per TAP file")
    parser.add_argument("--total-mb", type=int, default=1024, help="size of the file set")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--check-events", type=int, default=2_000_000, help="events read for check + settle"
    )
    parser.add_argument("--stage", choices=["make", "decode", "floor", "check_settle"])
    parser.add_argument("--work", default=str(OUT / "work"))
    args = parser.parse_args()
    if args.stage:
        _stage(args)
        return
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for stage in ("make", "decode", "floor", "check_settle"):
        cmd = [
            sys.executable,
            __file__,
            "--stage",
            stage,
            "--work",
            str(work),
            "--events",
            str(args.events),
            "--total-mb",
            str(args.total_mb),
            "--seed",
            str(args.seed),
            "--check-events",
            str(args.check_events),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        results[stage]["stage_wall_s"] = time.perf_counter() - t0
        print(stage, results[stage], flush=True)
    files = sorted((work / "tap").glob("*.tap"))
    d, f, cs = results["decode"], results["floor"], results["check_settle"]
    results["tap_files"] = len(files)
    results["tap_mb"] = sum(p.stat().st_size for p in files) / 1024 / 1024
    results["decode_events_per_s_wall"] = d["events"] / d["wall_s"]
    results["decode_events_per_s_cpu"] = d["events"] / d["cpu_s"]
    results["check_settle_events_per_s_wall"] = cs["events"] / cs["wall_s"]
    results["check_settle_events_per_s_cpu"] = cs["events"] / cs["cpu_s"]
    results["decode_over_floor_cpu"] = d["cpu_s"] / f["cpu_s"]
    results["check_settle_over_floor_cpu"] = cs["cpu_s"] / f["cpu_s"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "wholesale.json").write_text(json.dumps(results, indent=2) + "\n")
    for key in (
        "tap_files",
        "tap_mb",
        "decode_events_per_s_wall",
        "decode_events_per_s_cpu",
        "check_settle_events_per_s_wall",
        "check_settle_events_per_s_cpu",
        "decode_over_floor_cpu",
        "check_settle_over_floor_cpu",
    ):
        print(f"{key}: {results[key]:,.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
