"""A service process runs its Polars queries on the in-memory engine
(``roamlike.query_engine``): set while the app's lifespan runs, undone after, and a
commit group rated by the batch engine answers the same on either engine."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from polars._plr import get_engine_affinity
from starlette.testclient import TestClient

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.query_engine import queries_on
from roamlike.service.app import create_app
from roamlike.service.config import ServiceConfig
from roamlike.service.group_rating import rate_group
from roamlike.service.schemas import EventRecord
from strategies import FX, PLANS, records

CATALOG = default_catalog()


def test_the_lifespan_runs_queries_in_memory_and_restores_the_default() -> None:
    before = get_engine_affinity()
    assert before != "in-memory"  # the default of a process (roamlike rate, the tests)
    with TestClient(create_app(ServiceConfig())) as client:
        assert get_engine_affinity() == "in-memory"
        assert client.get("/healthz").status_code == 200
    assert get_engine_affinity() == before


def _typed(row: dict[str, Any]) -> EventRecord:
    ints = ("utc_offset_min", "duration_s", "volume_bytes", "count")
    out = {k: (int(v) if k in ints and v and v.lstrip("-").isdigit() else None if k in ints
               else v) for k, v in row.items() if k != "is_beyond_fair_use"}  # fmt: skip
    out["record_id"] = (out["record_id"] or "r-empty").replace("\x00", "-")
    return msgspec.convert(out, EventRecord)


def _outcome(group: list[EventRecord], stored: Counters) -> tuple[Any, ...]:
    rating = rate_group(group, PLANS, FX, CATALOG, stored, small_group_max=0)
    return (
        rating.answers(group),
        rating.counters.periods.to_dicts(),
        rating.counters.subscribers.to_dicts(),
        rating.days("t").to_dicts(),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_a_group_rated_in_memory_answers_as_on_the_default_engine(
    rows: list[dict[str, Any]],
) -> None:
    group = [_typed(r) for r in rows]
    cut = len(group) // 3
    stored = rate_group(group[:cut], PLANS, FX, CATALOG, Counters.empty(), small_group_max=0)
    rest = group[cut:]
    default = _outcome(rest, stored.counters)
    with queries_on("in-memory"):
        in_memory = _outcome(rest, stored.counters)
    assert get_engine_affinity() != "in-memory"
    assert in_memory == default
