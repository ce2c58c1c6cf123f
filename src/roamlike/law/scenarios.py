"""What-if scenarios: YAML overlays on the law catalog, each change cited and graded hypothetical.

A scenario file changes the law from a date on and leaves everything before that date as it is:

* ``join_area`` / ``leave_area``: countries enter or leave a zone of ``zones.yaml`` from a date;
* ``parameter``: a parameter's values from a date are replaced (an unknown id adds a parameter,
  with ``description`` and ``unit``);
* ``regime``: a regime's phases from a date are replaced (an unknown id adds a regime, with
  ``title``, ``precedence``, ``areas`` and optionally ``bound_zone`` and ``rules``).

A replaced series keeps its end: a ``repealed`` step of the catalog after the scenario's last
value still closes it (the scenario changes values, not the expiry of the act).

Every change states a ``basis`` (an instrument of the catalog or one the scenario declares, whose
``sources`` are ids of the catalog's registry or of the scenario's own ``sources``) and carries the
grade ``hypothetical``; the overlaid values keep that grade, so every output that
rests on them can say so. The file is read as strictly as the catalog: unknown keys, duplicate
keys, bad dates, unknown countries, zones, parameters or instruments are errors naming the file
and the line. YAML anchors and aliases are refused (a scenario is small and written by hand).

The result is a new :class:`~roamlike.law.catalog.Catalog` value; the catalog it overlays is not
changed, so the baseline and the scenario can be used side by side.

Example::

    scenario:
      name: wb6-join-eu-rlah-2027
      title: "The Western Balkans join the EU roaming area on 2027-01-01"
    changes:
      - join_area: {zone: eu_rlah, countries: [AL, BA, ME, MK, RS, XK], from: 2027-01-01}
        basis: {instrument: scenario, article: "the scenario's assumption"}
        grade: hypothetical
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from roamlike.errors import ParameterFileError, ScenarioFileError
from roamlike.law.catalog import (
    GRADES,
    HYPOTHETICAL,
    INSTRUMENT_STATUSES,
    Catalog,
    Instrument,
    Membership,
    Source,
    Zone,
)
from roamlike.law.resolution import Rules
from roamlike.law.scenario_changes import (
    Change,
    _area_change,
    _parameter_change,
    _regime_change,
    _ScenarioReader,
)
from roamlike.law.strict_yaml import LineDict, load_strict

#: Id of the instrument every scenario declares implicitly: the scenario itself.
SCENARIO_INSTRUMENT = "scenario"
#: Largest scenario file read [bytes]: a scenario is a page of YAML, not a data set.
MAX_SCENARIO_BYTES = 1_000_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CHANGE_KINDS = ("join_area", "leave_area", "parameter", "regime")


@dataclass(frozen=True, eq=False)
class Scenario:
    """A what-if scenario: its changes and the catalog they produce over a baseline catalog."""

    name: str
    title: str
    description: str
    path: Path
    changes: tuple[Change, ...]
    baseline: Catalog
    catalog: Catalog

    def first_change(self) -> dt.date:
        """The earliest date any change takes effect."""
        return min(c.start for c in self.changes)


def _check_text(path: Path) -> None:
    """Refuse oversized files and YAML aliases before the strict reader builds any object."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ScenarioFileError(path, f"cannot read file: {exc.strerror}") from exc
    if size > MAX_SCENARIO_BYTES:
        raise ScenarioFileError(
            path, f"the file has {size:,} bytes; a scenario has at most {MAX_SCENARIO_BYTES:,}"
        )
    try:
        events = list(yaml.parse(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
    except (UnicodeDecodeError, yaml.YAMLError):
        return  # the strict reader reports these with their line
    for event in events:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ScenarioFileError(
                path,
                "YAML anchors and aliases (&name, *name) are not allowed in a scenario file: "
                "write each value out",
                event.start_mark.line + 1 if event.start_mark is not None else None,
            )


def _sources(r: _ScenarioReader, doc: LineDict, base: Catalog) -> dict[str, Source]:
    """The catalog's source registry plus the scenario's own ``sources`` (each with a URL)."""
    out = dict(base.sources)
    if "sources" not in doc:
        return out
    items = r.mapping(doc["sources"], "sources", doc.line_of("sources"))
    for sid, raw in items.items():
        what = f"source {sid!r}"
        m = r.mapping(raw, what, items.line_of(sid))
        r.keys(m, what, ("title", "publisher", "read", "grade", "url"), ("date",))
        if sid in out:
            raise r.fail(
                f"{what} already exists in the catalog's registry; cite it directly", m.line
            )
        out[sid] = Source(
            id=sid,
            title=r.text(m, "title", what),
            publisher=r.text(m, "publisher", what),
            read=r.text(m, "read", what),
            grade=r.grade(m, "grade", what),
            date=r.date(m, "date", what) if "date" in m else None,
            url=r.text(m, "url", what),
        )
    return out


def _instruments(
    r: _ScenarioReader,
    doc: LineDict,
    base: Catalog,
    sources: Mapping[str, Source],
    name: str,
    title: str,
) -> dict[str, Instrument]:
    out = dict(base.instruments)
    out[SCENARIO_INSTRUMENT] = Instrument(
        id=SCENARIO_INSTRUMENT,
        title=f"what-if scenario {name}: {title}",
        reference=str(r.path.name),
        date_of_application=None,
        status="proposal",
        grade=HYPOTHETICAL,
        notes="Not law: the assumption a scenario states.",
    )
    if "instruments" not in doc:
        return out
    items = r.mapping(doc["instruments"], "instruments", doc.line_of("instruments"))
    for iid, raw in items.items():
        what = f"instrument {iid!r}"
        m = r.mapping(raw, what, items.line_of(iid))
        r.keys(m, what, ("title", "reference", "status", "grade", "sources"), ("notes",))
        if iid in out:
            raise r.fail(f"{what} already exists in the catalog; cite it directly", m.line)
        status = r.text(m, "status", what)
        if status not in INSTRUMENT_STATUSES:
            raise r.fail(
                f"{what}: status must be one of {', '.join(INSTRUMENT_STATUSES)}, found {status!r}",
                m.line_of("status"),
            )
        grade = m.get("grade")
        if grade not in (*GRADES, HYPOTHETICAL):
            raise r.fail(
                f"{what}: 'grade' must be one of {', '.join((*GRADES, HYPOTHETICAL))}, "
                f"found {grade!r}",
                m.line_of("grade"),
            )
        out[iid] = Instrument(
            id=iid,
            title=r.text(m, "title", what),
            reference=r.text(m, "reference", what),
            date_of_application=None,
            status=status,
            grade=grade,
            notes=r.text(m, "notes", what, default=""),
            sources=r.source_ids(m, what, sources, key="sources"),
        )
    return out


def load_scenario(path: Path, baseline: Catalog) -> Scenario:
    """Read a scenario file and apply it to ``baseline``.

    Parameters
    ----------
    path : pathlib.Path
        The scenario YAML file.
    baseline : Catalog
        The catalog the scenario changes (it is left unchanged).

    Returns
    -------
    Scenario
        Its changes, in file order, and ``catalog``: ``baseline`` with the changes applied.

    Raises
    ------
    ScenarioFileError
        The file is missing, unreadable or invalid; the message names the file and line.
    """
    _check_text(path)
    r = _ScenarioReader(path)
    try:
        text = load_strict(path)
    except ScenarioFileError:
        raise
    except ParameterFileError as exc:
        raise ScenarioFileError(path, exc.detail, exc.line) from exc
    doc = r.mapping(text, "the file")
    r.keys(doc, "the file", ("scenario", "changes"), ("sources", "instruments"))
    head = r.mapping(doc["scenario"], "scenario", doc.line_of("scenario"))
    r.keys(head, "scenario", ("name", "title"), ("description",))
    name = r.text(head, "name", "scenario")
    if not _NAME.match(name) or name == "baseline":
        raise r.fail(
            "scenario: 'name' must be lower-case letters, digits and '-' (at most 63), and not "
            f"'baseline'; found {name!r}",
            head.line_of("name"),
        )
    title = r.text(head, "title", "scenario")
    sources = _sources(r, doc, baseline)
    instruments = _instruments(r, doc, baseline, sources, name, title)
    zones = dict(baseline.zones)
    parameters = dict(baseline.parameters)
    regimes = {g.id: g for g in baseline.regimes}
    changes: list[Change] = []
    for i, raw in enumerate(r.items(doc, "changes", "the file")):
        what = f"changes[{i}]"
        m = r.mapping(raw, what, doc.line_of("changes"))
        kinds = [k for k in _CHANGE_KINDS if k in m]
        if len(kinds) != 1:
            raise r.fail(f"{what}: exactly one of {', '.join(_CHANGE_KINDS)} is needed", m.line)
        kind = kinds[0]
        r.keys(m, what, (kind, "basis", "grade"), ("notes", "source"))
        r.hypothetical(m, what)
        basis = r.basis(m, what, instruments)
        notes = r.text(m, "notes", what, default="")
        cited = r.source_ids(m, what, sources) if "source" in m else ()
        body = r.mapping(m[kind], f"{what}: {kind}", m.line_of(kind))
        bwhat = f"{what}: {kind}"
        if kind in ("join_area", "leave_area"):
            joins = kind == "join_area"
            change = _area_change(
                r, body, bwhat, joins, basis, notes, cited, zones, baseline.countries
            )
        elif kind == "parameter":
            change = _parameter_change(r, body, bwhat, basis, notes, cited, parameters)
        else:
            change = _regime_change(r, body, bwhat, basis, notes, cited, regimes, parameters, zones)
        if not (baseline.coverage.start <= change.start <= baseline.coverage.end):
            raise r.fail(
                f"{what}: takes effect on {change.start.isoformat()}, outside the catalog's "
                f"coverage {baseline.coverage.start.isoformat()} to "
                f"{baseline.coverage.end.isoformat()}",
                m.line_of(kind),
            )
        changes.append(change)
    catalog = dataclasses.replace(
        baseline,
        sources=sources,
        instruments=instruments,
        parameters=parameters,
        zones=zones,
        regimes=tuple(sorted(regimes.values(), key=lambda g: g.precedence)),
    )
    return Scenario(
        name=name,
        title=title,
        description=r.text(head, "description", "scenario", default=""),
        path=path,
        changes=tuple(changes),
        baseline=baseline,
        catalog=catalog,
    )


def rests_on_hypothesis(rules: Rules, catalog: Catalog) -> bool:
    """Whether ``rules`` depend on a hypothetical value of ``catalog``.

    True when the regime's phase, a cap, or the area membership of the home or the visited
    country in a zone consulted to find the regime (every regime of equal or higher precedence
    than the winner; all of them for ``unregulated``) carries the grade ``hypothetical``.
    Domestic use never does.
    """
    if rules.kind == "domestic":
        return False
    if rules.grade == HYPOTHETICAL or any(c.grade == HYPOTHETICAL for c in rules.caps):
        return True
    winner = next((g.precedence for g in catalog.regimes if g.id == rules.regime), None)
    for regime in catalog.regimes:
        if winner is not None and regime.precedence > winner:
            break
        for zone_id in regime.zones:
            zone = catalog.zones[zone_id]
            for country in (rules.home, rules.visited):
                step = _membership_step(zone, country, rules.on)
                if step is not None and step.grade == HYPOTHETICAL:
                    return True
    return False


def _membership_step(zone: Zone, country: str, on: dt.date) -> Membership | None:
    steps = [s for s in zone.members.get(country, ()) if s.start <= on]
    return steps[-1] if steps else None
