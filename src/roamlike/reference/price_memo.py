"""The reference rater's pricing of records kept by segment, for runs that follow each other.

A service rates a few records per commit group, again and again for the same plans, countries
and days: looking the law's values up for every record (``rater._price``) was about a third of
such a group's rating. :class:`PriceMemo` keeps each segment's pricing and gives a record of a
known segment that pricing with its own billed units. Used by
:func:`roamlike.reference.rate_records_with_states`; ``tests/reference/test_rater_with_states.py``
requires the same results as :func:`roamlike.reference.rate_records` without it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, Generic, TypeVar

from roamlike.law import Catalog
from roamlike.reference.rater import _billed_units, _Parsed, _price, _Priced
from roamlike.tariffs import FxTable, Plan

V = TypeVar("V")

#: What :meth:`SegmentEntries.kept` returns for a segment not kept.
MISSING: Final = object()


class SegmentEntries(Generic[V]):
    """Values kept by segment: plan, exchange rates, catalog, event type, home and visited
    countries, local start date and ``is_beyond_fair_use`` flag (everything the reference rater's
    pricing depends on but the quantity). Plans, exchange rates and catalogs are told apart by
    identity: each entry holds a reference to them, so an identity is never reused while kept.

    Parameters
    ----------
    size : int
        Segments kept; the memo is emptied when it is full.
    """

    def __init__(self, size: int = 65_536) -> None:
        self.size = size
        self._entries: dict[tuple[Any, ...], tuple[Plan, FxTable, Catalog, V]] = {}

    @staticmethod
    def key(p: _Parsed, local_date: dt.date, fx: FxTable, catalog: Catalog) -> tuple[Any, ...]:
        """The segment's key of ``p`` (starting on ``local_date``)."""
        return (
            id(p.plan),
            id(fx),
            id(catalog),
            p.event_type,
            p.home,
            p.visited,
            local_date,
            p.is_beyond_fair_use,
        )

    def kept(self, key: tuple[Any, ...], plan: Plan, fx: FxTable, catalog: Catalog) -> object:
        """The value kept under ``key`` for these very objects, else :data:`MISSING`."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] is plan and hit[1] is fx and hit[2] is catalog:
            return hit[3]
        return MISSING

    def keep(
        self, key: tuple[Any, ...], plan: Plan, fx: FxTable, catalog: Catalog, value: V
    ) -> None:
        """Keep ``value`` under ``key`` (the memo is emptied first when full)."""
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (plan, fx, catalog, value)


class PriceMemo(SegmentEntries[_Priced]):
    """The pricing of records (``rater._price``) kept by segment, for runs that follow each other.

    Everything ``rater._price`` computes depends on the record only through its plan, event type,
    home and visited countries, local start date and ``is_beyond_fair_use`` flag (and on the
    exchange rates and catalog), except the billed units (§3), which also depend on its
    quantity. A record of a segment priced before takes that pricing with its own billed units
    (``_billed_units``, given the initial period that applied); a record that is rejected
    is priced again each time (:class:`SegmentEntries` says how segments are told apart).
    """

    def price(self, p: _Parsed, fx: FxTable, catalog: Catalog) -> _Priced:
        """``rater._price`` of ``p``, from the memo when its segment was priced before.

        Raises
        ------
        _RowRejectedError
            As :func:`roamlike.reference.rater._price`.
        """
        try:
            local_date = (p.started_at + dt.timedelta(minutes=p.utc_offset_min)).date()
        except OverflowError:
            return _price(p, fx, catalog)
        key = self.key(p, local_date, fx, catalog)
        kept = self.kept(key, p.plan, fx, catalog)
        if isinstance(kept, _Priced):
            units, divisor, billed, unit = _billed_units(p, p.plan, kept.rules.kind, kept.initial_s)
            # the kept pricing with this record's own fields (what dataclasses.replace does,
            # without running the frozen class's __init__ again)
            priced = object.__new__(_Priced)
            priced.__dict__.update(
                kept.__dict__,
                parsed=p,
                units=units,
                divisor=divisor,
                billed_units=billed,
                billed_unit=unit,
            )
            return priced
        priced = _price(p, fx, catalog)
        self.keep(key, p.plan, fx, catalog, priced)
        return priced
