"""A tenant's state at a glance, for the operator dashboard: subscribers' counters, recent events
with the notifications they raised, and batch runs from the ledger.

Read-only queries over the store's counters and ledger (``roamlike.state.schema``) and the
service's events (``roamlike.service.schema``); every query names the tenant, so a tenant never
reads another's rows. Amounts stay integers
(micro-units of the plan currency); the stored answers are the ones ``POST /v1/events`` gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from roamlike.service import events_index
from roamlike.state import Store
from roamlike.state.ledger import LedgerRun, runs

#: Most rows a dashboard query returns (the newest first).
MAX_ROWS = 500
#: The notification flags of a counter period, in the order of ``state_periods``.
NOTIFICATION_FLAGS = ("billshock_80", "billshock_100", "billshock_extra", "fup_exhausted")


@dataclass(frozen=True)
class CounterPeriod:
    """One subscriber's counters in one billing period of one plan (``docs/rating.md`` §9).

    Attributes
    ----------
    voice_used_s : int
        Seconds drawn on the voice pool [s].
    sms_used : int
        Messages drawn on the SMS pool.
    data_used_bytes, fup_used_bytes : int
        Billed bytes drawn on the data pool, and counted for fair use [B].
    billshock_spend_micros : int
        Running bill-shock spend [micro-units of the plan currency].
    notifications_sent : tuple of str
        The notifications already sent in the period (names of :data:`NOTIFICATION_FLAGS`).
    """

    subscriber_id: str
    plan_id: str
    period_start: str
    voice_used_s: int
    sms_used: int
    data_used_bytes: int
    fup_used_bytes: int
    billshock_spend_micros: int
    notifications_sent: tuple[str, ...]


@dataclass(frozen=True)
class StoredEvent:
    """One event the service rated and stored, with the answer it gave.

    ``rated`` is the rated row (None for a reject), ``reject`` the reject (None when rated),
    ``notifications`` those the event raised.
    """

    record_id: str
    subscriber_id: str
    received_at: str
    rated: dict[str, Any] | None
    reject: dict[str, Any] | None
    notifications: tuple[dict[str, Any], ...]


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_ROWS))


def _scope(
    tenant_id: str, subscriber_id: str | None, column: str = "tenant_id"
) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause and its arguments: the tenant's rows, of one subscriber if named."""
    if subscriber_id is None:
        return f"{column} = ?", (tenant_id,)
    return f"{column} = ? AND subscriber_id = ?", (tenant_id, subscriber_id)


def subscriber_count(store: Store, tenant_id: str) -> int:
    """How many subscribers of the tenant have stored counters."""
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT count(*) FROM state_subscribers_now WHERE tenant = ?", (tenant_id,)
        )
    return int(rows[0][0])


def counter_periods(
    store: Store, tenant_id: str, subscriber_id: str | None = None, limit: int = 100
) -> list[CounterPeriod]:
    """The tenant's counter periods, the latest period first, then by subscriber and plan.

    Parameters
    ----------
    subscriber_id : str, optional
        Only this subscriber's periods.
    limit : int
        At most this many rows (1 to :data:`MAX_ROWS`).
    """
    where, args = _scope(tenant_id, subscriber_id, "tenant")
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT subscriber_id, plan_id, period_start, voice_used_s, sms_used, "
            "data_used_bytes, fup_used_bytes, billshock_spend_micros, has_billshock_80, "
            "has_billshock_100, has_billshock_extra, has_fup_exhausted "
            f"FROM state_periods_now WHERE {where} "
            "ORDER BY period_start DESC, subscriber_id, plan_id LIMIT ?",
            (*args, _limit(limit)),
        )
    return [
        CounterPeriod(
            subscriber_id=str(r[0]),
            plan_id=str(r[1]),
            period_start=str(r[2]),
            voice_used_s=int(r[3]),
            sms_used=int(r[4]),
            data_used_bytes=int(r[5]),
            fup_used_bytes=int(r[6]),
            billshock_spend_micros=int(r[7]),
            notifications_sent=tuple(
                n for n, flag in zip(NOTIFICATION_FLAGS, r[8:12], strict=True) if flag
            ),
        )
        for r in rows
    ]


def recent_events(
    store: Store, tenant_id: str, subscriber_id: str | None = None, limit: int = 50
) -> list[StoredEvent]:
    """The tenant's most recently received events with their stored answers, newest first.

    Parameters
    ----------
    subscriber_id : str, optional
        Only this subscriber's events.
    limit : int
        At most this many events (1 to :data:`MAX_ROWS`).
    """
    with store.transaction() as tx:
        if subscriber_id is not None:  # by the index of the answers by subscriber
            rows = events_index.recent_of(tx, tenant_id, subscriber_id, _limit(limit))
        else:
            rows = tx.execute(
                "SELECT record_id, subscriber_id, received_at, answer_json FROM service_events "
                "WHERE tenant_id = ? ORDER BY received_at DESC, record_id DESC LIMIT ?",
                (tenant_id, _limit(limit)),
            )
    out = []
    for record_id, subscriber, received, answer in rows:
        doc = msgspec.json.decode(str(answer))
        out.append(
            StoredEvent(
                str(record_id),
                str(subscriber),
                str(received),
                doc.get("rated"),
                doc.get("reject"),
                tuple(doc.get("notifications") or ()),
            )
        )
    return out


def batch_runs(store: Store, tenant_id: str, limit: int = 20) -> list[LedgerRun]:
    """The tenant's latest batch runs in the state store's ledger, newest first.

    Runs rated without a tenant (``roamlike rate --state``, ledger tenant ``''``) belong to no
    tenant and are never listed here.
    """
    with store.transaction() as tx:
        return runs(tx, tenant_id, _limit(limit))
