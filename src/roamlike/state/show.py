"""What the store knows about one subscriber (``roamlike state show``, ``GET /v1/subscribers``):
counters per billing period (with the plans: allowances and what remains), last rated event,
presence over the control window, control findings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from roamlike import money
from roamlike.errors import FxError, NotInForceError
from roamlike.law import default_catalog, value_at
from roamlike.rating.prices import BILLSHOCK_LIMIT, GB_BYTES
from roamlike.state.control import CONTROL_RULES, window_for
from roamlike.state.days import DAY_COUNTERS
from roamlike.state.packs import readable
from roamlike.state.schema import PERIOD_VALUES
from roamlike.state.store import Transaction
from roamlike.tariffs import FxTable, Plan, fair_use_allowance, home_rlah_regime

_PERIOD_COLUMNS = ("plan_id", "period_start", *PERIOD_VALUES)


def _remaining(allowance: int | None, used: int) -> int | None:
    return None if allowance is None else max(0, allowance - used)


def _with_plan(period: dict[str, Any], plan: Plan, on: dt.date, fx: FxTable) -> None:
    """Allowances and what remains of them [s, messages, bytes]; None = unlimited."""
    voice = None if plan.voice_allowance_min is None else int(plan.voice_allowance_min * 60)
    data = (
        None
        if plan.data_allowance_gb is None
        else int(plan.data_allowance_gb * GB_BYTES[plan.binary_units])
    )
    period.update(
        currency=plan.currency,
        voice_allowance_s=voice,
        voice_remaining_s=_remaining(voice, period["voice_used_s"]),
        sms_allowance=plan.sms_allowance,
        sms_remaining=_remaining(plan.sms_allowance, period["sms_used"]),
        data_allowance_bytes=data,
        data_remaining_bytes=_remaining(data, period["data_used_bytes"]),
        billshock_limit_eur=None
        if plan.billshock_limit_eur is None
        else str(plan.billshock_limit_eur),
        **_billshock_limit(plan, on, fx, int(period["billshock_spend_micros"])),
    )
    try:
        fair = fair_use_allowance(plan, on, fx, home_rlah_regime(plan, on))
    except (NotInForceError, FxError):  # no rule, or the FX table lacks a rate: not shown
        return
    if fair.allowance_gb is not None:
        fup = int(fair.allowance_gb * GB_BYTES[plan.binary_units])
        period.update(
            fup_allowance_bytes=fup, fup_remaining_bytes=_remaining(fup, period["fup_used_bytes"])
        )


def _billshock_limit(plan: Plan, on: dt.date, fx: FxTable, spend: int) -> dict[str, Any]:
    """The bill-shock limit that applies on ``on``, as the engine applies it to roaming records:
    the plan's own ``billshock_limit_eur``, or else, for providers bound by the bill-shock rules,
    the default limit of the law; in the plan currency [micro-units] at that day's rate; and
    what remains of it after the period's spend. All None when no limit applies (or the rate is
    missing)."""
    out: dict[str, Any] = {
        "billshock_limit_micros": None,
        "billshock_limit_source": None,
        "billshock_limit_basis": None,
        "billshock_remaining_micros": None,
    }
    limit_eur = plan.billshock_limit_eur
    if limit_eur is not None:
        source, basis = "plan", None
    elif default_catalog().binds_billshock(plan.home_country, on):
        try:
            default = value_at(BILLSHOCK_LIMIT, on)
        except NotInForceError:
            return out
        limit_eur = default.value
        source = "default"
        basis = f"{default.basis.instrument} {default.basis.article} ({BILLSHOCK_LIMIT})"
    else:
        return out
    units_per_eur = Decimal(1)
    if plan.currency != "EUR":
        try:
            units_per_eur = fx.rate(plan.currency, on).units_per_eur
        except FxError:
            return out
    limit = money.to_micros(limit_eur * units_per_eur)
    out.update(
        billshock_limit_micros=limit,
        billshock_limit_source=source,
        billshock_limit_basis=basis,
        billshock_remaining_micros=max(0, limit - spend),
    )
    return out


def _periods(
    tx: Transaction,
    subscriber: str,
    tenant: str,
    on: dt.date,
    plans: Mapping[str, Plan] | None,
    fx: FxTable,
) -> list[dict[str, Any]]:
    rows = tx.execute(
        f"SELECT {', '.join(_PERIOD_COLUMNS)} FROM state_periods_now WHERE tenant = ? AND "
        "subscriber_id = ? AND period_start <= ? ORDER BY period_start DESC, plan_id",
        (tenant, subscriber, on.isoformat()),
    )
    out = []
    for row in rows:
        period = dict(zip(_PERIOD_COLUMNS, row, strict=True))
        for flag in _PERIOD_COLUMNS[7:]:
            period[flag] = bool(period[flag])
        plan = (plans or {}).get(str(period["plan_id"]))
        if plan is not None:
            _with_plan(period, plan, on, fx)
        out.append(period)
    return out


def _last_event(tx: Transaction, subscriber: str, tenant: str) -> dict[str, Any] | None:
    rows = tx.execute(
        "SELECT last_visited_country, last_started_at_us, last_record_id "
        "FROM state_subscribers_now WHERE tenant = ? AND subscriber_id = ?",
        (tenant, subscriber),
    )
    if not rows:
        return None
    visited, micros, record_id = rows[0]
    started = None
    if micros is not None:
        started = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
    return {
        "visited_country": visited,
        "started_at": started.isoformat() if started else None,
        "record_id": record_id,
    }


def _days(tx: Transaction, subscriber: str, tenant: str) -> dict[str, Any] | None:
    rows = tx.execute(
        "SELECT min(day), max(day), count(*), max(home_country) FROM state_days_now "
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
        "FROM state_days_now WHERE tenant = ? AND subscriber_id = ? AND day >= ? AND day <= ?",
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
    tx: Transaction,
    subscriber: str,
    on: dt.date | None = None,
    tenant: str = "",
    plans: Mapping[str, Plan] | None = None,
    fx: FxTable | None = None,
) -> dict[str, Any] | None:
    """Everything the store holds about ``subscriber`` as a JSON-ready mapping, or None.

    Parameters
    ----------
    on : datetime.date, optional
        The day shown: periods starting on or before it (latest first), the presence window
        ending on it (default: the subscriber's last day with records).
    plans : mapping of plan id to Plan, optional
        With the plans, each period also shows its allowances and what remains of them
        [s, messages, bytes] and the fair-use volume [bytes] on ``on``.
    fx : FxTable, optional
        Exchange rates (fair-use volume of non-euro plans).
    """
    readable(tx, tenant)  # the views then hold the packs' rows too
    days = _days(tx, subscriber, tenant)
    last = _last_event(tx, subscriber, tenant)
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
    day = on or (dt.date.fromisoformat(days["last_day"]) if days else dt.date.today())
    periods = _periods(tx, subscriber, tenant, day, plans, fx or FxTable())
    if days is None and last is None and not warnings and not periods:
        return None
    regimes = [
        str(r[0])
        for r in tx.execute(
            "SELECT DISTINCT rlah_regime FROM state_days_now "
            "WHERE tenant = ? AND subscriber_id = ? AND rlah_regime <> '' ORDER BY 1",
            (tenant, subscriber),
        )
    ]
    presence = [w for r in regimes if (w := _window(tx, subscriber, tenant, day, r)) is not None]
    return {
        "subscriber_id": subscriber,
        "on": day.isoformat(),
        "history": days,
        "last_event": last,
        "periods": periods,
        "presence": presence,
        "control": warnings,
    }
