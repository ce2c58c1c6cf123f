"""The trip calculator page: pick a plan and a trip, see the itemised bill on two dates.

The numbers are the engine's (:func:`roamlike.web.trip.price_trip`), shown exactly in micro-units
of the plan currency (6 decimals), with the euro equivalent converted by ``roamlike.money``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from roamlike import money
from roamlike.errors import RoamlikeError, TariffError
from roamlike.law import Catalog, format_decimal
from roamlike.tariffs import FairUse, FxTable, Plan
from roamlike.web.layout import (
    e,
    error_box,
    eur_micros,
    micros_text,
    page,
    select,
    text_input,
    upload_form,
)
from roamlike.web.plans_input import decode_token, parse_plans_text
from roamlike.web.rules_page import country_options, parse_date
from roamlike.web.trip import AMOUNT_COLUMNS, Trip, TripBill, price_trip

#: The form's fields with their defaults: a week in Montenegro on a Serbian plan, before the
#: Western Balkans agreement and after its Roam-Like-At-Home phase.
DEFAULTS: dict[str, str] = {
    "plan": "rs-standard",
    "visited": "ME",
    "from": "2019-06-03",
    "to": "2019-06-09",
    "mb": "2000",
    "min_out": "30",
    "min_in": "30",
    "sms": "10",
    "compare": "2021-08-02",
}
COMPONENT_LABELS = {
    "domestic_micros": "domestic price",
    "surcharge_micros": "surcharge",
    "roaming_micros": "roaming price",
    "charge_excl_vat_micros": "total excl. VAT",
    "vat_micros": "VAT",
    "charge_incl_vat_micros": "total incl. VAT",
}
NOTIFICATION_TEXT = {
    "welcome": "welcome message (prices in the visited country)",
    "billshock_80": "bill-shock alert: 80 % of the data-roaming limit reached",
    "billshock_100": "bill-shock: the data-roaming limit is reached; service cut unless "
    "the customer chose to continue",
    "billshock_extra": "bill-shock: further alert above the extra threshold",
    "fup_exhausted": "fair-use volume used up: surcharges apply from here",
}


@dataclass(frozen=True)
class TripQuery:
    """The calculator's state, read from the URL."""

    values: dict[str, str]
    trip: Trip | None
    compare: dt.date | None
    plans: Mapping[str, Plan]
    token: str
    errors: tuple[str, ...]


def _whole(text: str, label: str, errors: list[str]) -> int:
    try:
        return int(text.strip())
    except ValueError:
        errors.append(f"{label}: expected a whole number, found {text!r}")
        return 0


def read_query(
    params: Mapping[str, str], sample: Mapping[str, Plan], catalog: Catalog
) -> TripQuery:
    """The calculator's state from query parameters (see :data:`DEFAULTS`; ``plans`` = token)."""
    values = {k: params.get(k, v) for k, v in DEFAULTS.items()}
    if "compare" in params:
        values["compare"] = params["compare"]
    errors: list[str] = []
    token = params.get("plans", "")
    plans: Mapping[str, Plan] = sample
    if token:
        try:
            plans = parse_plans_text(decode_token(token))
        except TariffError as exc:
            errors.append(str(exc))
            token = ""
    if values["plan"] not in plans:
        if "plan" in params or token:
            if "plan" in params:
                errors.append(f"plan: no plan {values['plan']!r} in the plans offered")
            values["plan"] = next(iter(plans))
        else:
            values["plan"] = next(iter(plans))
    visited = values["visited"].strip().upper()
    if visited not in catalog.countries:
        errors.append(f"visited country: unknown code {visited!r}; pick one from the list")
    values["visited"] = visited
    start = parse_date(values["from"], "first day", errors)
    end = parse_date(values["to"], "last day", errors)
    compare = parse_date(values["compare"], "second date", errors) if values["compare"] else None
    numbers = [
        _whole(values[k], label, errors)
        for k, label in (
            ("mb", "data [MB]"),
            ("min_out", "minutes of calls made"),
            ("min_in", "minutes of calls received"),
            ("sms", "SMS sent"),
        )
    ]
    trip = None
    if start is not None and end is not None and not errors:
        trip = Trip(values["plan"], visited, start, end, *numbers)
        errors += trip.problems()
        cov = catalog.coverage
        for label, day in (("first day", start), ("second date", compare)):
            if day is not None and not cov.start <= day <= cov.end:
                errors.append(
                    f"{label}: {day.isoformat()} is outside the rules the catalog covers "
                    f"({cov.start.isoformat()} to {cov.end.isoformat()})"
                )
    if errors:
        trip = None
    return TripQuery(values, trip, compare, plans, token, tuple(errors))


def _plan_label(plan: Plan) -> str:
    return f"{plan.id} — {plan.name} ({plan.home_country}, {plan.currency})"


def _form(q: TripQuery, catalog: Catalog) -> str:
    v = q.values
    num = 'inputmode="numeric" min="0" step="1"'
    token = f'<input type="hidden" name="plans" value="{e(q.token)}">' if q.token else ""
    source = "your plans" if q.token else "the illustrative sample plans"
    return (
        '<form class="query" id="trip-form" method="get" action="/trip">'
        + token
        + select(
            "plan",
            f"Plan (from {source})",
            [(p.id, _plan_label(p)) for p in q.plans.values()],
            v["plan"],
        )
        + select("visited", "Visited country", country_options(catalog), v["visited"])
        + text_input("from", "First day", v["from"], "date", "required")
        + text_input("to", "Last day", v["to"], "date", "required")
        + text_input("mb", "Data [MB]", v["mb"], "number", num)
        + text_input("min_out", "Calls made [min]", v["min_out"], "number", num)
        + text_input("min_in", "Calls received [min]", v["min_in"], "number", num)
        + text_input("sms", "SMS sent", v["sms"], "number", num)
        + text_input(
            "compare",
            "Same trip from (second date)",
            v["compare"],
            "date",
            hint="optional: shown side by side",
        )
        + '<div class="field"><button type="submit">Price the trip</button></div></form>'
    )


def _amount_cell(micros: int, key: str) -> str:
    return f'<td class="num" data-micros="{micros}" data-key="{e(key)}">{micros_text(micros)}</td>'


def _eur_text(micros: int, units_per_eur: Decimal | None) -> str:
    """The euro equivalent of an amount, or a dash when there is no exchange rate."""
    return "–" if units_per_eur is None else micros_text(eur_micros(micros, units_per_eur))


def _fair_use_text(fu: FairUse) -> str:
    cur = fu.currency
    cap = (
        f"the wholesale data cap {format_decimal(fu.cap_eur_per_gb.normalize())} EUR/GB "
        f"(<code>{e(fu.cap_parameter)}</code>, {e(fu.cap_grade)})"
        + (f" × {format_decimal(fu.fx.units_per_eur)} {e(cur)}/EUR" if cur != "EUR" else "")
    )
    price = format_decimal(money.rate(fu.price_excl_vat).normalize())
    if fu.method == "open_bundle" and fu.min_roaming_data_gb is not None:
        how = (
            f"open data bundle: at least {format_decimal(fu.multiplier)} × {price} {e(cur)} "
            f"(price excl. VAT) ÷ {cap} = "
            f"<strong>{format_decimal(money.rate(fu.min_roaming_data_gb).normalize())} GB"
            "</strong> at the domestic price"
        )
    elif fu.method == "prepaid_credit" and fu.min_roaming_data_gb is not None:
        how = (
            f"prepaid: remaining credit excl. VAT ÷ {cap} = <strong>"
            f"{format_decimal(money.rate(fu.min_roaming_data_gb).normalize())} GB</strong>"
        )
    else:
        unit = fu.domestic_unit_price_per_gb
        unit_text = "" if unit is None else f" ({format_decimal(money.rate(unit).normalize())} "
        how = (
            "not an open data bundle"
            + (
                f"{unit_text}{e(cur)}/GB domestic unit price is not below {cap})"
                if unit_text
                else ""
            )
            + ": the whole domestic volume, <strong>"
            + ("unlimited" if fu.allowance_gb is None else f"{format_decimal(fu.allowance_gb)} GB")
            + "</strong>, may be used while roaming; beyond it the domestic out-of-bundle "
            "prices apply"
        )
    return (
        f'<p class="fair-use" data-method="{e(fu.method)}">Fair use ({e(fu.regime)}): {how}. '
        f"Basis: {e(fu.basis)}; grade {e(fu.grade)}.</p>"
    )


def _bill(bill: TripBill, heading_id: str) -> str:
    cur = bill.plan.currency
    t = bill.trip
    head = (
        f'<h2 id="{heading_id}">{e(t.start.isoformat())} to {e(t.end.isoformat())}: '
        f"{e(bill.plan.home_country)} plan in {e(t.visited)}</h2>"
        f'<p>Regime <strong class="regime">{e(bill.rules.regime)}</strong>, kind '
        f'<strong class="kind">{e(bill.rules.kind)}</strong>. Amounts in {e(cur)} '
        "(exact, 6 decimals)" + (f"; euro at {e(bill.fx_note)}" if bill.fx_note else "") + ".</p>"
    )
    cols = "".join(
        f'<th scope="col" class="num">{e(COMPONENT_LABELS[c])}</th>' for c in AMOUNT_COLUMNS
    )
    rows = []
    for line in bill.lines:
        # the engine counts data allowances in billed bytes (docs/rating.md 5.1)
        in_unit = "bytes" if line.event_type == "data" else line.billed_unit
        cells = "".join(_amount_cell(line.amounts[c], c) for c in AMOUNT_COLUMNS)
        eur = _eur_text(line.amounts["charge_incl_vat_micros"], bill.units_per_eur)
        rows.append(
            f'<tr data-event="{e(line.event_type)}"><th scope="row">{e(line.label)}</th>'
            f'<td class="num">{line.billed_units} {e(line.billed_unit)}</td>'
            f'<td class="num">{line.in_bundle_units} {e(in_unit)}</td>'
            f'{cells}<td class="num eur">{eur}</td></tr>'
        )
    total_cells = "".join(_amount_cell(bill.totals[c], c) for c in AMOUNT_COLUMNS)
    total_eur = _eur_text(bill.totals["charge_incl_vat_micros"], bill.units_per_eur)
    table = (
        '<div class="scroll"><table class="bill"><thead><tr><th scope="col">service</th>'
        '<th scope="col" class="num">billed</th><th scope="col" class="num">in bundle</th>'
        f'{cols}<th scope="col" class="num">incl. VAT in EUR</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody><tfoot><tr><th scope="row">Total</th><td></td><td></td>'
        f'{total_cells}<td class="num eur total-eur">{total_eur}</td></tr></tfoot></table></div>'
    )
    fair = _fair_use_text(bill.fair_use) if bill.fair_use else f"<p>{e(bill.fair_use_note)}</p>"
    if bill.fup_used_bytes is not None:
        fair += (
            f"<p>Roaming data counted for fair use: {bill.fup_used_bytes} bytes"
            + (
                f"; {bill.over_fup_bytes} bytes beyond the fair-use volume"
                if bill.over_fup_bytes
                else ""
            )
            + ".</p>"
        )
    notes = "".join(
        f'<li data-kind="{e(n["kind"])}">{e(str(n["started_at"])[:19])}: '
        f"{e(NOTIFICATION_TEXT.get(str(n['kind']), n['kind']))}"
        + (
            f" (threshold {micros_text(int(n['threshold_micros']))} {e(cur)})"
            if n.get("threshold_micros") is not None
            else ""
        )
        + f" — basis {e(n['basis'])}</li>"
        for n in bill.notifications
    )
    shock = f'<ul class="notifications">{notes}</ul>' if notes else "<p>No notifications.</p>"
    if bill.blocked_records:
        shock += (
            f'<p class="alert" role="note">Data cut off by the bill-shock limit: '
            f"{bill.blocked_records} records charged nothing.</p>"
        )
    rejects = ""
    if bill.rejects:
        items = "".join(
            f"<li><code>{e(r['reason_code'])}</code> {e(r['record_id'])}: {e(r['message'])}</li>"
            for r in bill.rejects
        )
        rejects = (
            f'<div class="note rejects"><p>{len(bill.rejects)} records could not be rated '
            f"(not in the totals):</p><ul>{items}</ul></div>"
        )
    return (
        f'<section class="bill-section" aria-labelledby="{heading_id}">{head}{table}'
        f"<h3>Fair use</h3>{fair}<h3>Notifications and bill-shock</h3>{shock}{rejects}</section>"
    )


def _comparison(bills: list[TripBill]) -> str:
    """The totals of each date side by side, first, so the answer is read at a glance."""
    head = "".join(
        f'<th scope="col" class="num">{e(b.trip.start.isoformat())}<br>'
        f"{e(b.rules.regime)} ({e(b.rules.kind)})</th>"
        for b in bills
    )
    rows = []
    for key in ("charge_excl_vat_micros", "vat_micros", "charge_incl_vat_micros"):
        cells = "".join(
            f'<td class="num" data-key="{key}" data-micros="{b.totals[key]}">'
            f"{micros_text(b.totals[key])} {e(b.plan.currency)}</td>"
            for b in bills
        )
        rows.append(f'<tr><th scope="row">{e(COMPONENT_LABELS[key])}</th>{cells}</tr>')
    eur = "".join(
        f'<td class="num eur">{_eur_text(b.totals["charge_incl_vat_micros"], b.units_per_eur)}'
        " EUR</td>"
        for b in bills
    )
    rows.append(f'<tr><th scope="row">total incl. VAT in EUR</th>{eur}</tr>')
    return (
        '<h2 id="summary-h">The trip on each date</h2><div class="scroll">'
        '<table id="comparison" aria-labelledby="summary-h"><thead><tr><td></td>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_trip(
    params: Mapping[str, str],
    sample: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    pasted: str = "",
    extra_errors: tuple[str, ...] = (),
) -> tuple[int, str]:
    """The calculator page for the query parameters; returns (HTTP status, HTML)."""
    q = read_query(params, sample, catalog)
    errors = [*extra_errors, *q.errors]
    hidden = {k: q.values[k] for k in DEFAULTS if k != "plan"}
    body = (
        error_box(errors)
        + _form(q, catalog)
        + upload_form(
            "/trip",
            hidden,
            pasted,
            "Use your own plans (paste or upload a YAML or JSON plans file)",
            "Use these plans",
        )
    )
    status = 400 if errors else 200
    summary = ""
    if q.trip is not None:
        try:
            bills = [price_trip(q.trip, q.plans, fx)]
            if q.compare is not None:
                bills.append(price_trip(q.trip.shifted(q.compare), q.plans, fx))
            body += _comparison(bills) + (
                '<div class="side">'
                + "".join(_bill(b, f"bill-{i}") for i, b in enumerate(bills))
                + "</div>"
            )
            summary = "; ".join(
                f"{b.trip.start.isoformat()}: {micros_text(b.totals['charge_incl_vat_micros'])} "
                f"{b.plan.currency} incl. VAT"
                for b in bills
            )
        except RoamlikeError as exc:
            body += error_box([str(exc)])
            status = 422
    return status, page("Trip calculator", body, "/trip", summary)
