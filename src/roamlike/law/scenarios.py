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
from typing import Any

import yaml

from roamlike.errors import ParameterFileError, ScenarioFileError
from roamlike.law.catalog import (
    GRADES,
    HYPOTHETICAL,
    INSTRUMENT_STATUSES,
    KINDS,
    MEASURES,
    SERVICES,
    UNITS,
    Area,
    Basis,
    CapRef,
    Catalog,
    Instrument,
    Membership,
    Parameter,
    Phase,
    Regime,
    Source,
    Step,
    Zone,
    _Reader,
    regime_rules,
)
from roamlike.law.resolution import Rules
from roamlike.law.strict_yaml import LineDict, load_strict

#: Id of the instrument every scenario declares implicitly: the scenario itself.
SCENARIO_INSTRUMENT = "scenario"
#: Largest scenario file read [bytes]: a scenario is a page of YAML, not a data set.
MAX_SCENARIO_BYTES = 1_000_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_CHANGE_KINDS = ("join_area", "leave_area", "parameter", "regime")


@dataclass(frozen=True)
class Change:
    """One change a scenario makes to the law, as shown in outputs."""

    kind: str  # one of join_area, leave_area, parameter, regime
    target: str  # zone, parameter or regime id
    start: dt.date
    summary: str
    basis: Basis
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "from": self.start.isoformat(),
            "summary": self.summary,
            "basis": {"instrument": self.basis.instrument, "article": self.basis.article},
            "grade": HYPOTHETICAL,
            "notes": self.notes,
        }


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


class _ScenarioReader(_Reader):
    def fail(self, message: str, line: int | None = None) -> ParameterFileError:
        return ScenarioFileError(self.path, message, line)

    def hypothetical(self, obj: LineDict, what: str) -> None:
        if obj.get("grade") != HYPOTHETICAL:
            raise self.fail(
                f"{what}: 'grade' must be {HYPOTHETICAL!r} (a scenario changes the law only "
                f"hypothetically), found {obj.get('grade')!r}",
                obj.line_of("grade"),
            )

    def items(self, obj: LineDict, key: str, what: str) -> list[Any]:
        value = obj[key]
        if not isinstance(value, list) or not value:
            raise self.fail(f"{what}: {key!r} must be a non-empty list", obj.line_of(key))
        return value

    def countries(self, obj: LineDict, key: str, what: str, known: Mapping[str, Any]) -> list[str]:
        value = obj[key]
        if not isinstance(value, list) or not value:
            raise self.fail(f"{what}: {key!r} must be a non-empty list of country codes", obj.line)
        out: list[str] = []
        for code in value:
            if isinstance(code, bool):
                raise self.fail(
                    f"{what}: a country read as the boolean {code}: quote it (e.g. 'NO' for "
                    "Norway)",
                    obj.line_of(key),
                )
            if not isinstance(code, str) or code not in known:
                raise self.fail(
                    f"{what}: unknown country {code!r}; use ISO 3166 alpha-2 codes the catalog "
                    "knows (XK for Kosovo; `roamlike countries` lists them)",
                    obj.line_of(key),
                )
            if code in out:
                raise self.fail(f"{what}: country {code} is listed twice", obj.line_of(key))
            out.append(code)
        return out


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


def _area_change(
    r: _ScenarioReader,
    body: LineDict,
    what: str,
    joins: bool,
    basis: Basis,
    notes: str,
    cited: tuple[str, ...],
    zones: dict[str, Zone],
    countries: Mapping[str, Any],
) -> Change:
    r.keys(body, what, ("zone", "countries", "from"))
    zone_id = r.text(body, "zone", what)
    if zone_id not in zones:
        raise r.fail(
            f"{what}: unknown zone {zone_id!r}; zones: {', '.join(sorted(zones))}",
            body.line_of("zone"),
        )
    start = r.date(body, "from", what)
    codes = r.countries(body, "countries", what, countries)
    zone = zones[zone_id]
    members = dict(zone.members)
    for code in codes:
        kept = tuple(s for s in members.get(code, ()) if s.start < start)
        members[code] = (*kept, Membership(start, joins, basis, HYPOTHETICAL, notes, cited))
    zones[zone_id] = Zone(zone.id, zone.description, members)
    verb = "join" if joins else "leave"
    return Change(
        "join_area" if joins else "leave_area",
        zone_id,
        start,
        f"{', '.join(codes)} {verb} {zone_id} from {start.isoformat()}",
        basis,
        notes,
    )


def _parameter_change(
    r: _ScenarioReader,
    body: LineDict,
    what: str,
    basis: Basis,
    notes: str,
    cited: tuple[str, ...],
    parameters: dict[str, Parameter],
) -> Change:
    pid = r.text(body, "id", what) if "id" in body else ""
    known = parameters.get(pid)
    if known is None:
        r.keys(body, what, ("id", "values", "description", "unit"))
        unit = r.text(body, "unit", what)
        if unit not in UNITS:
            raise r.fail(f"{what}: unit must be one of {', '.join(UNITS)}", body.line_of("unit"))
    else:
        r.keys(body, what, ("id", "values"))
        unit = known.unit
    steps: list[Step] = []
    for i, raw in enumerate(r.items(body, "values", what)):
        vwhat = f"{what}: values[{i}]"
        m = r.mapping(raw, vwhat, body.line_of("values"))
        r.keys(m, vwhat, ("from", "value"))
        value = r.decimal(m, "value", vwhat)
        if value < 0:
            raise r.fail(f"{vwhat}: value must not be negative, found {value}", m.line_of("value"))
        steps.append(Step(r.date(m, "from", vwhat), value, basis, HYPOTHETICAL, notes, cited))
    r.ascending([s.start for s in steps], f"{what}: values", body.line_of("values"))
    start = steps[0].start
    kept: tuple[Step, ...] = ()
    if known is not None:
        kept = tuple(s for s in known.steps if s.start < start)
        steps += [s for s in known.steps if s.repealed and s.start > steps[-1].start][:1]
    parameters[pid] = Parameter(
        id=pid,
        description=known.description if known else r.text(body, "description", what),
        unit=unit,
        steps=(*kept, *steps),
        notes=known.notes if known else notes,
        path=r.path,
    )
    shown = "; ".join(
        f"{s.value} {unit} from {s.start.isoformat()}" for s in steps if not s.repealed
    )
    return Change("parameter", pid, start, f"{pid}: {shown}", basis, notes)


def _caps(
    r: _ScenarioReader, p: LineDict, what: str, parameters: Mapping[str, Parameter]
) -> tuple[CapRef, ...]:
    raw = p.get("caps") or []
    if not isinstance(raw, list):
        raise r.fail(f"{what}: 'caps' must be a list", p.line_of("caps"))
    caps: list[CapRef] = []
    for k, craw in enumerate(raw):
        cwhat = f"{what}: caps[{k}]"
        c = r.mapping(craw, cwhat, p.line_of("caps"))
        r.keys(c, cwhat, ("service", "measure", "parameter"))
        for key, allowed in (("service", SERVICES), ("measure", MEASURES)):
            if c[key] not in allowed:
                raise r.fail(f"{cwhat}: {key} must be one of {', '.join(allowed)}", c.line_of(key))
        if c["parameter"] not in parameters:
            raise r.fail(
                f"{cwhat}: unknown parameter {c['parameter']!r} (a scenario may add it with a "
                "`parameter` change listed before this one)",
                c.line_of("parameter"),
            )
        caps.append(CapRef(c["service"], c["measure"], c["parameter"]))
    return tuple(caps)


def _areas(
    r: _ScenarioReader, body: LineDict, what: str, zones: Mapping[str, Zone]
) -> tuple[Area, ...]:
    """The ``areas`` of a new regime, as in ``regimes.yaml``."""
    areas: list[Area] = []
    for j, raw in enumerate(r.items(body, "areas", what)):
        awhat = f"{what}: areas[{j}]"
        a = r.mapping(raw, awhat, body.line_of("areas"))
        r.keys(a, awhat, ("match", "zones"))
        size = {"same_zone": 1, "cross_zones": 2}.get(a["match"])
        zone_ids = a["zones"]
        if size is None:
            raise r.fail(f"{awhat}: match must be same_zone or cross_zones", a.line_of("match"))
        if (
            not isinstance(zone_ids, list)
            or len(zone_ids) != size
            or any(z not in zones for z in zone_ids)
        ):
            raise r.fail(
                f"{awhat}: zones must list {size} zone id(s) of zones.yaml "
                f"({', '.join(sorted(zones))})",
                a.line_of("zones"),
            )
        areas.append(Area(a["match"], tuple(zone_ids)))
    return tuple(areas)


def _regime_change(
    r: _ScenarioReader,
    body: LineDict,
    what: str,
    basis: Basis,
    notes: str,
    cited: tuple[str, ...],
    regimes: dict[str, Regime],
    parameters: Mapping[str, Parameter],
    zones: Mapping[str, Zone],
) -> Change:
    rid = r.text(body, "id", what)
    known = regimes.get(rid)
    if known is None:
        r.keys(
            body, what, ("id", "title", "precedence", "areas", "phases"), ("bound_zone", "rules")
        )
    else:
        r.keys(body, what, ("id", "phases"))
    phases: list[Phase] = []
    for j, praw in enumerate(r.items(body, "phases", what)):
        pwhat = f"{what}: phases[{j}]"
        p = r.mapping(praw, pwhat, body.line_of("phases"))
        if p.get("repealed") is True:
            r.keys(p, pwhat, ("from", "repealed"))
            phases.append(
                Phase(r.date(p, "from", pwhat), None, basis, HYPOTHETICAL, (), notes, cited)
            )
            continue
        r.keys(p, pwhat, ("from", "kind"), ("caps",))
        if p["kind"] not in KINDS:
            raise r.fail(f"{pwhat}: kind must be one of {', '.join(KINDS)}", p.line_of("kind"))
        phases.append(
            Phase(
                r.date(p, "from", pwhat),
                p["kind"],
                basis,
                HYPOTHETICAL,
                _caps(r, p, pwhat, parameters),
                notes,
                cited,
            )
        )
    r.ascending([ph.start for ph in phases], f"{what}: phases", body.line_of("phases"))
    start = phases[0].start
    if known is not None:
        kept = tuple(ph for ph in known.phases if ph.start < start)
        end = [ph for ph in known.phases if ph.kind is None and ph.start > phases[-1].start][:1]
        regimes[rid] = dataclasses.replace(known, phases=(*kept, *phases, *end))
    else:
        areas = _areas(r, body, what, zones)
        bound_zone = r.text(body, "bound_zone", what) if "bound_zone" in body else ""
        if bound_zone and bound_zone not in zones:
            raise r.fail(
                f"{what}: bound_zone {bound_zone!r} is not a zone", body.line_of("bound_zone")
            )
        precedence = body["precedence"]
        if not isinstance(precedence, int) or isinstance(precedence, bool):
            raise r.fail(f"{what}: precedence must be an integer", body.line_of("precedence"))
        regimes[rid] = Regime(
            rid,
            r.text(body, "title", what),
            precedence,
            areas,
            tuple(phases),
            bound_zone or areas[0].zones[0],
            regime_rules(r, body, what, parameters),
        )
    kinds = ", ".join(f"{ph.kind or 'ended'} from {ph.start.isoformat()}" for ph in phases)
    return Change("regime", rid, start, f"{rid}: {kinds}", basis, notes)


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
