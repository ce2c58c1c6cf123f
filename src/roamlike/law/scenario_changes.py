"""The kinds of change a what-if scenario makes to the law (``roamlike.law.scenarios``).

Each function reads one change of a scenario file, applies it to the working copies of the
catalog's zones, parameters or regimes, and returns the :class:`Change` that outputs show.
Everything a change adds carries the grade ``hypothetical``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roamlike.errors import ParameterFileError, ScenarioFileError
from roamlike.law.catalog import (
    HYPOTHETICAL,
    KINDS,
    MEASURES,
    SERVICES,
    UNITS,
    Area,
    Basis,
    CapRef,
    Membership,
    Parameter,
    Phase,
    Regime,
    Step,
    Zone,
    _Reader,
    regime_rules,
)
from roamlike.law.strict_yaml import LineDict


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
