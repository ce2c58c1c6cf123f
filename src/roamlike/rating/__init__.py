"""The rating engine: see ``docs/rating.md`` for the contract.

Public API::

    rate_usage(usage, plans, fx=None, *, catalog=None, counters=None,
               known_record_ids=None) -> RatingResult
    Counters                       counters carried between runs (rating.md §9)
    normalise_subscriber_id(expr)  the engine's subscriber key (partition on it)
    batch_keys(usage)              row numbers and duplicate flags over a whole input
    RATED_COLUMNS, REASON_CODES
"""

from roamlike.counters import Counters
from roamlike.rating.engine import RATED_COLUMNS, RatingResult, rate_usage
from roamlike.rating.normalise import (
    BATCH_DUPLICATE,
    BATCH_ROW,
    BATCH_SUBSCRIBER,
    batch_keys,
    normalise_subscriber_id,
)
from roamlike.rating.reasons import ALL as REASON_CODES

__all__ = [
    "BATCH_DUPLICATE",
    "BATCH_ROW",
    "BATCH_SUBSCRIBER",
    "RATED_COLUMNS",
    "REASON_CODES",
    "Counters",
    "RatingResult",
    "batch_keys",
    "normalise_subscriber_id",
    "rate_usage",
]
