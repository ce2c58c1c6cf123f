"""Benchmark of the rating engine, measured as ratios in one run on one synthetic file.

Stages, each in its own process so that peak memory (max RSS) is per stage:

* ``floor``: Parquet read + write of the same usage columns (the I/O floor);
* ``rate``: ``roamlike rate`` end to end (read, validate, rate, write rated + rejects);
* ``reference``: the per-record reference rater on a sample (default 100,000 records).

Usage::

    python benchmarks/bench_rating.py [--records 10000000] [--sample 100000] [--seed 7]
        [--profile] [--profile-records 2000000] [--memory-gb 3] [--keep DIR]

Prints records/s, peak memory and the ratios, and writes ``benchmarks/out/results.json``.
``--keep DIR`` keeps the synthetic files in ``DIR`` and reuses them in later runs with the same
``--records`` (the seed is not checked; generating 30 million records takes several
minutes).
``--profile`` adds, in one more process, where the time of one engine call over the first
``--profile-records`` records goes (catalog, read, validation, the rest of the engine, writing
the rated rows; wall and CPU seconds each) and the engine's peak memory per record it rates
(what ``roamlike.pipeline.ENGINE_BYTES_PER_RECORD`` states). Timings belong here, never in tests.
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


def _stage_floor(usage: Path, target: Path) -> None:
    import polars as pl

    pl.scan_parquet(usage).sink_parquet(target)
    # ends as the `rate` stage does (the `roamlike` command skips the interpreter's teardown,
    # roamlike.cli.common.exit_now), so neither stage pays it
    sys.stdout.flush()
    os._exit(0)


def _stage_rate(usage: Path, plans: Path, fx: Path, target: Path, memory_gb: float) -> None:
    from roamlike.cli import main

    sys.argv = [
        "roamlike",
        "rate",
        str(usage),
        "--plans",
        str(plans),
        "--fx",
        str(fx),
        "--out",
        str(target),
        "--rejects",
        str(target.with_suffix(".rejects.parquet")),
        "--memory-gb",
        str(memory_gb),
        "--quiet",
    ]
    # exactly the `roamlike` command: the input read early, only `rate`'s module loaded, the
    # process ended without the interpreter's teardown (exit 1, some rejects, is a normal end)
    main()


def _stage_reference(usage: Path, plans: Path, fx: Path, sample: int) -> None:
    import polars as pl

    from roamlike.reference import rate_records
    from roamlike.tariffs import FxTable, load_plans

    rows = pl.read_parquet(usage, n_rows=sample).to_dicts()
    started = time.perf_counter()
    rate_records(rows, load_plans(plans), FxTable.from_csv(fx))
    # the reference's own time, without reading the sample
    print(json.dumps({"seconds": time.perf_counter() - started}))


def _rss_bytes() -> int:
    """This process's resident memory now [bytes] (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _stage_profile(usage: Path, plans_path: Path, fx_path: Path, target: Path, n: int) -> None:
    """Where the time of one engine call goes, and its peak memory per record (one JSON line)."""
    import resource

    clock = [time.perf_counter(), time.process_time()]
    stages: dict[str, dict[str, float]] = {}

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        stages[name] = {"seconds": wall - clock[0], "cpu_s": cpu - clock[1]}
        clock[:] = [wall, cpu]

    from roamlike.io import read_usage, write_table
    from roamlike.law import default_catalog
    from roamlike.rating import rate_usage
    from roamlike.rating.assembly import split_input
    from roamlike.rating.normalise import BATCH_ROW, validate
    from roamlike.tariffs import FxTable, load_plans

    lap("imports")
    catalog = default_catalog()
    lap("catalog")
    plans, fx = load_plans(plans_path), FxTable.from_csv(fx_path)
    lap("plans and FX")
    frame = read_usage(usage).head(n).with_row_index(BATCH_ROW).collect()
    lap("read")
    validate(split_input(frame.lazy()).core, plans, catalog).collect()
    lap("validation (alone)")
    before = _rss_bytes()
    result = rate_usage(frame, plans, fx, catalog=catalog)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    lap("engine call (incl. validation)")
    write_table(result.rated, target)
    lap("write rated")
    print(
        json.dumps(
            {
                "records": frame.height,
                "stages": stages,
                "engine_bytes_per_record": (peak - before) / max(frame.height, 1),
            }
        )
    )


CPU: dict[str, float] = {}


def _run(args: list[str]) -> tuple[float, float, str]:
    """Run a stage in a child process: (wall seconds, that child's peak RSS in MB, stdout).

    The child's CPU seconds (user + system, all threads) are kept in ``CPU[stage]``.
    """
    return _spawn([sys.executable, __file__, *args])


def _spawn(command: list[str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    CPU[command[3] if len(command) > 3 and command[2] == "--stage" else command[-1]] = (
        usage.ru_utime + usage.ru_stime
    )
    rate = command[2:4] == ["--stage", "rate"]
    if proc.returncode not in ((0, 1) if rate else (0,)):  # `roamlike rate`: 1 = some rejects
        raise SystemExit(f"stage failed ({proc.returncode}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="add a stage breakdown")
    parser.add_argument("--profile-records", type=int, default=2_000_000)
    parser.add_argument("--memory-gb", type=float, default=3.0, help="roamlike rate's budget")
    parser.add_argument("--stage", choices=["floor", "rate", "reference", "profile"])
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the synthetic files here")
    args = parser.parse_args()

    if args.stage == "floor":
        _stage_floor(Path(args.paths[0]), Path(args.paths[1]))
        return
    if args.stage == "rate":
        _stage_rate(*(Path(p) for p in args.paths), memory_gb=args.memory_gb)
        return
    if args.stage == "profile":
        _stage_profile(*(Path(p) for p in args.paths), n=args.profile_records)
        return
    if args.stage == "reference":
        p = [Path(x) for x in args.paths]
        _stage_reference(p[0], p[1], p[2], args.sample)
        return

    OUT.mkdir(parents=True, exist_ok=True)
    data = args.keep or OUT
    data.mkdir(parents=True, exist_ok=True)
    usage, plans, fx = data / "usage.parquet", data / "plans.yaml", data / "fx.csv"
    if args.keep is not None and _kept(usage, plans, fx, args.records):
        print(f"reusing {args.records:,} records in {data}", flush=True)
    else:
        print(f"generating {args.records:,} records (seed {args.seed}) ...", flush=True)
        gen_s, _, _ = _run_generate(args.records, args.seed, usage, plans, fx)
        print(f"  generated in {gen_s:.1f} s ({usage.stat().st_size / 1e6:.0f} MB Parquet)")

    results: dict[str, Any] = {
        "records": args.records,
        "sample": args.sample,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # 1, 5 and 15-minute load averages before the stages: on a shared machine they
            # say how far the wall times can be trusted (CPU seconds are reported too)
            "load_average_before": os.getloadavg(),
        },
    }
    # `roamlike rate` as installed: the compiled pass built ahead of time into the per-user
    # cache (as `make install` does; roamlike.rating.aot), so the stage measures a warm run
    built = subprocess.run(
        [sys.executable, "-c", "from roamlike.rating import aot; aot.load() or aot.build()"],
        capture_output=True,
        text=True,
    )
    results["machine"]["compiled_pass"] = "ahead of time" if built.returncode == 0 else "JIT"
    print(f"  compiled pass: {results['machine']['compiled_pass']}")
    # Each stage runs in a fresh process, whose own peak RSS is read with wait4.
    floor_s, floor_mb, _ = _run(
        ["--stage", "floor", "--paths", str(usage), str(OUT / "copy.parquet")]
    )
    _, ref_mb, ref_out = _run(
        [
            "--stage",
            "reference",
            "--sample",
            str(args.sample),
            "--paths",
            str(usage),
            str(plans),
            str(fx),
        ]
    )
    ref_inner = json.loads(ref_out.strip().splitlines()[-1])["seconds"]
    rate_s, rate_mb, _ = _run(
        ["--stage", "rate", "--memory-gb", str(args.memory_gb), "--paths", str(usage), str(plans),
         str(fx), str(OUT / "rated.parquet")]
    )  # fmt: skip
    n = args.records
    floor_cpu, rate_cpu = CPU["floor"], CPU["rate"]
    results["floor"] = {
        "seconds": floor_s,
        "cpu_s": floor_cpu,
        "records_per_s": n / floor_s,
        "peak_mb": floor_mb,
    }
    results["rate"] = {
        "seconds": rate_s,
        "cpu_s": rate_cpu,
        "records_per_s": n / rate_s,
        "peak_mb": rate_mb,
    }
    results["reference"] = {
        "seconds": ref_inner,
        "records_per_s": args.sample / ref_inner,
        "peak_mb": ref_mb,
    }
    results["ratios"] = {
        "rate_speed_over_floor_speed": floor_s / rate_s,
        "rate_cpu_speed_over_floor_cpu_speed": floor_cpu / rate_cpu,
        "rate_speed_over_reference_speed": (n / rate_s) / (args.sample / ref_inner),
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(
        f"I/O floor (Parquet read+write): {floor_s:7.2f} s wall {floor_cpu:7.2f} CPU-s  "
        f"{n / floor_s:>13,.0f} rec/s  peak {floor_mb:,.0f} MB"
    )
    print(
        f"roamlike rate (end to end):     {rate_s:7.2f} s wall {rate_cpu:7.2f} CPU-s  "
        f"{n / rate_s:>13,.0f} rec/s  peak {rate_mb:,.0f} MB"
    )
    print(
        f"reference rater ({args.sample:,}):   {ref_inner:7.2f} s  "
        f"{args.sample / ref_inner:>13,.0f} rec/s"
    )
    print(
        f"rate speed / floor speed:     {floor_s / rate_s:.3f} wall, "
        f"{floor_cpu / rate_cpu:.3f} CPU  (target >= 0.33)"
    )
    print(f"rate speed / reference speed: {(n / rate_s) / (args.sample / ref_inner):,.0f}x")
    results["machine"]["load_average_after"] = os.getloadavg()
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    before, after = results["machine"]["load_average_before"], os.getloadavg()
    print(
        f"load average (1, 5, 15 min): before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
        f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    if args.profile:
        _, _, prof_out = _run(
            ["--stage", "profile", "--profile-records", str(args.profile_records), "--paths",
             str(usage), str(plans), str(fx), str(OUT / "profile.parquet")]
        )  # fmt: skip
        profile = json.loads(prof_out.strip().splitlines()[-1])
        results["profile"] = profile
        (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"one engine call over {profile['records']:,} records:")
        for name, t in profile["stages"].items():
            print(f"  {name:32s} {t['seconds']:7.2f} s wall {t['cpu_s']:7.2f} CPU-s")
        print(f"  engine peak memory per record: {profile['engine_bytes_per_record']:,.0f} bytes")


def _kept(usage: Path, plans: Path, fx: Path, records: int) -> bool:
    """Whether ``--keep``'s folder holds a synthetic file of ``records`` records already."""
    if not (usage.is_file() and plans.is_file() and fx.is_file()):
        return False
    import pyarrow.parquet as pq

    return bool(pq.ParquetFile(usage).metadata.num_rows == records)


def _run_generate(
    records: int, seed: int, usage: Path, plans: Path, fx: Path
) -> tuple[float, float, str]:
    return _run_cli(
        [
            "synth",
            "--records",
            str(records),
            "--seed",
            str(seed),
            "--out",
            str(usage),
            "--plans-out",
            str(plans),
            "--fx-out",
            str(fx),
        ]
    )


def _run_cli(cli_args: list[str]) -> tuple[float, float, str]:
    return _spawn([sys.executable, "-m", "roamlike.cli", *cli_args])


if __name__ == "__main__":
    main()
