"""What the store knows about one subscriber (``roamlike state show``, ``GET /v1/subscribers``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from roamlike.errors import NotInForceError
from roamlike.state.control import CONTROL_RULES, window_for
from roamlike.state.days import DAY_COUNTERS
from roamlike.state.store import Transaction


def _days(tx: Transaction, subscriber: str, tenant: str) -> dict[str, Any] | None:
    rows = tx.execute(
        "SELECT min(day), max(day), count(*), max(home_country) FROM state_days "
        "WHERE tenant = ? AND subscriber_id = ?",
        (tenant, subscriber),
    )
    if not rows or rows[0][2] == 0:
        return None
    first, last, n, home = rows[0]
    return {"first_day": first, "last_day": last, "days_with_records": int(n), "home_country": home}


def _window(
    tx: Transaction, subscriber: str, tenant: str, on: dt.date, regime: str
) -> dict[str, Any] | None:
    rule = CONTROL_RULES.get(regime)
    if rule is None:
        return None
    try:
        window = window_for(rule, on)
    except NotInForceError:
        return None
    sums = ", ".join(f"sum({c})" for c in DAY_COUNTERS)
    [row] = tx.execute(
        f"SELECT sum(CASE WHEN rlah_events > 0 AND home_events = 0 THEN 1 ELSE 0 END), {sums} "
        "FROM state_days WHERE tenant = ? AND subscriber_id = ? AND day >= ? AND day <= ?",
        (tenant, subscriber, window.start.isoformat(), on.isoformat()),
    )
    abroad = int(row[0] or 0)
    totals = {c: int(v or 0) for c, v in zip(DAY_COUNTERS, row[1:], strict=True)}
    return {
        "regime": regime,
        "window_start": window.start.isoformat(),
        "window_end": on.isoformat(),
        "window_days": window.days,
        "days_abroad": abroad,
        "days_home": window.days - abroad,
        **totals,
    }


def subscriber_state(
    tx: Transaction, subscriber: str, on: dt.date | None = None, tenant: str = ""
) -> dict[str, Any] | None:
    """Everything the store holds about ``subscriber`` as a JSON-ready mapping, or None.

    Parameters
    ----------
    on : datetime.date, optional
        The day the presence window ends (default: the subscriber's last day with records).
    """
    days = _days(tx, subscriber, tenant)
    warnings = [
        {
            "warned_on": w,
            "surcharge_from": f,
            "cleared_on": c,
            "regime": r,
            "evidence": json.loads(e),
        }
        for w, f, c, r, e in tx.execute(
            "SELECT warned_on, surcharge_from, cleared_on, regime, evidence_json "
            "FROM state_control WHERE tenant = ? AND subscriber_id = ? ORDER BY warned_on",
            (tenant, subscriber),
        )
    ]
    if days is None and not warnings:
        return None
    day = on or (dt.date.fromisoformat(days["last_day"]) if days else dt.date.today())
    regimes = [
        str(r[0])
        for r in tx.execute(
            "SELECT DISTINCT rlah_regime FROM state_days WHERE tenant = ? AND subscriber_id = ? "
            "AND rlah_regime <> '' ORDER BY 1",
            (tenant, subscriber),
        )
    ]
    presence = [w for r in regimes if (w := _window(tx, subscriber, tenant, day, r)) is not None]
    return {
        "subscriber_id": subscriber,
        "on": day.isoformat(),
        "history": days,
        "presence": presence,
        "control": warnings,
    }
