"""SIGKILL the real server under load: every acknowledged event is stored exactly once, with the
answer given; retried unacknowledged events are applied once."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx

from roamlike.service.tenants import add_tenant, put_plans
from roamlike.state import migrate, open_store
from roamlike.synth.generator import generate
from service.server import kill_group, running_server

SYNTH = generate(300, seed=23, start=dt.date(2026, 1, 1), months=1)


def _requests() -> list[list[dict[str, Any]]]:
    rows = []
    for row in SYNTH.usage.to_dicts():
        row["started_at"] = row["started_at"].isoformat()
        rows.append({k: v for k, v in row.items() if v is not None})
    # requests of 1 to 5 records, in order
    out, i = [], 0
    while i < len(rows):
        size = 1 + i % 5
        out.append(rows[i : i + size])
        i += size
    return out


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    fx = tmp_path / "fx.csv"
    fx.write_text(
        "date,currency,units_per_eur\n"
        + "".join(f"{d.isoformat()},{c},{r}\n" for d, c, r in SYNTH.fx_rows),
        encoding="utf-8",
    )
    with open_store(state) as store:
        migrate(store)
        _, key = add_tenant(store, "acme")
        put_plans(
            store,
            _tenant_id(store),
            json.dumps({"plans": SYNTH.plans}, default=str),
            "json",
            "2017-01-01T00:00:00.000000+00:00",
        )
    headers = {"authorization": f"Bearer {key}"}
    requests = _requests()
    acked: dict[int, Any] = {}
    stop = threading.Event()

    with running_server(tmp_path, "--state", state, "--fx", str(fx)) as (base, proc):
        # warm the engine (compiled kernel) before the load
        warm = httpx.post(
            f"{base}/v1/events",
            json={"records": [{"record_id": "warm"}]},
            headers=headers,
            timeout=120,
        )
        assert warm.status_code == 200, warm.text

        def send(i: int) -> None:
            if stop.is_set():
                return
            try:
                r = httpx.post(
                    f"{base}/v1/events", json={"records": requests[i]}, headers=headers, timeout=30
                )
            except httpx.TransportError:
                return
            if r.status_code == 200:
                acked[i] = r.json()

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(send, i) for i in range(len(requests))]
            deadline = time.monotonic() + 30
            while len(acked) < len(requests) // 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            kill_group(proc)  # SIGKILL, mid-load
            stop.set()
            for f in futures:
                f.result()
    assert 0 < len(acked) < len(requests), "the kill must fall while requests are in flight"

    with running_server(tmp_path, "--state", state, "--fx", str(fx)) as (base, _):

        def retry(records: list[dict[str, Any]]) -> Any:
            r = httpx.post(
                f"{base}/v1/events", json={"records": records}, headers=headers, timeout=120
            )
            assert r.status_code == 200, r.text
            return r.json()

        with ThreadPoolExecutor(8) as pool:  # the client retries everything
            retried = dict(enumerate(pool.map(retry, requests)))
    for i, answer in acked.items():
        assert retried[i] == answer, f"request {i}: acknowledged answer changed after restart"
    with open_store(state) as store, store.transaction() as tx:
        stored = tx.execute("SELECT record_id, count(*) FROM service_events GROUP BY record_id")
    ids = {r["record_id"] for records in requests for r in records} | {"warm"}
    assert {str(rid) for rid, _ in stored} == ids
    assert all(int(n) == 1 for _, n in stored)


def _tenant_id(store: Any) -> str:
    with store.transaction() as tx:
        return str(tx.execute("SELECT tenant_id FROM service_tenants")[0][0])
