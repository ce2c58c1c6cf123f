"""One record rated at several quantities, each alone on the counters as they stand.

Credit control asks "what if the subscriber used N more units now?" for a few candidate amounts
N (``roamlike.service.grants``): each candidate is the same record but for its quantity, rated
as the subscriber's next record on a copy of the stored counters. Through
:func:`roamlike.reference.rate_records_with_states` every candidate is validated, priced and
walked like any record, with the row dictionaries around it; here the record is validated once
(kept in a :class:`WhatIfMemo` by everything but its ids and quantity), priced by segment
(:class:`roamlike.reference.PriceMemo`), and each quantity is charged by the rater's own step
(``rater._rate_one``) on a copy of its period's counters: the same rated row and the same
bill-shock and fair-use notifications, at a fraction of the cost.

What is left out: the ``welcome`` notification and the ``is_late`` flag (they depend on the
subscriber's earlier records, not on the period's counters), and the reject of a record that
does not pass: such a candidate's answer is None, and the caller rates it the ordinary way.
``tests/reference/test_what_if.py`` requires each candidate's row and notifications to equal
those of :func:`~roamlike.reference.rate_records_with_states` rating it alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roamlike.errors import RoamlikeError
from roamlike.law import Catalog
from roamlike.reference.history import CounterStates, PeriodState, _copy_period
from roamlike.reference.price_memo import PriceMemo
from roamlike.reference.rater import (
    _QUANTITY,
    _as_read,
    _Parsed,
    _price,
    _Priced,
    _rate_one,
    _RowRejectedError,
    _validate,
)
from roamlike.tariffs import FxTable, Plan

_IDS = ("record_id", "subscriber_id")


@dataclass(frozen=True)
class WhatIf:
    """One candidate's rating: its rated row and the notifications of its own charge."""

    rated: dict[str, Any]
    notifications: list[dict[str, Any]]  # billshock_80/100/extra, fup_exhausted


class WhatIfMemo:
    """Records validated before, by everything but their ids and quantity.

    Plans and catalogs are told apart by identity; the memo holds a reference to each, so an
    identity is never reused while it is kept.

    Parameters
    ----------
    size : int
        Records kept; the memo is emptied when it is full.
    """

    def __init__(self, size: int = 65_536) -> None:
        self.size = size
        self._entries: dict[tuple[Any, ...], tuple[Plan, Catalog, _Parsed]] = {}

    def validated(
        self, row: dict[str, Any], quantity_column: str, plans: Mapping[str, Plan], cat: Catalog
    ) -> _Parsed | None:
        """The row validated with a quantity of 0 (None: it is rejected whatever its quantity,
        or its fields cannot be told apart)."""
        plan_id = row.get("plan_id")
        plan = plans.get(plan_id.strip()) if isinstance(plan_id, str) else None
        try:
            key = (
                id(plan),
                id(cat),
                quantity_column,
                *(v for c, v in row.items() if c != quantity_column and c not in _IDS),
            )
            hit = self._entries.get(key)
        except TypeError:  # an unhashable value: validated each time
            key, hit = None, None
        if hit is not None and hit[0] is plan and hit[1] is cat:
            return hit[2]
        probe = {**row, quantity_column: 0}
        try:
            parsed = _validate(probe, 0, plans, {str(row["record_id"]).strip(): 0}, (), cat)
        except _RowRejectedError:
            return None
        if key is not None and plan is not None:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (plan, cat, parsed)
        return parsed


def _own_id(value: Any) -> str | None:
    """An id as the rater compares it, when it passes §7's checks (else None)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and "\x00" not in text else None


def rate_what_if(
    record: Mapping[str, Any],
    quantities: Sequence[int],
    plans: Mapping[str, Plan],
    fx: FxTable,
    *,
    catalog: Catalog,
    states: CounterStates,
    memo: PriceMemo | None = None,
    validated: WhatIfMemo | None = None,
) -> list[WhatIf | None]:
    """``record`` rated once per quantity, each alone on ``states`` (module docstring).

    Parameters
    ----------
    record : mapping
        Canonical input columns; its own quantity column is replaced by each quantity.
    quantities : sequence of int
        The quantities to rate [s, bytes or messages, by event type].
    plans, fx, catalog
        As :func:`roamlike.reference.rate_records`.
    states : CounterStates
        The counters the record continues; not modified.
    memo : PriceMemo, optional
        Pricing by segment, shared with :func:`~roamlike.reference.rate_records_with_states`.
    validated : WhatIfMemo, optional
        Validation kept between calls.

    Returns
    -------
    list of WhatIf or None
        In the order of ``quantities``; None where the record is rejected (or cannot be told
        apart from one that is): rate that one with ``rate_records_with_states``.
    """
    row = _as_read(record)
    event = row.get("event_type")
    spec = _QUANTITY.get(event.strip()) if isinstance(event, str) else None
    record_id, subscriber_id = _own_id(row["record_id"]), _own_id(row["subscriber_id"])
    if spec is None or record_id is None or subscriber_id is None:
        return [None] * len(quantities)
    column, bound = spec
    template = (validated or WhatIfMemo()).validated(row, column, plans, catalog)
    if template is None:
        return [None] * len(quantities)
    out: list[WhatIf | None] = []
    for quantity in quantities:
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 0 <= quantity <= bound
        ):
            out.append(None)
            continue
        parsed = object.__new__(_Parsed)
        parsed.__dict__.update(
            template.__dict__,
            row={**row, column: quantity},
            record_id=record_id,
            subscriber_id=subscriber_id,
            quantity=quantity,
        )
        try:
            priced: _Priced = (
                _price(parsed, fx, catalog) if memo is None else memo.price(parsed, fx, catalog)
            )
            key = (subscriber_id, parsed.plan.id, priced.period_start)
            known = states.periods.get(key)
            rated, notes = _rate_one(
                priced, PeriodState() if known is None else _copy_period(known)
            )
        except (_RowRejectedError, RoamlikeError):
            out.append(None)
            continue
        out.append(WhatIf(rated, notes))
    return out
