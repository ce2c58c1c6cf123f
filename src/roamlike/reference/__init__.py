"""The executable specification of rating: one record at a time, plain Python and Decimal.

The reference rater implements ``docs/rating.md`` literally and slowly, on purpose: it is the
oracle the vectorized engine (``roamlike.rating``) is tested against, record by record.

Public API::

    rate_records(records, plans, fx=None) -> ReferenceResult   rated rows, rejects, notifications
    rate_records_with_states(records, plans, fx, catalog=, states=, memo=) -> StatesResult
                                                                 the same, counters as plain states
    CounterStates, PriceMemo                                     those states; pricing by segment
    REASON_CODES                                                 the reject codes of rating.md §7
"""

from roamlike.reference.history import CounterStates
from roamlike.reference.price_memo import PriceMemo
from roamlike.reference.rater import (
    EVENT_TYPES,
    NOTIFICATION_KINDS,
    REASON_CODES,
    ReferenceResult,
    StatesResult,
    rate_records,
    rate_records_with_states,
)

__all__ = [
    "EVENT_TYPES",
    "NOTIFICATION_KINDS",
    "REASON_CODES",
    "CounterStates",
    "PriceMemo",
    "ReferenceResult",
    "StatesResult",
    "rate_records",
    "rate_records_with_states",
]
