"""The law catalog as JSON documents: what ``roamlike rules|timeline|countries|sources|instruments
--json`` print and what the HTTP API (``GET /v1/rules`` …) answers — one builder each, shared.

Every builder takes the catalog as an argument and returns plain JSON values (decimals as
strings, dates as ``YYYY-MM-DD``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from roamlike.law.catalog import Catalog
from roamlike.law.resolution import Rules, format_decimal, resolve, timeline


def country_code(catalog: Catalog, text: str) -> str:
    """Upper-case a country code and check the catalog knows it.

    Raises
    ------
    UnknownCountryError
        The catalog has no such country (the message lists the known codes).
    """
    code = text.strip().upper()
    catalog.country(code)
    return code


def rules_document(catalog: Catalog, home: str, visited: str, on: dt.date) -> dict[str, Any]:
    """``resolve(home, visited, on).to_json()``, country codes checked and upper-cased.

    Raises
    ------
    UnknownCountryError, NotInForceError
    """
    rules = resolve(country_code(catalog, home), country_code(catalog, visited), on, catalog)
    return rules.to_json()


def timeline_entry(rules: Rules) -> dict[str, Any]:
    """One change of regime or cap: ``{"from", "regime", "kind", "basis", "grade", "caps"}``."""
    doc = rules.to_json()
    out: dict[str, Any] = {"from": doc["on"]}
    for key in ("regime", "kind", "basis", "grade", "caps", "gaps"):
        if key in doc:
            out[key] = doc[key]
    return out


def timeline_changes(
    catalog: Catalog, home: str, visited: str, start: dt.date | None, end: dt.date | None
) -> list[Rules]:
    """Every change of regime or cap between two countries, codes checked (see ``timeline``)."""
    h = country_code(catalog, home)
    v = country_code(catalog, visited)
    return timeline(h, v, start, end, catalog)


def timeline_document(
    catalog: Catalog, home: str, visited: str, start: dt.date | None, end: dt.date | None
) -> list[dict[str, Any]]:
    """The JSON list of :func:`timeline_entry` for every change between ``start`` and ``end``.

    Raises
    ------
    UnknownCountryError, NotInForceError
    """
    return [timeline_entry(r) for r in timeline_changes(catalog, home, visited, start, end)]


def countries_document(catalog: Catalog, on: dt.date) -> list[dict[str, Any]]:
    """The catalog's countries on ``on``: code, name, currency, MCCs, VAT rate and zones.

    ``vat_standard`` is a decimal fraction written as a string (``"0.19"``); ``currency`` and
    ``vat_standard`` are null for a country without one in the catalog on that day.

    Raises
    ------
    NotInForceError
        ``on`` is outside the catalog's coverage (a country outside the regulated areas may
        have no currency or VAT rate: ``None``).
    """
    catalog.coverage.check("the country catalog", on)
    rows: list[dict[str, Any]] = []
    for code in sorted(catalog.countries):
        country = catalog.countries[code]
        # outside the regulated areas: maybe no currency or VAT (docs/law/countries.md)
        has_cur = bool(country.currencies) and country.currencies[0].start <= on
        has_vat = bool(country.vat_standard) and country.vat_standard[0].start <= on
        rows.append(
            {
                "code": code,
                "name": country.name,
                "currency": country.currency_at(on) if has_cur else None,
                "mcc": list(country.mcc),
                "vat_standard": format_decimal(country.vat_at(on).value) if has_vat else None,
                "zones": sorted(
                    zid
                    for zid, zone in catalog.zones.items()
                    if zone.is_member(code, on) is not None
                ),
            }
        )
    return rows


def instruments_document(catalog: Catalog) -> list[dict[str, Any]]:
    """The instruments the catalog cites, each with the count of dated values citing it.

    ``values`` counts the dated parameter values (not ``repealed`` entries) whose basis names
    the instrument.
    """
    counts = dict.fromkeys(catalog.instruments, 0)
    for param in catalog.parameters.values():
        for step in param.steps:
            if not step.repealed:
                counts[step.basis.instrument] += 1
    return [
        {
            "id": inst.id,
            "title": inst.title,
            "reference": inst.reference,
            "status": inst.status,
            "grade": inst.grade,
            "date_of_application": None
            if inst.date_of_application is None
            else inst.date_of_application.isoformat(),
            "values": counts[inst.id],
        }
        for inst in sorted(catalog.instruments.values(), key=lambda i: i.id)
    ]


def sources_document(catalog: Catalog) -> list[dict[str, Any]]:
    """The source registry (``sources.yaml``), each source with how many catalog values cite it.

    ``cited_by`` counts parameter steps, zone memberships, regime phases, instruments and country
    attributes that name the source.
    """
    counts = dict.fromkeys(catalog.sources, 0)
    cited: list[str] = [
        sid for p in catalog.parameters.values() for st in p.steps for sid in st.sources
    ]
    cited += [
        sid
        for z in catalog.zones.values()
        for ms in z.members.values()
        for m in ms
        for sid in m.sources
    ]
    cited += [sid for r in catalog.regimes for ph in r.phases for sid in ph.sources]
    cited += [sid for i in catalog.instruments.values() for sid in i.sources]
    for c in catalog.countries.values():
        cited += (
            [x.source for x in c.currencies] + [x.source for x in c.vat_standard] + [c.mcc_source]
        )
    for sid in cited:
        counts[sid] += 1
    return [
        {
            "id": src.id,
            "title": src.title,
            "publisher": src.publisher,
            "date": None if src.date is None else src.date.isoformat(),
            "location": src.location(),
            "read": src.read,
            "grade": src.grade,
            "cited_by": counts[src.id],
        }
        for src in sorted(catalog.sources.values(), key=lambda s: s.id)
    ]
