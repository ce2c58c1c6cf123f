"""Law-catalog commands: ``rules``, ``timeline``, ``countries``, ``sources``, ``instruments``.

Thin views over :mod:`roamlike.law`; no rule lives here. Exit codes (README.md): 0 ok, 2 usage
error (bad date text, unknown country), 3 no rule in force or a defective catalog.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import console, fail, handle, parse_date, print_json
from roamlike.errors import EXIT_USAGE, RoamlikeError
from roamlike.law import Catalog, Rules, default_catalog, format_decimal, resolve, timeline

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _country_code(catalog: Catalog, text: str) -> str:
    """Upper-case a country code and check the catalog knows it.

    Raises
    ------
    UnknownCountryError
        A code that is not an ISO 3166-1 country (every country is in the catalog).
    """
    code = text.strip().upper()
    catalog.country(code)
    return code


def _caps_table(rules: Rules, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for name in ("service", "measure", "value", "unit"):
        table.add_column(name, no_wrap=True)
    table.add_column("basis", overflow="fold")
    table.add_column("grade", no_wrap=True)
    for cap in rules.caps:
        table.add_row(
            cap.service,
            cap.measure,
            format_decimal(cap.value),
            cap.unit,
            cap.basis.cite(),
            cap.grade,
        )
    return table


def _print_rules(rules: Rules) -> None:
    basis = rules.basis.cite() if rules.basis is not None else "-"
    console.print(
        f"[bold]{rules.home} -> {rules.visited}[/] on {rules.on.isoformat()}", highlight=False
    )
    console.print(f"regime: [bold]{rules.regime}[/]  kind: [bold]{rules.kind}[/]", highlight=False)
    console.print(f"basis: {basis}  grade: {rules.grade or '-'}", highlight=False)
    if rules.caps:
        console.print(_caps_table(rules))
    elif rules.kind == "unregulated":
        console.print(
            "no caps: no roaming regime covers this pair on that day; the plan's own prices "
            "apply (docs/law/countries.md)",
            highlight=False,
        )
    else:
        console.print("no caps", highlight=False)
    for gap in rules.gaps:
        console.print(
            f"[yellow]gap:[/] {gap.service} {gap.measure} ({gap.parameter}): {gap.reason}",
            highlight=False,
        )


@app.command("rules")
def rules_command(
    home: Annotated[str, typer.Argument(help="Home country, ISO 3166 alpha-2 (XK for Kosovo).")],
    visited: Annotated[str, typer.Argument(help="Visited country, ISO 3166 alpha-2.")],
    on: Annotated[str, typer.Option("--on", help="The governing day, YYYY-MM-DD.")],
    as_json: JsonOption = False,
) -> None:
    """Show the roaming rules between two countries on a day: regime, kind, caps, basis, grade.

    Parameters
    ----------
    home, visited : str
        ISO 3166 alpha-2 codes, case-insensitive (XK for Kosovo).
    on : str
        The day, ``YYYY-MM-DD`` (docs/law/governing-date.md: the local start date of the event).
    as_json : bool
        Print ``resolve(...).to_json()`` as one JSON object instead of a table.

    Raises
    ------
    typer.Exit
        Code 2 for a bad date or an unknown country, 3 when no rule is in force on ``on``
        or the catalog is defective.
    """
    day = parse_date(on, "--on")
    try:
        catalog = default_catalog()
        rules = resolve(_country_code(catalog, home), _country_code(catalog, visited), day, catalog)
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(rules.to_json())
    else:
        _print_rules(rules)


def _timeline_entry(rules: Rules) -> dict[str, Any]:
    doc = rules.to_json()
    out: dict[str, Any] = {"from": doc["on"]}
    for key in ("regime", "kind", "basis", "grade", "caps", "gaps"):
        if key in doc:
            out[key] = doc[key]
    return out


@app.command("timeline")
def timeline_command(
    home: Annotated[str, typer.Argument(help="Home country, ISO 3166 alpha-2 (XK for Kosovo).")],
    visited: Annotated[str, typer.Argument(help="Visited country, ISO 3166 alpha-2.")],
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day, YYYY-MM-DD (default: start of coverage)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last day, YYYY-MM-DD (default: end of coverage)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List every change of regime or cap between two countries.

    Parameters
    ----------
    home, visited : str
        ISO 3166 alpha-2 codes, case-insensitive.
    start, end : str or None
        Inclusive bounds, ``YYYY-MM-DD``; clipped to the catalog's coverage.
    as_json : bool
        Print a JSON list of ``{"from", "regime", "kind", "basis", "grade", "caps"}``
        (plus ``"gaps"`` where a cap has no value in force).

    Raises
    ------
    typer.Exit
        Code 2 for a bad date, ``--from`` after ``--to`` or an unknown country; 3 when the
        period lies wholly outside the catalog's coverage or the catalog is defective.
    """
    day_from = parse_date(start, "--from") if start is not None else None
    day_to = parse_date(end, "--to") if end is not None else None
    if day_from is not None and day_to is not None and day_from > day_to:
        fail(
            f"--from {day_from.isoformat()} is after --to {day_to.isoformat()}; "
            "give a period whose start is not after its end",
            EXIT_USAGE,
        )
    try:
        catalog = default_catalog()
        h = _country_code(catalog, home)
        v = _country_code(catalog, visited)
        changes = timeline(h, v, day_from, day_to, catalog)
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json([_timeline_entry(r) for r in changes])
        return
    table = Table(title=f"{h} -> {v}: changes of regime or cap")
    for name in ("from", "regime", "kind"):
        table.add_column(name, no_wrap=True)
    table.add_column("caps", overflow="fold")
    for r in changes:
        lines = [
            f"{c.service} {c.measure} {format_decimal(c.value)} {c.unit} ({c.grade})"
            for c in r.caps
        ]
        lines += [f"gap: {g.service} {g.measure} ({g.parameter})" for g in r.gaps]
        table.add_row(r.on.isoformat(), r.regime, r.kind, "\n".join(lines) or "-")
    console.print(table)


@app.command("countries")
def countries_command(
    on: Annotated[
        str | None, typer.Option("--on", help="The day, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the catalog's countries with currency, MCCs, VAT rate and zones on a day.

    Parameters
    ----------
    on : str or None
        The day, ``YYYY-MM-DD``; today when omitted.
    as_json : bool
        Print a JSON list of ``{"code", "name", "currency", "mcc", "vat_standard", "zones"}``;
        ``vat_standard`` is a decimal fraction written as a string (``"0.19"``); ``currency`` and
        ``vat_standard`` are null for a country the catalog carries no such value for.

    Raises
    ------
    typer.Exit
        Code 2 for a bad date; 3 when the day is outside the catalog's coverage or a
        country has no currency or VAT rate on it.
    """
    day = parse_date(on, "--on") if on is not None else dt.date.today()
    rows: list[dict[str, Any]] = []
    try:
        catalog = default_catalog()
        catalog.coverage.check("the country catalog", day)
        for code in sorted(catalog.countries):
            country = catalog.countries[code]
            # outside the regulated areas: maybe no currency or VAT (docs/law/countries.md)
            has_cur = bool(country.currencies) and country.currencies[0].start <= day
            has_vat = bool(country.vat_standard) and country.vat_standard[0].start <= day
            rows.append(
                {
                    "code": code,
                    "name": country.name,
                    "currency": country.currency_at(day) if has_cur else None,
                    "mcc": list(country.mcc),
                    "vat_standard": format_decimal(country.vat_at(day).value) if has_vat else None,
                    "zones": sorted(
                        zid
                        for zid, zone in catalog.zones.items()
                        if zone.is_member(code, day) is not None
                    ),
                }
            )
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Countries on {day.isoformat()}")
    for name in ("code", "name", "currency", "MCC", "VAT"):
        table.add_column(name, no_wrap=True)
    table.add_column("zones", overflow="fold")
    for row in rows:
        table.add_row(
            row["code"],
            row["name"],
            row["currency"] or "-",
            ", ".join(row["mcc"]) or "-",
            row["vat_standard"] or "-",
            ", ".join(row["zones"]) or "-",
        )
    console.print(table)


@app.command("sources")
def sources_command(as_json: JsonOption = False) -> None:
    """List the source registry (``sources.yaml``): every source read, where, what, with its grade.

    Parameters
    ----------
    as_json : bool
        Print a JSON list of ``{"id", "title", "publisher", "date", "location", "read", "grade",
        "cited_by"}``; ``cited_by`` counts the catalog values (parameter steps, zone memberships,
        regime phases, instruments, country attributes) that name the source.

    Raises
    ------
    typer.Exit
        Code 3 when the catalog is defective.
    """
    try:
        catalog = default_catalog()
    except RoamlikeError as exc:
        handle(exc)
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
    rows = [
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
    if as_json:
        print_json(rows)
        return
    table = Table(title="Sources read for the law catalog (src/roamlike/law/sources.yaml)")
    table.add_column("id", overflow="fold", max_width=24)
    for name in ("grade", "cited"):
        table.add_column(name, no_wrap=True)
    table.add_column("title / where / what was read", overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["grade"]),
            str(row["cited_by"]),
            f"{row['title']}\n[dim]{row['location']}[/]\n{row['read']}",
        )
    console.print(table)


@app.command("instruments")
def instruments_command(as_json: JsonOption = False) -> None:
    """List the legal instruments the catalog cites, and how many parameter values cite each.

    Parameters
    ----------
    as_json : bool
        Print a JSON list of ``{"id", "title", "reference", "status", "grade",
        "date_of_application", "values"}``; ``values`` counts the dated parameter values
        (not ``repealed`` entries) whose basis names the instrument.

    Raises
    ------
    typer.Exit
        Code 3 when the catalog is defective.
    """
    try:
        catalog = default_catalog()
    except RoamlikeError as exc:
        handle(exc)
    counts = dict.fromkeys(catalog.instruments, 0)
    for param in catalog.parameters.values():
        for step in param.steps:
            if not step.repealed:
                counts[step.basis.instrument] += 1
    rows = [
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
    if as_json:
        print_json(rows)
        return
    table = Table(title="Legal instruments cited by the law catalog")
    table.add_column("id", overflow="fold", max_width=16)
    for name in ("status", "grade", "values"):
        table.add_column(name, no_wrap=True)
    table.add_column("title / reference", overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["status"]),
            str(row["grade"]),
            str(row["values"]),
            f"{row['title']}\n[dim]{row['reference']}[/]",
        )
    console.print(table)
