"""Two worker processes on one SQLite store: their writers take turns, no counter update is lost.

Concurrent one-record events for a few subscribers reach both workers; each group reads and
writes the same subscribers' counters, so a lost update would show as a wrong sum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from service.conftest import make_tenant
from service.server import running_server

PLANS = """
plans:
  - id: de-meter
    home_country: DE
    currency: EUR
    price: "5.00"
    price_includes_vat: true
    billing_period: month
    data_allowance_gb: "10"
    voice_allowance_min: "0"
    sms_allowance: "0"
    out_of_bundle: {voice_per_min: "0.10", sms: "0.10", data_per_mb: "1.00"}
"""
SUBSCRIBERS = ("ann", "ben", "cat")


def _volume(i: int) -> int:
    """Whole kilobytes [B], so the billed bytes drawn on the allowance equal them."""
    return 1000 * (1 + i % 7)


def test_two_workers_share_one_store_without_losing_updates(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    headers = {"authorization": f"Bearer {make_tenant(state, 'acme')}"}
    with running_server(tmp_path, "--state", state, "--workers", "2") as (base, _):
        put = httpx.put(
            f"{base}/v1/plans?from=2020-01-01T00:00:00Z",
            content=PLANS,
            headers={**headers, "content-type": "application/yaml"},
            timeout=60,
        )
        assert put.status_code == 201, put.text

        def post(i: int) -> int:
            record = {
                "record_id": f"r{i}",
                "subscriber_id": SUBSCRIBERS[i % 3],
                "plan_id": "de-meter",
                "event_type": "data",
                "started_at": f"2026-03-02T09:{i // 60:02d}:{i % 60:02d}Z",
                "utc_offset_min": 0,
                "home_country": "DE",
                "visited_country": "FR",
                "volume_bytes": _volume(i),
            }
            with httpx.Client(timeout=60) as client:  # a connection each: both workers serve
                r = client.post(f"{base}/v1/events", json={"records": [record]}, headers=headers)
            assert r.status_code == 200, r.text
            return int(r.json()["rated"][0]["volume_bytes"])

        with ThreadPoolExecutor(12) as pool:
            sent = list(pool.map(post, range(90)))
        assert sent == [_volume(i) for i in range(90)]
        for n, sub in enumerate(SUBSCRIBERS):
            doc = httpx.get(f"{base}/v1/subscribers/{sub}", headers=headers, timeout=60).json()
            assert doc["events_stored"] == 30
            used = sum(_volume(i) for i in range(n, 90, 3))
            assert doc["periods"][0]["data_used_bytes"] == used, sub
    assert (tmp_path / "state.db.writers").exists()  # the writers' turns
