"""The engine's first rating, done at startup before the collector freezes what startup built.

A worker's first call of the batch engine (:func:`roamlike.rating.rate_usage`: its compiled
pass loaded, its Polars plans and price tables built) leaves about 70,000 long-lived objects
behind. Made after the startup's ``gc.freeze()``, they stay in the collector's oldest
generation, and every full collection walks them: ~100 ms per pass on this machine, several
times a minute under load, each one a pause of every request the worker holds (what the
quotes' p99 showed). Rated once at startup, before the freeze, they are left out of those
passes (a full pass then takes 1-4 ms; ``docs/service.md``, "Speed").
"""

from __future__ import annotations

import contextlib

from roamlike.law import Catalog
from roamlike.reference import CounterStates
from roamlike.service.group_rating import rate_group
from roamlike.service.schemas import EventRecord
from roamlike.tariffs import FxTable, parse_plan

#: A plan that exercises the engine's compiled pass (its records are never stored or answered):
#: a German plan in euros, small allowances so that both pools and the out-of-bundle prices run.
_PLAN: dict[str, object] = {
    "id": "warm-up", "home_country": "DE", "currency": "EUR", "price": "5",
    "price_includes_vat": False, "billing_period": "month", "data_allowance_gb": "0.001",
    "voice_allowance_min": "0", "sms_allowance": 0,
    "out_of_bundle": {"voice_per_min": "0.2", "sms": "0.2", "data_per_mb": "0.02"},
}  # fmt: skip


def _record(n: int, event: str, visited: str) -> EventRecord:
    return EventRecord(
        record_id=f"warm-up-{n}",
        subscriber_id="warm-up",
        plan_id="warm-up",
        event_type=event,
        started_at=f"2026-01-0{1 + n}T10:00:00Z",
        utc_offset_min=60,
        home_country="DE",
        visited_country=visited,
        volume_bytes=1_000_000 if event == "data" else None,
        duration_s=60 if event.startswith("voice") else None,
    )


def warm_engine(catalog: Catalog) -> bool:
    """Rate a few made-up records with the batch engine; True when it rated them.

    Nothing is stored. A catalog that cannot rate them (another coverage) leaves the engine
    to be warmed by the first large group, as before: never an error at startup.
    """
    records = [_record(0, "data", "FR"), _record(1, "voice_mo", "FR"), _record(2, "data", "DE")]
    with contextlib.suppress(Exception):
        plan = parse_plan(_PLAN)
        rate_group(records, {plan.id: plan}, FxTable(), catalog, CounterStates(), small_group_max=0)
        return True
    return False
