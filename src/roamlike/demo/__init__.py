"""``roamlike demo``: the Western Balkans roaming agreement told by the engine on built-in data.

Public API::

    run_demo(out_dir, records=200_000, seed=2019) -> DemoResult   generate, rate, summarise, write
    summarise(rated, fx, key_dates) -> list[PriceRow]               average EUR prices by phase
    headline(rated, fx) -> Headline                                  the Commission's 2019 claim

The same synthetic year of traffic (:mod:`roamlike.demo.scenario`) is rated as if it had
happened on each key date, in one :func:`roamlike.rating.rate_usage` call; only the law changes
between the copies. Averages are converted to euro with the stated FX rates (one per currency and
key date, the rate the engine uses for that date; docs/law/exchange-rates.md).

This module only re-exports: the prices, headline and bills live in :mod:`roamlike.demo.prices`,
the run in :mod:`roamlike.demo.run`, the traffic and key dates in :mod:`roamlike.demo.scenario`,
the page in :mod:`roamlike.demo.report`.
"""

from roamlike.demo.prices import (
    Bill,
    Headline,
    PriceRow,
    headline,
    summarise,
    summary_frame,
    traveller_bills,
)
from roamlike.demo.run import DemoResult, run_demo
from roamlike.demo.scenario import HEADLINE_GROUP, KEY_DATES, ROUTE_GROUPS

__all__ = [
    "HEADLINE_GROUP",
    "KEY_DATES",
    "ROUTE_GROUPS",
    "Bill",
    "DemoResult",
    "Headline",
    "PriceRow",
    "headline",
    "run_demo",
    "summarise",
    "summary_frame",
    "traveller_bills",
]
