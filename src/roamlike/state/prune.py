"""``roamlike state prune``: drop presence days and closed periods the control no longer needs.

The rule (``docs/state.md``, "Pruning"), for a tenant and a day ``before``:

* ``before`` may be at most the first day of the observation window of a control on the last
  day the store holds (the earliest such day over the control rules): a control on that day or
  later never reads a day before it;
* ``state_days``: every day before ``before`` is dropped, except each subscriber's first day
  (its history still starts there: a subscriber observed from before a window stays fully
  observed, ``docs/law/fair-use.md``);
* ``state_periods``: every billing period that ended before ``before`` is dropped (it started
  more than a longest period, 31 days, before it);
* the day is recorded (``state_pruned``, the latest prune wins): from then on a control whose
  window starts before it, and a run with records before it, are refused (their days or
  counters are gone), never computed from what is left.

Record ids (``state_records``), the ledger and the control findings are kept. A prune first
folds the logs into the base tables (``roamlike.state.log.compact``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from roamlike.errors import StoreError
from roamlike.law import Catalog
from roamlike.state.control import CONTROL_RULES, pruned_before, window_for
from roamlike.state.counters import LONGEST_PERIOD_DAYS
from roamlike.state.log import compact, lock_tenant
from roamlike.state.packs import readable
from roamlike.state.store import Transaction


@dataclass(frozen=True)
class PruneResult:
    """What a prune dropped (or would drop, for a dry run)."""

    before: dt.date
    days_dropped: int
    periods_dropped: int
    last_day: dt.date | None


def latest_allowed(last_day: dt.date, catalog: Catalog | None = None) -> dt.date:
    """The latest ``before`` a store whose last day is ``last_day`` may be pruned to: the
    earliest first day of a control window ending on ``last_day``."""
    return min(window_for(rule, last_day, catalog).start for rule in CONTROL_RULES.values())


def prune(tx: Transaction, before: dt.date, tenant: str = "", dry_run: bool = False) -> PruneResult:
    """Drop the days and periods the rule of the module docstring allows.

    Raises
    ------
    StoreError
        ``before`` is later than the rule allows (the message gives the latest day allowed).
    """
    # a prune works on the base tables: the logs are folded in first (a dry run reads the
    # merged views instead and changes nothing)
    if not dry_run:
        lock_tenant(tx, tenant)
        compact(tx, tenant)
    else:
        readable(tx, tenant)  # the views then hold the packs' rows too
    days_table, periods_table = (
        ("state_days_now", "state_periods_now") if dry_run else ("state_days", "state_periods")
    )
    [(last,)] = tx.execute(f"SELECT max(day) FROM {days_table} WHERE tenant = ?", (tenant,))
    last_day = dt.date.fromisoformat(str(last)) if last is not None else None
    if last_day is not None and before > (allowed := latest_allowed(last_day)):
        raise StoreError(
            f"cannot prune before {before.isoformat()}: a control on the last day the store "
            f"holds ({last_day.isoformat()}) reads days from {allowed.isoformat()} on; prune "
            f"before {allowed.isoformat()} at the latest"
        )
    day = before.isoformat()
    closed = (before - dt.timedelta(days=LONGEST_PERIOD_DAYS)).isoformat()
    days_where = (
        f"tenant = ? AND day < ? AND day > (SELECT min(f.day) FROM {days_table} f "
        f"WHERE f.tenant = {days_table}.tenant AND f.subscriber_id = {days_table}.subscriber_id)"
    )
    periods_where = "tenant = ? AND period_start < ?"
    if dry_run:
        [(days,)] = tx.execute(
            f"SELECT count(*) FROM {days_table} WHERE {days_where}", (tenant, day)
        )
        [(periods,)] = tx.execute(
            f"SELECT count(*) FROM {periods_table} WHERE {periods_where}", (tenant, closed)
        )
        return PruneResult(before, int(days), int(periods), last_day)
    days = tx.execute_count(f"DELETE FROM state_days WHERE {days_where}", (tenant, day))
    periods = tx.execute_count(f"DELETE FROM state_periods WHERE {periods_where}", (tenant, closed))
    previous = pruned_before(tx, tenant)
    if previous is None or before > previous:
        tx.execute("DELETE FROM state_pruned WHERE tenant = ?", (tenant,))
        tx.execute(
            "INSERT INTO state_pruned (tenant, before_day, pruned_at) VALUES (?, ?, ?)",
            (tenant, day, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
    return PruneResult(before, days, periods, last_day)
