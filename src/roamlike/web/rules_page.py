"""The rules explorer: the regime between two countries on a date, its caps, their history,
and the regime between every pair of countries on that date.

Every figure comes from :func:`roamlike.law.resolve` and :func:`roamlike.law.timeline`; this
module only lays them out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from roamlike.errors import NotInForceError, RoamlikeError
from roamlike.law import Basis, Catalog, Rules, format_decimal, resolve, timeline
from roamlike.web.chart import cap_series, step_chart
from roamlike.web.layout import e, error_box, page, select, text_input, url

#: Fill colour of each regime in the matrix (text stays dark on every one: contrast >= 4.5:1).
REGIME_COLOURS: dict[str, str] = {
    "eu_rlah": "#9ec5fe",
    "wb_rra": "#a3cfbb",
    "eu_wb_offer_caps": "#ffda6a",
    "domestic": "#e9ecef",
    "unregulated": "#ffffff",
}
#: One letter per kind in each matrix cell, so the matrix does not rely on colour alone.
KIND_LETTERS: dict[str, str] = {
    "rlah": "R",
    "surcharge_cap": "S",
    "retail_cap": "C",
    "offer_cap": "O",
    "domestic": "·",
    "unregulated": "–",
}
DEFAULT_PAIR = ("RS", "ME")


@dataclass(frozen=True)
class RulesQuery:
    """The explorer's state, read from the URL."""

    home: str
    visited: str
    on: dt.date
    errors: tuple[str, ...] = ()


def parse_date(text: str, label: str, errors: list[str]) -> dt.date | None:
    """A ``YYYY-MM-DD`` date, or None with a message appended to ``errors``."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        errors.append(f"{label}: expected a date YYYY-MM-DD, found {text!r}")
        return None


def default_day(catalog: Catalog) -> dt.date:
    """Today, clipped to the catalog's coverage."""
    return min(max(dt.date.today(), catalog.coverage.start), catalog.coverage.end)


def read_query(params: Mapping[str, str], catalog: Catalog) -> RulesQuery:
    """The explorer's state from query parameters ``home``, ``visited``, ``on``."""
    errors: list[str] = []
    codes = []
    for key, default in zip(("home", "visited"), DEFAULT_PAIR, strict=True):
        code = params.get(key, default).strip().upper() or default
        if code not in catalog.countries:
            errors.append(f"{key}: unknown country code {code!r}; pick a country from the list")
            code = default
        codes.append(code)
    on = default_day(catalog)
    if params.get("on"):
        parsed = parse_date(params["on"], "date", errors)
        on = parsed or on
    return RulesQuery(codes[0], codes[1], on, tuple(errors))


def source_url(catalog: Catalog, source_ids: Sequence[str]) -> tuple[str, str] | None:
    """(web address, title) of the first cited source the registry records an address for.

    Parameters
    ----------
    source_ids : sequence of str
        Ids of ``sources.yaml`` a value cites, in the catalog's order.

    Returns
    -------
    tuple of str, or None
        None when no cited source has an ``http(s)`` address (a project page, say).
    """
    for sid in source_ids:
        src = catalog.sources.get(sid)
        if src is not None and src.url.startswith(("https://", "http://")):
            return src.url, src.title
    return None


def cited_sources(catalog: Catalog, basis: Basis, parameter: str | None, on: dt.date) -> list[str]:
    """The sources a value cites: the parameter's step in force on ``on``, then the instrument's."""
    ids: list[str] = []
    if parameter is not None and parameter in catalog.parameters:
        with contextlib.suppress(NotInForceError):
            ids += catalog.parameters[parameter].step_at(on).sources
    inst = catalog.instruments.get(basis.instrument)
    return ids + [sid for sid in (inst.sources if inst is not None else ()) if sid not in ids]


def basis_html(
    catalog: Catalog, basis: Basis | None, on: dt.date, parameter: str | None = None
) -> str:
    """A citation, linked to its source when the registry has the source's address."""
    if basis is None:
        return "–"
    inst = catalog.instruments.get(basis.instrument)
    title = f' title="{e(inst.title)}"' if inst is not None else ""
    name = f"<code{title}>{e(basis.instrument)}</code> {e(basis.article)}"
    found = source_url(catalog, cited_sources(catalog, basis, parameter, on))
    if found is None:
        return name
    link, source_title = found
    return (
        f'<a class="source" href="{e(link)}" rel="noreferrer" title="{e(source_title)}">{name}</a>'
    )


def country_options(catalog: Catalog) -> list[tuple[str, str]]:
    """(code, "Name (CODE)") for every country, by name."""
    return sorted(
        ((c.code, f"{c.name} ({c.code})") for c in catalog.countries.values()),
        key=lambda pair: pair[1],
    )


def _form(q: RulesQuery, catalog: Catalog) -> str:
    options = country_options(catalog)
    cov = catalog.coverage
    return (
        '<form class="query" method="get" action="/rules">'
        + select("home", "Home country (the customer's operator)", options, q.home)
        + select("visited", "Visited country", options, q.visited)
        + text_input(
            "on",
            "Date",
            q.on.isoformat(),
            "date",
            f'min="{cov.start.isoformat()}" max="{cov.end.isoformat()}" required',
            hint=f"the catalog covers {cov.start.isoformat()} to {cov.end.isoformat()}",
        )
        + '<div class="field"><button type="submit">Show the rules</button></div></form>'
    )


def _answer(rules: Rules, catalog: Catalog) -> str:
    home = catalog.countries[rules.home].name
    visited = catalog.countries[rules.visited].name
    rows = "".join(
        f"<tr><td>{e(c.service)}</td><td>{e(c.measure.replace('_', ' '))}</td>"
        f'<td class="num" data-parameter="{e(c.parameter)}">{e(format_decimal(c.value))}</td>'
        f"<td>{e(c.unit)}</td><td>{basis_html(catalog, c.basis, rules.on, c.parameter)}</td>"
        f'<td><span class="grade grade-{e(c.grade)}">{e(c.grade)}</span></td>'
        f"<td><code>{e(c.parameter)}</code></td></tr>"
        for c in rules.caps
    )
    caps = (
        '<div class="scroll"><table id="caps"><caption>Caps in force</caption><thead><tr>'
        "<th scope=col>service</th><th scope=col>measure</th><th scope=col>value</th>"
        "<th scope=col>unit</th><th scope=col>basis</th><th scope=col>grade</th>"
        f"<th scope=col>parameter</th></tr></thead><tbody>{rows}</tbody></table></div>"
        if rules.caps
        else '<p id="caps">No caps apply.</p>'
    )
    gaps = "".join(
        f"<li>{e(g.service)} {e(g.measure)} (<code>{e(g.parameter)}</code>): {e(g.reason)}</li>"
        for g in rules.gaps
    )
    gaps_html = (
        f'<div class="note"><p>Caps the regime names but with no value in force on this date:'
        f"</p><ul>{gaps}</ul></div>"
        if gaps
        else ""
    )
    regime_title = next((r.title for r in catalog.regimes if r.id == rules.regime), rules.regime)
    grade = (
        f'<span class="grade grade-{e(rules.grade)}">{e(rules.grade)}</span>'
        if rules.grade
        else "–"
    )
    return (
        f'<section aria-labelledby="answer-h"><h2 id="answer-h">{e(home)} customer in '
        f"{e(visited)} on {e(rules.on.isoformat())}</h2>"
        '<dl class="facts">'
        f'<dt>Regime</dt><dd id="regime" data-regime="{e(rules.regime)}">'
        f"<strong>{e(rules.regime)}</strong> — {e(regime_title)}</dd>"
        f'<dt>Kind</dt><dd id="kind"><strong>{e(rules.kind)}</strong></dd>'
        f"<dt>Basis</dt><dd>{basis_html(catalog, rules.basis, rules.on)}</dd>"
        f"<dt>Grade</dt><dd>{grade}</dd></dl>{caps}{gaps_html}</section>"
    )


def _charts(q: RulesQuery, catalog: Catalog) -> str:
    changes = timeline(q.home, q.visited, catalog=catalog)
    end = catalog.coverage.end + dt.timedelta(days=1)
    series = cap_series(changes, end)
    history = "".join(
        f"<tr><td>{e(r.on.isoformat())}</td><td>{e(r.regime)}</td><td>{e(r.kind)}</td>"
        f"<td>{len(r.caps)}</td></tr>"
        for r in changes
    )
    charts = "".join(
        f'<figure class="cap-chart">{step_chart(s, q.on, f"chart-{i}")}'
        f"<figcaption>{e(s.label)}</figcaption></figure>"
        for i, s in enumerate(series)
    )
    return (
        '<section aria-labelledby="history-h"><h2 id="history-h">Every cap over '
        f"{e(catalog.coverage.start.year)}–{e(catalog.coverage.end.year)}, "
        f"date marked</h2>"
        + (f'<div class="charts">{charts}</div>' if charts else "<p>No caps in any period.</p>")
        + '<details><summary>Changes of regime or cap</summary><div class="scroll"><table>'
        "<thead><tr><th scope=col>from</th><th scope=col>regime</th><th scope=col>kind</th>"
        f"<th scope=col>caps</th></tr></thead><tbody>{history}</tbody></table></div></details>"
        "</section>"
    )


def matrix_countries(catalog: Catalog, *chosen: str) -> list[str]:
    """The matrix's countries: every member of a regime area at any time, and the chosen pair.

    The catalog answers for every ISO 3166-1 country, but one outside every area is unregulated
    with every other country: a row and column for each would add tens of thousands of identical
    cells (and seconds of rendering) and no information.
    """
    zoned = {code for zone in catalog.zones.values() for code in zone.members}
    return sorted(code for code in catalog.countries if code in zoned or code in chosen)


def _matrix(q: RulesQuery, catalog: Catalog) -> str:
    codes = matrix_countries(catalog, q.home, q.visited)
    head = "".join(
        f'<th scope="col" title="{e(catalog.countries[c].name)}">{e(c)}</th>' for c in codes
    )
    body: list[str] = []
    seen: dict[str, str] = {}
    for h in codes:
        cells = [f'<th scope="row" title="{e(catalog.countries[h].name)}">{e(h)}</th>']
        for v in codes:
            r = resolve(h, v, q.on, catalog)
            seen.setdefault(r.regime, r.kind)
            colour = REGIME_COLOURS.get(r.regime, "#f8f9fa")
            current = ' aria-current="true"' if (h, v) == (q.home, q.visited) else ""
            label = (
                f"{catalog.countries[h].name} customer in {catalog.countries[v].name}: "
                f"{r.regime}, {r.kind}"
            )
            link = url("/rules", {"home": h, "visited": v, "on": q.on.isoformat()})
            cells.append(
                f'<td style="background:{colour}"><a href="{e(link)}" title="{e(label)}" '
                f'aria-label="{e(label)}"{current}>{e(KIND_LETTERS.get(r.kind, "?"))}</a></td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    legend = "".join(
        f'<li><span class="swatch" style="background:{REGIME_COLOURS.get(reg, "#f8f9fa")}">'
        f"{e(KIND_LETTERS.get(kind, '?'))}</span> {e(reg)}</li>"
        for reg, kind in sorted(seen.items())
    )
    kinds = ", ".join(f"{letter} = {kind}" for kind, letter in KIND_LETTERS.items())
    return (
        '<section aria-labelledby="matrix-h"><h2 id="matrix-h">Regime between every pair on '
        f"{e(q.on.isoformat())}</h2><p>Rows: home country; columns: visited country. "
        f"Letters give the kind ({e(kinds)}); select a cell to open the pair. The "
        f"{len(catalog.countries) - len(codes)} countries outside every regime area are left "
        "out: no regime covers them (unregulated), whatever the other country.</p>"
        f'<ul class="legend">{legend}</ul>'
        '<div class="scroll"><table class="matrix" id="matrix"><thead><tr><td></td>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


def render_rules(params: Mapping[str, str], catalog: Catalog) -> tuple[int, str]:
    """The explorer page for the query parameters; returns (HTTP status, HTML)."""
    q = read_query(params, catalog)
    status = 200 if not q.errors else 400
    try:
        rules = resolve(q.home, q.visited, q.on, catalog)
    except NotInForceError as exc:
        body = error_box([*q.errors, str(exc)]) + _form(q, catalog)
        return 422, page("Roaming rules explorer", body, "/rules")
    except RoamlikeError as exc:
        body = error_box([*q.errors, str(exc)]) + _form(q, catalog)
        return 400, page("Roaming rules explorer", body, "/rules")
    body = (
        error_box(q.errors)
        + _form(q, catalog)
        + _answer(rules, catalog)
        + _charts(q, catalog)
        + _matrix(q, catalog)
    )
    return status, page(
        "Roaming rules explorer",
        body,
        "/rules",
        f"{rules.home} to {rules.visited} on {rules.on.isoformat()}: {rules.regime}",
    )
