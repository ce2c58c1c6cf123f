"""Where the wall time of a real ``roamlike rate [--state]`` command goes, imports included.

``bench_state_timeline.py`` times the parts of a run inside one process that imported
everything first; this script runs the command itself, each run in a process of its own as
``roamlike rate`` starts (``roamlike.cli.main``: the input's early read and the store's head
begun while the engine is still being imported), with an import hook that wraps the store's,
the pipeline's and the command's functions as their modules load and notes the engine's steps
(``roamlike.rating.engine.STEP_HOOK``). Rounds alternate the run without a store (``plain``)
and with one (``state``, a fresh copy of ``STORE.db`` each time), and the medians of the
phases of the main thread are compared:

* ``engine start``: the command's imports, the plans and FX, the run's head (what the main
  thread does before ``rate_usage``); of it, the main thread's own CPU (``main_cpu_before``)
  and, on Linux, the time it was runnable but had no core (``main_waited``: the run's other
  threads or other processes held both);
* ``engine``: ``rate_usage`` (with a store: the preload's readers and claim run beside it);
  of it, the wait for the preload's counters (``counters_wait``);
* ``tail``: from the end of ``rate_usage`` to the end of the command (outputs, the store's
  writes, the seal, the commit and the checkpoint).

::

    python benchmarks/bench_state_command.py USAGE PLANS FX STORE.db \\
        --rounds 5 [--folder /dev/shm] [--realtime 50] [--show 1]

with the files ``bench_state.py`` leaves in ``benchmarks/out/state`` (``day.parquet``,
``plans.yaml``, ``fx.csv``, ``template.db``).

``--show N`` prints the spans of N ``state`` runs: start, end, wall and the thread's CPU of
each wrapped call, and on Linux the time its thread was runnable without a core (``queued``;
what is left of the wall is a wait for a lock, Python's among them, or for another thread).

``--folder`` holds the store's copy and the outputs (a folder in memory takes the disk's
flushes out of the comparison; the default, a temporary folder beside the store, keeps them).
Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_state import _fsynced_copy, _schema_for  # this folder: run as a script

#: Run in the child: wraps (module, function) pairs as their modules are imported, notes the
#: engine's steps, and prints the spans as one JSON line on stderr when the command exits.
_LAUNCH = r"""
import functools, importlib.abc, importlib.util, json, os, sys, threading, time
T0 = time.perf_counter()
SPANS = []
PARTS = json.loads(sys.argv[1])
def queued():  # Linux: this thread's time runnable without a core so far [s]; else 0
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except OSError:
        return 0.0
def note(start, label, cpu, waited=0.0):
    end = time.perf_counter() - T0
    SPANS.append((start - T0, end, threading.current_thread().name, label, cpu, waited))
def wrap(module, name):
    owner = module
    *path, last = name.split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, last)
    label = module.__name__.rsplit(".", 1)[-1] + "." + name
    if name == "exit_now":
        def leave(*args, **kwargs):
            sys.stderr.write("\nSPANS " + json.dumps({"wall": time.perf_counter() - T0,
                "cpu": time.process_time(), "spans": sorted(SPANS)}) + "\n")
            sys.stderr.flush()
            return real(*args, **kwargs)
        setattr(owner, last, leave)
        return
    @functools.wraps(real)
    def timed(*args, **kwargs):
        start, cpu, waited = time.perf_counter(), time.thread_time(), queued()
        if label == "pipeline.rate_usage":  # the main thread's own CPU before the engine
            note(start, "main thread CPU before the engine", cpu)
            # Linux: the time the main thread was runnable but had no core
            note(start, "main thread run-queue wait before the engine", waited)
        try:
            return real(*args, **kwargs)
        finally:
            note(start, label, time.thread_time() - cpu, queued() - waited)
    setattr(owner, last, timed)
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in PARTS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        loader, run = spec.loader, spec.loader.exec_module
        def exec_module(module):
            run(module)
            if fullname == "roamlike.rating.engine":
                module.STEP_HOOK = lambda step: note(time.perf_counter(), "step " + step, 0.0)
            for name in PARTS[fullname]:
                try:
                    wrap(module, name)
                except AttributeError:
                    pass
        loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Hook())
sys.argv = ["roamlike", *sys.argv[2:]]
from roamlike.cli import main
main()
"""

#: What is wrapped, by module (as the caller looks the name up).
PARTS: dict[str, list[str]] = {
    "roamlike.cli.common": ["exit_now"],
    "roamlike.input_reader": ["open_input"],
    "roamlike.cli.rate_commands": ["_load_fx"],
    "roamlike.pipeline": ["rate_usage", "_totals"],
    "roamlike.io.background": ["BackgroundTableWriter.commit"],
    "roamlike.state.begin": ["begin_run", "Begun.ready"],
    "roamlike.state.store": ["open_store"],
    "roamlike.state.bulk": ["keys_table", "select_for_keys"],
    "roamlike.state.counters": ["load_stored", "from_stored"],
    "roamlike.rating.engine": [],  # its steps (STEP_HOOK)
    "roamlike.state.preload": ["_load", "_read", "_claim", "Preload.take_known",
                               "Preload.take_counters", "Preload.keys_for"],
    "roamlike.state.hooks": ["StoreHooks.prepare", "StoreHooks.absorb", "StoreHooks._write",
                             "days_of_rated", "stored_counters", "prepare_pack"],
    "roamlike.state.batch": ["seal_outputs", "record_run", "move_outputs", "copy_run_into_file",
                             "compact_store"],
}  # fmt: skip


def run_once(command: list[str], env: dict[str, str], realtime: list[str]) -> dict[str, Any]:
    """One command in a process of its own: its spans, wall and CPU seconds (until it exits)."""
    done = subprocess.run(
        [*realtime, sys.executable, "-c", _LAUNCH, json.dumps(PARTS), *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("SPANS ")]
    if done.returncode not in (0, 1) or not lines:
        raise SystemExit(f"failed ({done.returncode}): {done.stderr[-2000:]}")
    found: dict[str, Any] = json.loads(lines[-1][len("SPANS ") :])
    return found


def phases(run: dict[str, Any]) -> dict[str, float]:
    """The main thread's phases of a run (module docstring), in seconds."""
    engine = [s for s in run["spans"] if s[3] == "pipeline.rate_usage"]
    start, end = (engine[0][0], engine[0][1]) if engine else (0.0, 0.0)
    before = [s[4] for s in run["spans"] if s[3] == "main thread CPU before the engine"]
    waited = [s[4] for s in run["spans"] if s[3] == "main thread run-queue wait before the engine"]
    return {
        "wall_s": run["wall"],
        "cpu_s": run["cpu"],
        "engine_start_s": start,
        # the main thread's own CPU until then: what the wait above it is not
        "main_cpu_before_s": before[0] if before else 0.0,
        # the time it was runnable without a core (a thread of the run or another process held
        # both): 0 where not measured
        "main_waited_s": waited[0] if waited else 0.0,
        "engine_s": end - start,
        # of it, the wait for the preload's counters (``Preload.take_counters``)
        "counters_wait_s": sum(s[1] - s[0] for s in run["spans"] if s[3].endswith("take_counters")),
        "tail_s": run["wall"] - end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs=4, help="USAGE PLANS FX STORE.db")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", type=Path, help="where the store's copy and outputs go")
    parser.add_argument("--realtime", type=int, metavar="PRIORITY", help="chrt -f PRIORITY")
    parser.add_argument("--show", type=int, default=0, help="print the spans of N state runs")
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="the src folder of another roamlike (e.g. `git archive main` unpacked): adds the "
        "variant `compare`, the `state` run with that code, alternated with the others",
    )
    args = parser.parse_args()
    usage, plans, fx, store = args.paths
    realtime = [] if args.realtime is None else ["chrt", "-f", str(args.realtime)]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(
        prefix="roamlike-cmd-", dir=args.folder or Path(store).parent
    ) as tmp:
        folder = Path(tmp)
        common = ["rate", usage, "--plans", plans, "--fx", fx, "--quiet"]
        outs = [
            *("--out", str(folder / "rated.parquet")),
            *("--rejects", str(folder / "rejects.parquet")),
            *("--notifications", str(folder / "notes.parquet")),
        ]
        results: dict[str, list[dict[str, float]]] = {"plain": [], "state": []}
        if args.compare_src is not None:
            results["compare"] = []
        shown = 0
        load = os.getloadavg()[0]
        for r in range(args.rounds + 1):  # the first round untimed (caches, bytecode)
            for variant in results:
                for p in folder.iterdir():
                    p.unlink()
                extra: list[str] = []
                if variant in ("state", "compare"):
                    # flushed: on a disk the run's checkpoint would otherwise flush the whole
                    # copy just written (254 MB: 0.27 s measured instead of 0.03-0.04)
                    source = (
                        _schema_for(Path(store), args.compare_src, Path(store).parent)
                        if variant == "compare"
                        else Path(store)
                    )
                    _fsynced_copy(source, folder / "state.db")
                    extra = ["--state", str(folder / "state.db")]
                run = run_once(
                    [*common, *outs, *extra],
                    env if variant != "compare" else {**env, "PYTHONPATH": str(args.compare_src)},
                    realtime,
                )
                if r == 0:
                    continue
                results[variant].append(phases(run))
                if variant == "state" and shown < args.show:
                    shown += 1
                    print("    start     end   wall    cpu  queued  thread  part")
                    for start, end, thread, part, cpu, queued in run["spans"]:
                        print(f"  {start:7.3f} {end:7.3f} {end - start:6.3f} {cpu:6.3f} "
                              f"{queued:7.3f}  {thread[:24]:24s} {part}")  # fmt: skip
                m = results[variant][-1]
                print(f"round {r} {variant:7s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
        med = {
            v: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for v, ms in results.items()
        }
        for variant, m in med.items():
            print(f"median {variant:7s} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))
        for variant in [v for v in med if v != "plain"]:
            print(f"store's share ({variant}): " + "  ".join(
                f"{k} +{med[variant][k] - med['plain'][k]:.3f}" for k in med["plain"]))  # fmt: skip
            print(f"ratio wall ({variant}) {med[variant]['wall_s'] / med['plain']['wall_s']:.2f}")
        if "compare" in results:
            faster = sum(
                s["wall_s"] < c["wall_s"]
                for s, c in zip(results["state"], results["compare"], strict=True)
            )
            print(f"state faster than compare in {faster} rounds of {len(results['state'])}")
        print(f"load average (1 min) {load:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
