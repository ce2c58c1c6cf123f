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
from roamlike.state.control import pruned_before
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
        pruned = pruned_before(tx, tenant_id)
    answer = rate_quotes([(q, plan)], fx, catalog, subscriber_id=subscriber_id, counters=counters)
    if answer[0].row is not None and pruned is not None:
        # the check after every other, as for events (roamlike.service.prune_day)
        early = prune_day.early_positions([q], pruned)
        if early:
            return QuoteAnswer(None, [], prune_day.REASON_CODE, prune_day.message(early[0], pruned))
    return answer[0]
