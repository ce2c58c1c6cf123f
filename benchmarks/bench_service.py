"""Load test of ``roamlike serve`` on loopback with ``wrk``, bounded in time.

Scenarios (each ``--seconds`` long, ``--connections`` connections, one wrk thread):

* ``quote``: ``POST /v1/quote`` on an inline plan, rotating over ``--distinct`` different
  questions (voice calls of 1..N seconds), after a 3-second warm-up pass of the same load (so
  every worker's memo holds them);
* ``quote_cold``: the same with a question never asked before in every request (each one an
  engine call, gathered with concurrent ones);
* ``session_update``: ``POST /v1/sessions/{id}/update`` round-robin over 1,000 open data
  sessions (each update: 1,000 bytes used, rated through the events writer, then a new grant);
* ``events_1`` / ``events_100``: ``POST /v1/events`` with 1 or 100 new records per request
  (unique record ids, ``--subscribers`` per wrk thread, 5,000 by default), durably committed
  (SQLite WAL, synchronous=FULL, group commit) before each answer.

For each: requests/s, records/s, latency p50/p99 (wrk's ``--latency``), the CPU seconds of the
server (its process group: per request, and its share of the machine) and of wrk, wrk's share
of the machine's CPU time, since the load generator shares the cores with the server, and the
machine's 1-minute load average before and after (other work on a shared machine).

``--commit-cost`` instead measures the CPU of one commit group in one process (no HTTP; the
least of three rounds): 16 events of one record, 16 session updates, 16 events of 100 records,
each group worked out on a snapshot and committed (``commit_group_in_turn``), with the paths
the commits took.

``--stages`` instead drives the app in one process, no HTTP, and splits each request's CPU
by thread (event loop, preparer, writer): ``benchmarks/service_stages.py``; ``--clients N``
(default 16) sets how many requests a commit group gathers (with ``--only events_100``, 16
clients make groups of 1,600 records, 4 clients groups of 400). ``--stages --parts`` times
events of 100 records part by part (counters' load, rating, answers, rows, the writes, the
commit, the engine's steps, the collector): ``benchmarks/service_parts.py``.

``--crossover`` instead measures where the per-record raters (the memoised integer rater for
the records in its scope, as here, else the reference rater) stop being cheaper than the batch
engine for one commit group (least CPU seconds of several runs per group of 1 to 3,200
records of subscribers with stored counters, the group's answers, day rows and counter rows
included, the two alternated; one process, no HTTP): the measurement behind
``roamlike.service.group_rating.SMALL_GROUP_MAX`` and ``MEMOISED_GROUP_MAX``.

Usage::

    python benchmarks/bench_service.py [--seconds 10] [--connections 32] [--workers 1]
        [--state postgresql://… | --postgres] [--only quote,events_1,…]
    python benchmarks/bench_service.py --crossover
    python benchmarks/bench_service.py --commit-cost
    python benchmarks/bench_service.py --stages [--only events_100] [--clients 16]
    python benchmarks/bench_service.py --stages --parts [--clients 16]

The server inherits the environment: ``ROAMLIKE_GROUP_PATHS=threads`` (or ``thread-prep``,
``loop-prep``) runs the commit groups on another path for an A/B run
(``roamlike.service.writer``; ``docs/service-speed.md``, "Round 8"); ``ROAMLIKE_WAL_FLUSH=commit``
runs round 8's commit (``synchronous=FULL`` inside the writers' lock, SQLite's own
checkpoints) instead of round 9's flush after the ``COMMIT`` (``roamlike.service.loop_commit``);
``ROAMLIKE_HOT_ROUTES=off`` sends the events and session steps through Starlette's router
instead of round 10's layer before it (``roamlike.service.hot_routes``);
``ROAMLIKE_INTERFACE=asgi`` serves every request through granian's ASGI interface instead of
round 11's RSGI layer and bridge (``roamlike.service.rsgi``).

Needs ``wrk`` (Debian package ``wrk``; installed with apt-get when missing and running as root).
Writes ``benchmarks/out/service.json``. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).parents[1]

_QUOTE_LUA = """
local n = 0
local distinct = %(distinct)d
local cold = %(cold)s
local plan = [[%(plan)s]]
local tid = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  n = n + 1
  local seconds
  if cold then seconds = 100000 + tid * 10000000 + n else seconds = 1 + (n %% distinct) end
  if seconds > 86400 then seconds = 1 + (seconds %% 86400) end
  local body = '{"plan":' .. plan .. ',"event_type":"voice_mo","visited_country":"FR",' ..
    '"started_at":"2026-02-01T10:00:00Z","duration_s":' .. seconds .. '}'
  return wrk.format("POST", "/v1/quote", {["Content-Type"] = "application/json"}, body)
end
"""

_SESSIONS_LUA = """
local n = 0
local sessions = %(sessions)d
local key = "%(key)s"
function request()
  local s = n %% sessions
  local number = math.floor(n / sessions) + 1
  n = n + 1
  local body = '{"request_number":' .. number .. ',"used_units":1000,"requested_units":1000000}'
  return wrk.format("POST", "/v1/sessions/bench" .. s .. "/update",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
"""

_EVENTS_LUA = """
local n = 0
local per = %(per)d
local key = "%(key)s"
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  local parts = {}
  for i = 1, per do
    n = n + 1
    local sub = "b" .. tid .. "-" .. (n %% %(subscribers)d)
    local t = 1767225600 + n
    parts[i] = string.format('{"record_id":"%(run)s-r%%d-%%d","subscriber_id":"%%s",' ..
      '"plan_id":"%(plan_id)s","event_type":"data","started_at":"%%s",' ..
      '"utc_offset_min":60,"home_country":"%(home)s","visited_country":"FR",' ..
      '"volume_bytes":1000000}', tid, n, sub, os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", t))
  end
  local body = '{"records":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/events",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
"""


_DEFAULT_ONLY = "quote,quote_cold,events_1,events_100,session_update"
#: The events scenarios and the records of each of their requests.
_RECORDS_PER_REQUEST = {"events_1": 1, "events_100": 100}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def _group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of every live process of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: pgrp
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _stored(state: str) -> dict[str, int]:
    """Rows in the service's tables (a check that the load did what it claims)."""
    from roamlike.state import open_store

    with open_store(state) as store, store.transaction() as tx:
        return {
            table: int(tx.execute(f"SELECT count(*) FROM {table}")[0][0])
            for table in ("service_events", "service_session_requests")
        }


def _writer_counters(base: str, tries: int = 8) -> list[dict[str, int]]:
    """The events writers' counters (commits by path, records rated, compactions) of the
    workers that answered ``tries`` reads of ``/metrics`` (each worker counts its own, since
    it started: records per commit is the mean group size of that worker)."""
    import httpx2 as httpx

    wanted = ("commits", "commits_snapshot", "commits_changed", "commits_locked",
              "events_rated", "compactions", "compaction_slices",
              "compacted_log_rows", "counters_kept", "counters_read",
              "counters_shared")  # fmt: skip
    seen: dict[tuple[int, ...], dict[str, int]] = {}
    for _ in range(tries):
        text = httpx.get(f"{base}/metrics", timeout=10).text
        found = {
            name: int(float(line.split()[1]))
            for line in text.splitlines()
            for name in wanted
            if line.startswith(f"roamlike_{name}_total ")
        }
        seen[tuple(found.get(n, 0) for n in wanted)] = found
    return list(seen.values())


def _parse_wrk(text: str) -> dict[str, float]:
    def latency_ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests_per_s": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": latency_ms("50"),
        "p99_ms": latency_ms("99"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 0.0 if not socket_errors else 1.0,
    }


def _run_wrk(
    wrk: str, base: str, script: str, seconds: int, connections: int, pgid: int, folder: Path
) -> dict[str, float]:
    lua = folder / "scenario.lua"
    lua.write_text(script, encoding="utf-8")
    server_before = _group_cpu_s(pgid)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), base],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    # wait4 reaps wrk and gives its own CPU time (user + system)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    wall = time.perf_counter() - start
    server_cpu = _group_cpu_s(pgid) - server_before
    result = _parse_wrk(out)
    wrk_cpu = usage.ru_utime + usage.ru_stime
    cores = os.cpu_count() or 1
    result.update(
        wall_s=wall,
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        wrk_cpu_share=wrk_cpu / (wall * cores),
        server_cpu_share=server_cpu / (wall * cores),
        # the machine is shared: the 1-minute load average before and after the scenario
        load_average=(load_before, os.getloadavg()[0]),
    )
    print(out, file=sys.stderr)
    return result


def crossover() -> None:
    """CPU per commit group, reference rater against engine, by group size (module docstring).

    Each group's records are new events of subscribers with stored counters (theirs only, as a
    commit group loads them: plain states for the reference rater, frames for the engine), and
    a group's cost is its rating plus what the service makes of it: the records' answers, the
    day rows and the counters to store. The two paths are
    alternated group by group; the least of several runs is kept (a collector pause or the
    other sessions of a shared machine are not the path's cost)."""
    import polars as pl

    from roamlike.counters import Counters
    from roamlike.law import default_catalog
    from roamlike.reference import CounterStates
    from roamlike.service.group_rating import rate_group
    from roamlike.service.large_groups import counter_rows
    from roamlike.service.schemas import EventRecord
    from roamlike.service.state_rows import states_rows
    from roamlike.synth.generator import generate
    from roamlike.tariffs import FxTable, parse_plans

    synth = generate(10, seed=7)
    plans = parse_plans(json.dumps({"plans": synth.plans}, default=str), "json", "bench")
    plan = next(p for p in plans.values() if p.home_country == "DE")
    catalog, fx = default_catalog(), FxTable()
    ring = 5000

    def records(start: int, n: int) -> list[EventRecord]:
        return [
            EventRecord(
                record_id=f"r{i}",
                subscriber_id=f"s{i % ring}",
                plan_id=plan.id,
                event_type="data",
                started_at=f"2026-01-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:"
                f"{i // 60 % 60:02d}:{i % 60:02d}Z",
                utc_offset_min=60,
                home_country="DE",
                visited_country="FR",
                volume_bytes=1_000_000,
            )
            for i in range(start, start + n)
        ]

    stored = rate_group(records(0, ring), plans, fx, catalog, Counters.empty(), small_group_max=0)
    everyone = stored.counters

    def cost(group: list[EventRecord], limit: int) -> float:
        ids = pl.col("subscriber_id").is_in(sorted({r.subscriber_id or "" for r in group}))
        mine = Counters(
            periods=everyone.periods.filter(ids), subscribers=everyone.subscribers.filter(ids)
        )
        # as the service reads them for each rater: plain states for the reference rater
        carried = CounterStates.from_counters(mine) if limit else mine
        start = time.process_time()
        rating = rate_group(
            group, plans, fx, catalog, carried, {}, small_group_max=limit, memoised_group_max=limit
        )
        rating.answers(group)
        rating.day_tuples("t")
        # the counter rows as the service builds them: from the per-record raters' plain
        # states, or from the engine's frames
        if limit:
            states_rows(rating.states, "t")
        else:
            counter_rows(rating.counters, "t")
        return time.process_time() - start

    rows = []
    for n in (1, 10, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2000, 2400, 3200, 4800, 6400):
        cpu: dict[str, list[float]] = {"reference": [], "engine": []}
        paths = [("reference", 10**9), ("engine", 0)]  # "reference": either per-record rater
        for k in range(max(6, 400 // n)):
            group = records(ring + k * n, n)
            for path, limit in paths if k % 2 else paths[::-1]:
                cpu[path].append(cost(group, limit))
        best = {path: min(times) for path, times in cpu.items()}
        rows.append({"records": n, "per_record_cpu_ms": best["reference"] * 1e3,
                     "engine_cpu_ms": best["engine"] * 1e3})  # fmt: skip
        print(
            f"{n:>5} records: per-record {best['reference'] * 1e3:8.2f} ms CPU, "
            f"engine {best['engine'] * 1e3:8.2f} ms CPU",
            flush=True,
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "service_crossover.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


def commit_cost(rounds: int = 3) -> None:
    """CPU of one commit group in one process, no HTTP (module docstring): the steady figure
    when the machine is shared."""
    import asyncio
    import collections

    import msgspec

    from roamlike.law import default_catalog
    from roamlike.service.events import Submission, commit_group_in_turn
    from roamlike.service.schemas import EventRecord, SessionOpen
    from roamlike.service.session_steps import SessionStep
    from roamlike.service.sessions import open_session
    from roamlike.service.snapshot import no_lock
    from roamlike.service.tenants import add_tenant, plan_versions, put_plans
    from roamlike.state import migrate, open_store
    from roamlike.synth.generator import generate
    from roamlike.tariffs import FxTable

    synth = generate(10, seed=7)
    plan = next(p for p in synth.plans if p["home_country"] == "DE")
    catalog, fx = default_catalog(), FxTable()
    loop = asyncio.new_event_loop()
    rows = []
    with tempfile.TemporaryDirectory(prefix="roamlike-bench-") as tmp:
        store = open_store(str(Path(tmp) / "state.db"))
        migrate(store)
        tenant, _ = add_tenant(store, "bench")
        tid = tenant.tenant_id
        put_plans(store, tid, json.dumps({"plans": synth.plans}, default=str), "json",
                  "2017-01-01T00:00:00.000000+00:00")  # fmt: skip
        versions = plan_versions(store, tid)
        for i in range(1000):
            opened = msgspec.convert(
                {"session_id": f"s{i}", "subscriber_id": f"cc{i}", "plan_id": plan["id"],
                 "event_type": "data", "visited_country": "FR",
                 "started_at": "2026-02-01T10:00:00Z", "requested_units": 10**6,
                 "validity_s": 36000},
                SessionOpen,
            )  # fmt: skip
            open_session(store, tid, versions, opened, fx, catalog)
        n = 0

        def group(kind: str, size: int, per: int) -> list[Submission]:
            nonlocal n
            out = []
            for _ in range(size):
                n += 1
                if kind == "session":
                    step = SessionStep(f"s{n % 1000}", n // 1000 + 1, 1000, 10**6, False)
                    out.append(Submission(tid, versions, [], loop.create_future(), None, step))
                    continue
                records = []
                for _ in range(per):
                    n += 1
                    records.append(EventRecord(
                        record_id=f"r{n}", subscriber_id=f"b{n % 5000}", plan_id=plan["id"],
                        event_type="data", started_at=time.strftime(
                            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(1767225600 + n)),
                        utc_offset_min=60, home_country="DE", visited_country="FR",
                        volume_bytes=1_000_000,
                    ))  # fmt: skip
                out.append(Submission(tid, versions, records, loop.create_future()))
            return out

        cache: dict[Any, str] = {}
        for kind, size, per, count in (
            ("events", 16, 1, 200),
            ("session", 16, 1, 200),
            ("events", 16, 100, 8),
        ):
            best = float("inf")
            paths: collections.Counter[str] = collections.Counter()
            for _ in range(rounds):
                groups = [group(kind, size, per) for _ in range(count)]
                start = time.process_time()
                for g in groups:
                    paths[commit_group_in_turn(store, no_lock, g, fx, catalog, cache)[3]] += 1
                best = min(best, (time.process_time() - start) / count)
            records = size * (per if kind == "events" else 1)
            rows.append(
                {
                    "group": f"{kind} {size} x {per}",
                    "cpu_ms_per_group": best * 1e3,
                    "cpu_us_per_record": best * 1e6 / records,
                    "paths": dict(paths),
                }
            )
            print(
                f"{kind:>7} {size} x {per:>3}: {best * 1e3:7.2f} ms CPU per group, "
                f"{best * 1e6 / records:6.1f} us per record  {dict(paths)}",
                flush=True,
            )
        store.close()
    OUT.mkdir(exist_ok=True)
    (OUT / "service_commit_cost.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--distinct", type=int, default=1000)
    parser.add_argument(
        "--subscribers", type=int, default=5000, help="subscribers per wrk thread (events)"
    )
    parser.add_argument("--state", default=None, help="store URL (default: a SQLite file)")
    parser.add_argument(
        "--only",
        default=_DEFAULT_ONLY,
        help="scenarios to run",
    )
    parser.add_argument("--crossover", action="store_true", help="reference vs engine per group")
    parser.add_argument(
        "--commit-cost", action="store_true", help="CPU per commit group, one process, no HTTP"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="CPU per request by thread, the app in one process (benchmarks/service_stages.py)",
    )
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent clients of --stages (group size)"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="with --stages: events of 100 records, CPU per part (benchmarks/service_parts.py)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a throwaway durable PostgreSQL cluster (tests/pg_cluster.py) as the store",
    )
    args = parser.parse_args()
    if args.crossover:
        crossover()
        return
    if args.commit_cost:
        commit_cost()
        return
    if args.stages:
        sys.path.insert(0, str(Path(__file__).parent))
        from service_stages import stages

        OUT.mkdir(exist_ok=True)
        if args.parts:
            from service_parts import parts

            found = parts(clients=args.clients)
            (OUT / "service_parts.json").write_text(json.dumps(found, indent=2), encoding="utf-8")
            return
        # the scenarios asked for with --only (default: events of one record, session updates)
        asked = [
            s for s in args.only.split(",") if s in ("events_1", "events_100", "session_update")
        ]
        default = args.only == _DEFAULT_ONLY
        rows = stages(
            clients=args.clients,
            scenarios=("events_1", "session_update") if default else tuple(asked),
        )
        (OUT / "service_stages.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
        return
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_cluster import running_cluster

        with running_cluster(durable=True) as cluster:
            args.state = cluster.create_database("bench")
            run(args)
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    """The load scenarios against one server (module docstring)."""
    wrk = _ensure_wrk()
    import httpx2 as httpx

    from roamlike.service.tenants import add_tenant, put_plans
    from roamlike.state import migrate, open_store
    from roamlike.synth.generator import generate

    synth = generate(10, seed=7)
    plan = next(p for p in synth.plans if p["home_country"] == "DE")
    results: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "cores": os.cpu_count(),
        "seconds": args.seconds,
        "connections": args.connections,
        "workers": args.workers,
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory(prefix="roamlike-bench-") as tmp:
        folder = Path(tmp)
        state = args.state or str(folder / "state.db")
        results["store"] = "postgresql" if state.startswith("postgresql") else "sqlite"
        with open_store(state) as store:
            migrate(store)
            _, key = add_tenant(store, f"bench{os.getpid()}")
            with store.transaction() as tx:
                tenant_id = str(
                    tx.execute(
                        "SELECT tenant_id FROM service_tenants WHERE name = ?",
                        (f"bench{os.getpid()}",),
                    )[0][0]
                )
            put_plans(
                store,
                tenant_id,
                json.dumps({"plans": synth.plans}, default=str),
                "json",
                "2017-01-01T00:00:00.000000+00:00",
            )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = (folder / "server.log").open("wb")
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("roamlike")),
                "serve",
                "--state",
                state,
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("server did not start: " + (folder / "server.log").read_text())
                    time.sleep(0.2)
            plan_json = json.dumps(plan, default=str)
            headers = {"authorization": f"Bearer {key}"}
            # warm: the compiled kernel in every worker (a large group of rated records of
            # subscribers of their own: the engine's compiled pass), and the quote memo
            for _ in range(4 * args.workers):
                httpx.post(
                    f"{base}/v1/events",
                    json={"records": [{"record_id": f"warm{_}"}]},
                    headers=headers,
                    timeout=120,
                )
                warm = [
                    {"record_id": f"warm{_}-{i}", "subscriber_id": f"warm{i}",
                     "plan_id": plan["id"], "event_type": "data",
                     "started_at": "2026-01-01T00:00:00Z", "utc_offset_min": 60,
                     "home_country": "DE", "visited_country": "FR", "volume_bytes": 1000}
                    for i in range(301)
                ]  # fmt: skip
                httpx.post(
                    f"{base}/v1/events", json={"records": warm}, headers=headers, timeout=120
                )
            with httpx.Client(timeout=120) as client:
                for w in range(args.workers):
                    for s in range(1, args.distinct + 1):
                        body = (
                            '{"plan":' + plan_json + ',"event_type":"voice_mo",'
                            '"visited_country":"FR","started_at":"2026-02-01T10:00:00Z",'
                            f'"duration_s":{s}}}'
                        )
                        client.post(
                            f"{base}/v1/quote",
                            content=body,
                            headers={"content-type": "application/json"},
                        )
                    del w
            if "session_update" in args.only:
                with httpx.Client(timeout=120) as client:
                    for i in range(1000):
                        opened = client.post(
                            f"{base}/v1/sessions",
                            json={
                                "session_id": f"bench{i}",
                                "subscriber_id": f"cc{i}",
                                "plan_id": plan["id"],
                                "event_type": "data",
                                "visited_country": "FR",
                                "started_at": "2026-02-01T10:00:00Z",
                                "requested_units": 10**6,
                                "validity_s": 3600,
                            },
                            headers=headers,
                        )
                        assert opened.status_code == 200, opened.text
            scripts = {
                "quote": _QUOTE_LUA
                % {"distinct": args.distinct, "cold": "false", "plan": plan_json},
                "quote_cold": _QUOTE_LUA
                % {"distinct": args.distinct, "cold": "true", "plan": plan_json},
                "session_update": _SESSIONS_LUA % {"sessions": 1000, "key": key},
            }

            def events(per: int, run: int) -> str:
                # record ids of their own for each run of a scenario: a run after another on the
                # same store would otherwise re-send ids already stored, answered as replays
                return _EVENTS_LUA % {
                    "per": per,
                    "key": key,
                    "plan_id": plan["id"],
                    "home": "DE",
                    "subscribers": args.subscribers,
                    "run": f"run{run}",
                }

            for run, name in enumerate(args.only.split(",")):
                per = _RECORDS_PER_REQUEST.get(name, 1)
                script = events(per, run) if name in _RECORDS_PER_REQUEST else scripts[name]
                if name == "quote":  # every worker's memo warm: the same load, not measured
                    _run_wrk(wrk, base, script, 3, args.connections, server.pid, folder)
                r = _run_wrk(wrk, base, script, args.seconds, args.connections, server.pid, folder)
                r["records_per_s"] = r["requests_per_s"] * per
                done = r["requests_per_s"] * r["wall_s"]
                r["server_cpu_ms_per_request"] = r["server_cpu_s"] * 1e3 / max(done, 1.0)
                r["rows_stored"] = _stored(state)
                r["writers"] = _writer_counters(base)
                results["scenarios"][name] = r
                print(
                    f"{name:>11}: {r['requests_per_s']:>9,.0f} req/s {r['records_per_s']:>9,.0f} "
                    f"rec/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                    f"non-2xx {r['non_2xx']:.0f}  server CPU {r['server_cpu_s']:.1f} s "
                    f"({r['server_cpu_share']:.0%}, {r['server_cpu_ms_per_request']:.3f} ms/req)  "
                    f"wrk CPU {r['wrk_cpu_s']:.1f} s ({r['wrk_cpu_share']:.0%} of the machine)  "
                    f"load {r['load_average'][0]:.1f}-{r['load_average'][1]:.1f}  "
                    f"stored {r['rows_stored']}",
                    flush=True,
                )
                for counters in r["writers"]:
                    print(f"{'':>13}a writer since it started: {counters}", flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            log.close()
    OUT.mkdir(exist_ok=True)
    name = "service_postgresql.json" if results["store"] == "postgresql" else "service.json"
    (OUT / name).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
