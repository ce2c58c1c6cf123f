"""Timeline of one ``roamlike rate --state`` run: each part of the store's work and of the run,
with its thread, wall span and thread CPU.

Usage::

    python benchmarks/bench_state_timeline.py USAGE PLANS FX STORE.db [--plain]

Runs ``roamlike rate USAGE --plans PLANS --fx FX --out … --rejects … --notifications …
--state COPY --quiet`` once in this process (``COPY``: a fresh copy of ``STORE.db``, flushed to
disk first; ``--plain``: the same run without ``--state``), with the store's and the pipeline's
functions wrapped to note when each starts and ends on which thread and the CPU time that thread
spent in it. Prints, per run, the parts in order of their start (wall seconds from the start of
the command, span, thread CPU) and the process's wall and CPU seconds. Use the files of
``benchmarks/bench_state.py`` (``benchmarks/out/state/day.parquet``, ``plans.yaml``, ``fx.csv``,
``template.db``). Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_state import _fsynced_copy

#: (start, end, thread, part, thread CPU seconds) of each wrapped call of the current run.
SPANS: list[tuple[float, float, str, str, float]] = []
T0 = [time.perf_counter()]


def _wrap(module: str, name: str, label: str | None = None) -> None:
    """Replace ``module.name`` (a function, or ``Class.method``) by a version that notes its
    span; every ``from module import name`` done before is not affected, so wrap the name in
    the module that calls it."""
    owner: Any = importlib.import_module(module)
    path = name.split(".")
    for part in path[:-1]:
        owner = getattr(owner, part)
    real: Callable[..., Any] = getattr(owner, path[-1])
    text = label or f"{module.rsplit('.', 1)[-1]}.{name}"

    @functools.wraps(real)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            SPANS.append(
                (
                    start - T0[0],
                    time.perf_counter() - T0[0],
                    threading.current_thread().name,
                    text,
                    time.thread_time() - cpu,
                )
            )

    setattr(owner, path[-1], timed)


#: What is wrapped: (module, function) as the caller looks it up.
PARTS = [
    ("roamlike.cli.rate_commands", "load_plans"),
    ("roamlike.cli.rate_commands", "_load_fx"),
    ("roamlike.rating.compiled", "_load"),
    ("roamlike.input_reader", "open_input"),
    ("roamlike.pipeline", "rate_usage"),
    ("roamlike.pipeline", "_totals"),
    ("roamlike.io.background", "BackgroundTableWriter.commit"),
    ("roamlike.cli.state_commands", "rate_stateful"),
    ("roamlike.cli.state_commands", "open_store"),
    ("roamlike.state.batch", "require_current"),
    ("roamlike.state.batch", "fingerprint"),
    ("roamlike.state.begin", "start_preload"),
    ("roamlike.state.batch", "rate_file"),
    ("roamlike.state.batch", "seal_outputs"),
    ("roamlike.state.batch", "record_run"),
    ("roamlike.state.batch", "move_outputs"),
    ("roamlike.state.batch", "compact_store"),
    ("roamlike.state.hooks", "StoreHooks.prepare"),
    ("roamlike.state.hooks", "StoreHooks.absorb"),
    ("roamlike.state.hooks", "StoreHooks._write"),
    ("roamlike.state.hooks", "StoreHooks._wait"),
    ("roamlike.state.hooks", "StoreHooks.finish"),
    ("roamlike.state.hooks", "write_rows"),
    ("roamlike.state.hooks", "prepare_rows"),
    ("roamlike.state.hooks", "write_pack"),
    ("roamlike.state.hooks", "prepare_pack"),
    ("roamlike.state.hooks", "days_of_rated"),
    ("roamlike.state.hooks", "stored_counters"),
    ("roamlike.state.preload", "_load"),
    ("roamlike.state.preload", "_read"),
    ("roamlike.state.preload", "_claim"),
    ("roamlike.state.preload", "Preload.take"),
    ("roamlike.state.begin", "begin_run"),
    ("roamlike.state.begin", "Begun.ready"),
    ("roamlike.state.batch", "begin_run"),
    ("roamlike.state.preload", "Preload.take_known"),
    ("roamlike.state.preload", "Preload.take_counters"),
]


def _instrument() -> None:
    for module, name in PARTS:
        try:
            _wrap(module, name)
        except (AttributeError, ImportError):  # a part this version does not have
            print(f"(not wrapped: {module}.{name})")


def run_once(argv: list[str], early: bool = False) -> tuple[float, float]:
    """Run the command in this process; its wall and process CPU seconds. ``early``: the
    input's read and the store's head begun first, as ``roamlike.cli.main`` begins them
    while it imports (here everything is imported already)."""
    from roamlike.cli import app
    from roamlike.input_reader import start_early
    from roamlike.state.begin import begin_early

    SPANS.clear()
    T0[0] = time.perf_counter()
    cpu = time.process_time()
    if early:
        start_early(argv[1:])
        begin_early(argv[1:])
    code: object = 0
    with app.only(argv):
        try:
            app(argv, standalone_mode=False)
        except SystemExit as exc:  # exit 1: rejects
            code = exc.code
    if code not in (0, 1, None):
        raise SystemExit(f"`roamlike {' '.join(argv)}` failed ({code})")
    return time.perf_counter() - T0[0], time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs=4, help="USAGE PLANS FX STORE.db")
    parser.add_argument("--plain", action="store_true", help="the run without --state")
    parser.add_argument(
        "--rate-arg", action="append", default=[], help="one more argument of `rate` (repeat)"
    )
    parser.add_argument(
        "--early",
        action="store_true",
        help="begin the input's read and the store's head as the command line does before "
        "its imports (roamlike.cli.main), at the start of the timed run",
    )
    args = parser.parse_args()
    import roamlike  # noqa: F401  # first, as the command line imports it (allocator options)
    from roamlike.cli import app

    with app.only(["rate"]):  # imported lazily by `rate`: wrap it first
        importlib.import_module("roamlike.cli.state_commands")
    _instrument()
    usage, plans, fx, store = args.paths
    with tempfile.TemporaryDirectory(prefix="roamlike-timeline-") as tmp:
        for r in range(1):  # one run per process: the compiled pass loads once per process
            folder = Path(tmp) / f"run{r}"
            folder.mkdir()
            argv = ["rate", usage, "--plans", plans, "--fx", fx, "--quiet",
                    "--out", str(folder / "rated.parquet"),
                    "--rejects", str(folder / "rejects.parquet"),
                    "--notifications", str(folder / "notes.parquet"), *args.rate_arg]  # fmt: skip
            if not args.plain:
                _fsynced_copy(Path(store), folder / "state.db")
                argv += ["--state", str(folder / "state.db")]
            wall, cpu = run_once(argv, args.early)
            print(f"run {r}: wall {wall:.3f} s, process CPU {cpu:.3f} s")
            print(f"  {'start':>7s} {'end':>7s} {'span':>6s} {'cpu':>6s}  {'thread':24s} part")
            for start, end, thread, part, tcpu in sorted(SPANS):
                print(
                    f"  {start:7.3f} {end:7.3f} {end - start:6.3f} {tcpu:6.3f}  "
                    f"{thread[:24]:24s} {part}"
                )


if __name__ == "__main__":
    main()
