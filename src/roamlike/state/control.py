"""The permanent-roaming control: who was present and consumed more abroad than at home.

The rule (``docs/law/fair-use.md``; Commission Implementing Regulation (EU) 2016/2286, Art. 4):
over an observation window of the catalog's ``control_window_months`` ending on the control date,
a subscriber whose days abroad outnumber the days at home **and** whose roaming consumption exceeds
the domestic one may be warned; if the pattern continues, surcharges may apply from
``grace_days`` after the warning. Serbian subscribers under the WB agreement: the regulator
RATEL's rule, with **or** instead of and, and its own grace period
(``docs/law/western-balkans-surcharges-beyond-fair-use.md``).

How the evidence is counted (the project's reading, documented in ``docs/state.md``):

* a **day abroad** has at least one record rated ``rlah`` (roaming at domestic prices) and none
  rated ``domestic``: a day with any domestic record counts at home (a log-on to the home network);
* a day without any record is presumed at home: presence abroad has to be shown by records;
* **consumption** compares data volume [B] roaming at domestic prices against data at home;
* a subscriber is assessed only when the store holds their records from the first day of the
  window on (a shorter history is not a full observation).

The control date is the earliest warning date; surcharges may apply from
``warning + grace_days``. Findings are recorded in ``state_control``: a subscriber already warned
keeps the first warning's dates; one warned earlier who no longer meets the test is cleared on the
control date (surcharges stop from that day).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from roamlike.errors import StoreError
from roamlike.law import Catalog, default_catalog, value_at
from roamlike.state.packs import readable
from roamlike.state.store import Transaction


@dataclass(frozen=True)
class ControlRule:
    """One regime's permanent-roaming control: its catalog parameters and its test.

    Attributes
    ----------
    requires_both : bool
        True: presence **and** consumption mostly abroad (EU); False: either one (Serbia).
    homes : frozenset of str, optional
        Home countries the rule applies to (a national regulator's rule); None: every home.
    """

    regime: str
    window_parameter: str
    grace_parameter: str
    requires_both: bool
    homes: frozenset[str] | None = None


#: Regimes whose control rules are in the catalog (a regime not listed is never flagged).
CONTROL_RULES: dict[str, ControlRule] = {
    # Implementing Regulation (EU) 2016/2286, Art. 4(4): docs/law/fair-use.md
    "eu_rlah": ControlRule(
        "eu_rlah", "eu.fair_use.control_window_months", "eu.fair_use.grace_days", True
    ),
    # WB agreement Art. 5 leaves fair use to each signatory; Serbia's regulator RATEL applies an
    # "or" test: docs/law/western-balkans-surcharges-beyond-fair-use.md. No other WB regulator's
    # text was found, so only Serbian subscribers are assessed.
    "wb_rra": ControlRule(
        "wb_rra",
        "wb.fair_use.control_window_months",
        "wb.fair_use.grace_days",
        False,
        frozenset({"RS"}),
    ),
}


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole calendar months (the day of month clipped to the month's length).

    Examples
    --------
    >>> add_months(dt.date(2026, 5, 1), -4)
    datetime.date(2026, 1, 1)
    >>> add_months(dt.date(2026, 3, 31), -1)
    datetime.date(2026, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = (next_first - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Window:
    """The observation window of a control on ``on`` [days, inclusive bounds]."""

    start: dt.date
    end: dt.date
    grace_days: int
    basis: list[dict[str, str]]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def window_for(rule: ControlRule, on: dt.date, catalog: Catalog | None = None) -> Window:
    """The window ending on ``on`` and the grace period, from the catalog values in force.

    Raises
    ------
    NotInForceError
        The control parameters have no value on ``on``.
    """
    cat = catalog or default_catalog()
    months = value_at(rule.window_parameter, on, cat)
    grace = value_at(rule.grace_parameter, on, cat)
    start = add_months(on + dt.timedelta(days=1), -int(months.value))
    basis = [
        {
            "parameter": v.parameter,
            "value": str(v.value),
            "unit": v.unit,
            "basis": v.basis.cite(),
            "grade": v.grade,
        }
        for v in (months, grace)
    ]
    return Window(start, on, int(grace.value), basis)


_EVIDENCE_SQL = """
SELECT subscriber_id,
       max(home_country),
       sum(CASE WHEN rlah_events > 0 AND home_events = 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN home_events > 0 THEN 1 ELSE 0 END),
       sum(rlah_data_bytes), sum(home_data_bytes),
       sum(rlah_voice_s), sum(home_voice_s), sum(rlah_sms), sum(home_sms)
FROM state_days_now
WHERE tenant = ? AND day >= ? AND day <= ?
GROUP BY subscriber_id
HAVING max(CASE WHEN rlah_regime = ? THEN 1 ELSE 0 END) = 1
"""
_EVIDENCE_COLUMNS = [
    "subscriber_id",
    "home_country",
    "days_abroad",
    "days_with_home_records",
    "rlah_data_bytes",
    "home_data_bytes",
    "rlah_voice_s",
    "home_voice_s",
    "rlah_sms",
    "home_sms",
]


def pruned_before(tx: Transaction, tenant: str = "") -> dt.date | None:
    """The day before which ``roamlike state prune`` dropped the tenant's presence days and
    closed periods (``roamlike.state.prune``), if ever."""
    rows = tx.execute("SELECT before_day FROM state_pruned WHERE tenant = ?", (tenant,))
    return dt.date.fromisoformat(str(rows[0][0])) if rows else None


def assess(tx: Transaction, on: dt.date, tenant: str = "") -> list[dict[str, Any]]:
    """Every subscriber with roaming at domestic prices in the window, with the evidence and
    whether the test is met (``flagged``); sorted by subscriber.

    Raises
    ------
    NotInForceError
        A control parameter has no value on ``on``.
    StoreError
        The store was pruned after the window's first day (``roamlike state prune``).
    """
    readable(tx, tenant)  # the views then hold the packs' days too
    out: list[dict[str, Any]] = []
    pruned = pruned_before(tx, tenant)
    for rule in CONTROL_RULES.values():
        window = window_for(rule, on)
        if pruned is not None and window.start < pruned:
            raise StoreError(
                f"a control on {on.isoformat()} reads days from {window.start.isoformat()} "
                f"({rule.regime}), but the store was pruned before {pruned.isoformat()}: "
                "those days are gone"
            )
        rows = tx.execute(
            _EVIDENCE_SQL,
            (tenant, window.start.isoformat(), on.isoformat(), rule.regime),
        )
        if not rows:
            continue
        firsts = dict(
            tx.execute(
                "SELECT subscriber_id, min(day) FROM state_days_now WHERE tenant = ? "
                "GROUP BY subscriber_id HAVING min(day) <= ?",
                (tenant, window.start.isoformat()),
            )
        )
        for row in rows:
            ev = dict(zip(_EVIDENCE_COLUMNS, row, strict=True))
            if rule.homes is not None and ev["home_country"] not in rule.homes:
                continue
            ev["regime"] = rule.regime
            for key in _EVIDENCE_COLUMNS[2:]:
                ev[key] = int(ev[key] or 0)
            ev["days_home"] = window.days - ev["days_abroad"]
            observed = str(ev["subscriber_id"]) in firsts
            presence = ev["days_abroad"] > ev["days_home"]
            consumption = ev["rlah_data_bytes"] > ev["home_data_bytes"]
            ev.update(
                window_start=window.start.isoformat(),
                window_end=on.isoformat(),
                window_days=window.days,
                is_fully_observed=observed,
                is_presence_mostly_abroad=presence,
                is_consumption_mostly_abroad=consumption,
                test="presence and consumption"
                if rule.requires_both
                else "presence or consumption",
                flagged=observed
                and (
                    (presence and consumption) if rule.requires_both else (presence or consumption)
                ),
                grace_days=window.grace_days,
                basis=window.basis,
            )
            out.append(ev)
    return sorted(out, key=lambda e: str(e["subscriber_id"]))


def run_control(
    tx: Transaction, on: dt.date, tenant: str = "", record: bool = True
) -> list[dict[str, Any]]:
    """Assess the subscribers on ``on``; return the flagged ones with their warning and surcharge
    dates, and (``record``) keep the findings in ``state_control``.

    A subscriber with an open warning keeps its first dates; an open warning whose subscriber no
    longer meets the test is closed (``cleared_on = on``).
    """
    assessed = assess(tx, on, tenant)
    open_rows = tx.execute(
        "SELECT subscriber_id, warned_on, surcharge_from FROM state_control "
        "WHERE tenant = ? AND cleared_on IS NULL AND warned_on <= ?",
        (tenant, on.isoformat()),
    )
    warned = {str(s): (str(w), str(f)) for s, w, f in open_rows}
    flagged: list[dict[str, Any]] = []
    for ev in assessed:
        sub = str(ev["subscriber_id"])
        if not ev["flagged"]:
            continue
        if sub in warned:
            ev["warning_date"], ev["surcharge_from"] = warned[sub]
            ev["is_new_warning"] = False
        else:
            ev["warning_date"] = on.isoformat()
            ev["surcharge_from"] = (on + dt.timedelta(days=ev["grace_days"])).isoformat()
            ev["is_new_warning"] = True
        flagged.append(ev)
    if record:
        flagged_ids = {str(e["subscriber_id"]) for e in flagged}
        tx.executemany(
            "UPDATE state_control SET cleared_on = ? "
            "WHERE tenant = ? AND subscriber_id = ? AND cleared_on IS NULL",
            [(on.isoformat(), tenant, s) for s in warned if s not in flagged_ids],
        )
        tx.executemany(
            "INSERT INTO state_control (tenant, subscriber_id, warned_on, surcharge_from, "
            "cleared_on, regime, evidence_json) VALUES (?, ?, ?, ?, NULL, ?, ?)",
            [
                (
                    tenant,
                    str(e["subscriber_id"]),
                    e["warning_date"],
                    e["surcharge_from"],
                    e["regime"],
                    json.dumps(e, sort_keys=True, default=str),
                )
                for e in flagged
                if e["is_new_warning"]
            ],
        )
    return flagged


def surcharge_periods(tx: Transaction, tenant: str = "") -> pl.DataFrame:
    """The recorded surcharge periods: ``subscriber_id``, ``surcharge_from``, ``cleared_on``
    (dates; ``cleared_on`` null while the warning stands)."""
    rows = tx.execute(
        "SELECT subscriber_id, surcharge_from, cleared_on FROM state_control WHERE tenant = ?",
        (tenant,),
    )
    frame = pl.DataFrame(
        rows,
        schema={"subscriber_id": pl.String, "surcharge_from": pl.String, "cleared_on": pl.String},
        orient="row",
    )
    return frame.with_columns(pl.col("surcharge_from", "cleared_on").str.to_date())
