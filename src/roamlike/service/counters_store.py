"""A quote as a tenant's subscriber's next event: the stored counters of the state store.

The counters live in the state store's tables (``roamlike.state.counters``) under the tenant,
the same rows ``POST /v1/events`` writes and ``roamlike state show`` reads.
"""

from __future__ import annotations

import polars as pl

from roamlike.law import Catalog
from roamlike.service import prune_day
from roamlike.service.quotes import QuoteAnswer, QuoteInput, rate_quotes
from roamlike.service.runtime import reading
from roamlike.state import Store
from roamlike.state.counters import load_counters
from roamlike.tariffs import FxTable, Plan


def quote_for_subscriber(
    store: Store,
    tenant_id: str,
    subscriber_id: str,
    q: QuoteInput,
    plan: Plan,
    fx: FxTable,
    catalog: Catalog,
) -> QuoteAnswer:
    """A quote rated as the subscriber's next event, continuing the tenant's stored counters.

    Read-only: the counters are read in a transaction that writes nothing. An event whose
    local day is before the day the store was pruned before is answered with the
    ``BEFORE_PRUNE_DAY`` reject when the engine would rate it (its counters are gone:
    :mod:`roamlike.service.prune_day`).
    """
    with reading(store) as tx:
        counters = load_counters(tx, pl.Series([subscriber_id.strip()]), tenant_id)
        before = prune_day.event_before(tx, tenant_id, q)
    answer = rate_quotes([(q, plan)], fx, catalog, subscriber_id=subscriber_id, counters=counters)
    if answer[0].row is not None and before is not None:  # after every other reason
        return QuoteAnswer(None, [], prune_day.REASON_CODE, before)
    return answer[0]
