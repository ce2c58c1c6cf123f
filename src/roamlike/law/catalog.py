"""Load and validate the law catalog: instruments, dated parameters, zones, regimes, countries.

The catalog is data (YAML files beside this module); this module only reads it, strictly. Each
dated series is a step function of its ``from`` date (inclusive): a value runs until the next
``from``; a final ``repealed: true`` entry closes the series. Nothing has a hand-written end date.

A parameter's id is its path below ``parameters/`` with ``/`` replaced by ``.`` and no suffix
(``eu/wholesale/data_eur_per_gb.yaml`` -> ``eu.wholesale.data_eur_per_gb``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from roamlike.errors import (
    NotInForceError,
    ParameterFileError,
    UnknownCountryError,
    UnknownParameterError,
)
from roamlike.law.strict_yaml import LineDict, load_strict

Grade = Literal["legal", "official", "secondary", "inference", "hypothetical"]
#: Provenance grades of the catalog's values, strongest first.
GRADES: tuple[str, ...] = ("legal", "official", "secondary", "inference")
#: The grade of a value a what-if scenario puts in place of (or beside) the law. Only scenario
#: files carry it (``roamlike.law.scenarios``); the catalog loader refuses it.
HYPOTHETICAL: Literal["hypothetical"] = "hypothetical"
UNITS: tuple[str, ...] = (
    "EUR/min",
    "EUR/SMS",
    "EUR/MB",
    "EUR/GB",
    "EUR",
    "percent",
    "s",
    "kB",
    "months",
    "days",
    "ratio",
)
SERVICES: tuple[str, ...] = ("voice_mo", "voice_mt", "sms_mo", "sms_mt", "data")
MEASURES: tuple[str, ...] = (
    "retail_surcharge_max",
    "retail_price_max",
    "wholesale_max",
    "offer_price_max",
)
KINDS: tuple[str, ...] = (
    "rlah",
    "surcharge_cap",
    "retail_cap",
    "offer_cap",
    "domestic",
    "unregulated",
)
INSTRUMENT_STATUSES: tuple[str, ...] = (
    "in_force",
    "repealed",
    "expired",
    "voluntary",
    "proposal",
    "decision",
)

CATALOG_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Source:
    """A source the project read (``sources.yaml``): where it is and what was read there."""

    id: str
    title: str
    publisher: str
    read: str
    grade: Grade
    date: dt.date | None = None
    url: str = ""
    repository: str = ""
    path: str = ""
    commit: str = ""

    def location(self) -> str:
        """Where to find it: the URL, or repository, path and commit of a text read in a repo."""
        if self.repository:
            where = f"{self.repository} {self.path} @ {self.commit[:12]}"
            return f"{where} ({self.url})" if self.url else where
        return self.url or "(a roamlike page, see 'read')"


@dataclass(frozen=True)
class Basis:
    """Where a value comes from: an instrument id of ``instruments.yaml`` and the article/point."""

    instrument: str
    article: str

    def cite(self) -> str:
        """Human-readable citation, e.g. ``eu_2022_612 Art. 11(1)``."""
        return f"{self.instrument} {self.article}"


@dataclass(frozen=True)
class Step:
    """One dated step of a series: in force from ``start`` until the next step."""

    start: dt.date
    value: Decimal | None  # None for a `repealed` step
    basis: Basis
    grade: Grade
    notes: str = ""
    sources: tuple[str, ...] = ()

    @property
    def repealed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Parameter:
    """A dated legal parameter (one YAML file)."""

    id: str
    description: str
    unit: str
    steps: tuple[Step, ...]
    notes: str = ""
    path: Path = field(default=Path(), compare=False)

    def step_at(self, on: dt.date) -> Step:
        """The step in force on ``on``.

        Raises
        ------
        NotInForceError
            ``on`` is before the first value, or the series was repealed by then.
        """
        starts = [s.start for s in self.steps]
        i = bisect.bisect_right(starts, on) - 1
        if i < 0 or self.steps[i].repealed:
            first = self.steps[0].start
            last = self._last_day()
            raise NotInForceError(
                f"parameter {self.id}",
                on,
                detail=f"values cover {first.isoformat()} to "
                + (last.isoformat() if last else "open end"),
            )
        return self.steps[i]

    def _last_day(self) -> dt.date | None:
        if self.steps[-1].repealed:
            return self.steps[-1].start - dt.timedelta(days=1)
        return None

    def change_dates(self) -> list[dt.date]:
        return [s.start for s in self.steps]


@dataclass(frozen=True)
class Instrument:
    """A legal act, agreement, decision or voluntary declaration that values cite."""

    id: str
    title: str
    reference: str
    date_of_application: dt.date | None
    status: str
    grade: Grade
    notes: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Membership:
    """One dated step of a country's membership of a zone."""

    start: dt.date
    member: bool
    basis: Basis
    grade: Grade
    notes: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Zone:
    """A set of countries with dated membership (e.g. the EU roaming area)."""

    id: str
    description: str
    members: Mapping[str, tuple[Membership, ...]]

    def is_member(self, country: str, on: dt.date) -> Membership | None:
        """The membership step in force if ``country`` is a member on ``on``, else None."""
        steps = self.members.get(country)
        if not steps:
            return None
        i = bisect.bisect_right([s.start for s in steps], on) - 1
        if i < 0 or not steps[i].member:
            return None
        return steps[i]

    def change_dates(self) -> set[dt.date]:
        return {s.start for steps in self.members.values() for s in steps}


@dataclass(frozen=True)
class CapRef:
    """A cap of a regime phase: which service and measure, read from which parameter."""

    service: str
    measure: str
    parameter: str


@dataclass(frozen=True)
class Phase:
    """A dated phase of a regime: its kind and the caps that apply."""

    start: dt.date
    kind: str | None  # None when repealed
    basis: Basis
    grade: Grade
    caps: tuple[CapRef, ...] = ()
    notes: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Area:
    """Where a regime applies: ``same_zone`` (both countries in ``zones[0]``) or ``cross_zones``
    (one country in ``zones[0]`` and the other in ``zones[1]``, either way round)."""

    match: str
    zones: tuple[str, ...]


@dataclass(frozen=True)
class RegimeRules:
    """What a regime declares beyond its caps (``rules`` in ``regimes.yaml``), so that the engine,
    the fair-use formula and the audit need no branch on a regime's id.

    Empty strings and ``False``: the regime does not have that rule.
    """

    #: Parameter of the wholesale data cap the fair-use formula divides by (EUR/GB or EUR/MB).
    fair_use_cap: str = ""
    #: Grade of applying the fair-use formula under this regime (the law's own, or an analogy).
    fair_use_grade: str = ""
    #: Parameter of the longest initial charging period of calls made [s].
    voice_mo_initial_max: str = ""
    #: Parameter of the data charging unit [kB], where the regime has one.
    data_unit: str = ""
    #: Whether the bill-shock rules bind the providers of the regime's ``bound_zone``.
    billshock: bool = False
    #: Check-id prefix (``surcharge.<prefix>.data``) and readable name of the area in the audit.
    audit_prefix: str = ""
    audit_name: str = ""


@dataclass(frozen=True)
class Regime:
    """A roaming regime: where it applies (one or more areas) and its dated phases.

    A pair of countries is in the regime when it is in ANY of its ``areas``: the EU regime is the
    EEA all-to-all plus the EU<->Ukraine and EU<->Moldova pairs. ``bound_zone`` is the zone whose
    home providers the regime binds (bill-shock scope, the fair-use formula).
    """

    id: str
    title: str
    precedence: int
    areas: tuple[Area, ...]
    phases: tuple[Phase, ...]
    bound_zone: str = ""
    rules: RegimeRules = field(default_factory=RegimeRules)

    @property
    def zones(self) -> tuple[str, ...]:
        """Every zone id the regime's areas name, in order, without repeats."""
        return tuple(dict.fromkeys(z for a in self.areas for z in a.zones))

    def phase_at(self, on: dt.date) -> Phase | None:
        i = bisect.bisect_right([p.start for p in self.phases], on) - 1
        if i < 0 or self.phases[i].kind is None:
            return None
        return self.phases[i]


@dataclass(frozen=True)
class DatedText:
    """A dated step of a non-numeric country attribute (currency)."""

    start: dt.date
    value: str
    source: str
    ref: str
    grade: Grade
    notes: str = ""


@dataclass(frozen=True)
class DatedRate:
    """A dated step of a country's standard VAT rate."""

    start: dt.date
    value: Decimal
    source: str
    ref: str
    grade: Grade
    notes: str = ""


@dataclass(frozen=True)
class Country:
    """A country known to the catalog."""

    code: str
    name: str
    currencies: tuple[DatedText, ...]
    mcc: tuple[str, ...]
    mcc_source: str
    mcc_grade: Grade
    vat_standard: tuple[DatedRate, ...]

    def currency_at(self, on: dt.date) -> str:
        i = bisect.bisect_right([c.start for c in self.currencies], on) - 1
        if i < 0:
            raise NotInForceError(
                f"currency of {self.code}",
                on,
                detail="the catalog carries currencies only for the regulated areas' countries; "
                "a plan of this country states its own currency",
            )
        return self.currencies[i].value

    def vat_at(self, on: dt.date) -> DatedRate:
        i = bisect.bisect_right([v.start for v in self.vat_standard], on) - 1
        if i < 0:
            raise NotInForceError(
                f"standard VAT rate of {self.code}",
                on,
                detail="the catalog carries VAT rates only for the regulated areas' countries "
                "(docs/law/countries.md); give the plan its own 'vat_rate'",
            )
        return self.vat_standard[i]


@dataclass(frozen=True)
class Coverage:
    """The period the catalog covers; any date outside it is an error."""

    start: dt.date
    end: dt.date
    notes: str = ""

    def check(self, what: str, on: dt.date) -> None:
        if not (self.start <= on <= self.end):
            raise NotInForceError(what, on, coverage=(self.start, self.end))


@dataclass(frozen=True, eq=False)
class Catalog:
    """The whole law catalog, validated."""

    root: Path
    sources: Mapping[str, Source]
    instruments: Mapping[str, Instrument]
    parameters: Mapping[str, Parameter]
    zones: Mapping[str, Zone]
    regimes: tuple[Regime, ...]
    countries: Mapping[str, Country]
    coverage: Coverage

    def regime(self, regime_id: str) -> Regime:
        """The regime with id ``regime_id`` (``KeyError`` if the catalog has none)."""
        for regime in self.regimes:
            if regime.id == regime_id:
                return regime
        raise KeyError(regime_id)

    def binds_billshock(self, home: str, on: dt.date) -> bool:
        """Whether a regime declaring the bill-shock rules binds the providers of ``home`` on
        ``on`` (``home`` is a member of that regime's ``bound_zone``)."""
        return any(
            g.rules.billshock and self.zones[g.bound_zone].is_member(home, on) is not None
            for g in self.regimes
        )

    def parameter(self, parameter_id: str) -> Parameter:
        try:
            return self.parameters[parameter_id]
        except KeyError:
            raise UnknownParameterError(parameter_id, sorted(self.parameters)) from None

    def source(self, source_id: str) -> Source:
        """The registry entry of ``source_id`` (every id in the catalog is checked at load)."""
        return self.sources[source_id]

    def country(self, code: str) -> Country:
        try:
            return self.countries[code]
        except KeyError:
            raise UnknownCountryError(code, sorted(self.countries)) from None

    def change_dates(self) -> list[dt.date]:
        """Every date on which anything in the catalog changes, within coverage, sorted."""
        dates: set[dt.date] = {self.coverage.start, self.coverage.end + dt.timedelta(days=1)}
        for p in self.parameters.values():
            dates.update(p.change_dates())
        for z in self.zones.values():
            dates.update(z.change_dates())
        for r in self.regimes:
            dates.update(ph.start for ph in r.phases)
        lo, hi = self.coverage.start, self.coverage.end + dt.timedelta(days=1)
        return sorted(d for d in dates if lo <= d <= hi)


# --------------------------------------------------------------------------------------------
# Validation helpers


class _Reader:
    """Validation context for one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str, line: int | None = None) -> ParameterFileError:
        return ParameterFileError(self.path, message, line)

    def mapping(self, obj: Any, what: str, line: int | None = None) -> LineDict:
        if not isinstance(obj, LineDict):
            raise self.fail(f"{what} must be a mapping, found {type(obj).__name__}", line)
        return obj

    def keys(
        self, obj: LineDict, what: str, required: Iterable[str], optional: Iterable[str] = ()
    ) -> None:
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in obj:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} in {what}; allowed keys: {', '.join(sorted(allowed))}",
                    obj.line_of(key),
                )
        for key in required:
            if key not in obj:
                raise self.fail(f"missing required key {key!r} in {what}", obj.line)

    def date(self, obj: LineDict, key: str, what: str) -> dt.date:
        value = obj[key]
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise self.fail(
                f"{what}: {key!r} must be a date written YYYY-MM-DD, found {value!r}",
                obj.line_of(key),
            )
        return value

    def text(self, obj: LineDict, key: str, what: str, default: str | None = None) -> str:
        if key not in obj and default is not None:
            return default
        value = obj[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{what}: {key!r} must be a non-empty string", obj.line_of(key))
        return value

    def decimal(self, obj: LineDict, key: str, what: str) -> Decimal:
        value = obj[key]
        if not isinstance(value, str):
            raise self.fail(
                f'{what}: {key!r} must be a quoted decimal string such as "0.022", found '
                f"{value!r} ({type(value).__name__}); quote it so no float touches money",
                obj.line_of(key),
            )
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.fail(
                f"{what}: {key!r} is not a decimal number: {value!r}", obj.line_of(key)
            ) from None
        if not number.is_finite():
            raise self.fail(f"{what}: {key!r} must be finite, found {value!r}", obj.line_of(key))
        return number

    def grade(self, obj: LineDict, key: str, what: str) -> Grade:
        if key not in obj:
            raise self.fail(f"{what}: missing {key!r} (one of {', '.join(GRADES)})", obj.line)
        value = obj[key]
        if value not in GRADES:
            raise self.fail(
                f"{what}: {key!r} must be one of {', '.join(GRADES)}, found {value!r}",
                obj.line_of(key),
            )
        return cast(Grade, value)

    def basis(self, obj: LineDict, what: str, instruments: Mapping[str, Instrument]) -> Basis:
        if "basis" not in obj:
            raise self.fail(
                f"{what}: missing 'basis' (instrument id and article); every value needs one",
                obj.line,
            )
        b = self.mapping(obj["basis"], f"{what}: basis", obj.line_of("basis"))
        self.keys(b, f"{what}: basis", ("instrument", "article"))
        instrument = self.text(b, "instrument", f"{what}: basis")
        if instrument not in instruments:
            raise self.fail(
                f"{what}: basis names unknown instrument {instrument!r}; add it to "
                f"instruments.yaml or use one of: {', '.join(sorted(instruments))}",
                b.line_of("instrument"),
            )
        return Basis(instrument, self.text(b, "article", f"{what}: basis"))

    def source_ids(
        self, obj: LineDict, what: str, sources: Mapping[str, Source], key: str = "source"
    ) -> tuple[str, ...]:
        """The registry ids a value cites (``source: id`` or ``source: [id, ...]``)."""
        if key not in obj:
            raise self.fail(
                f"{what}: missing {key!r} (one or more ids of sources.yaml); every value needs "
                "the source it was read in",
                obj.line,
            )
        raw = obj[key]
        ids = [raw] if isinstance(raw, str) else raw
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise self.fail(
                f"{what}: {key!r} must be a source id or a non-empty list of source ids",
                obj.line_of(key),
            )
        for sid in ids:
            if sid not in sources:
                raise self.fail(
                    f"{what}: {key!r} names unknown source {sid!r}; add it to sources.yaml",
                    obj.line_of(key),
                )
        return tuple(ids)

    def ascending(self, starts: list[dt.date], what: str, line: int) -> None:
        for a, b in itertools.pairwise(starts):
            if b <= a:
                raise self.fail(
                    f"{what}: dates must be strictly ascending, found {b.isoformat()} after "
                    f"{a.isoformat()}",
                    line,
                )


# --------------------------------------------------------------------------------------------
# Loaders


_SOURCE_KEYS = ("title", "publisher", "read", "grade")
_SOURCE_OPTIONAL = ("date", "url", "repository", "path", "commit")


def _load_sources(path: Path) -> dict[str, Source]:
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("sources",))
    items = r.mapping(doc["sources"], "sources", doc.line_of("sources"))
    out: dict[str, Source] = {}
    for sid, raw in items.items():
        what = f"source {sid!r}"
        m = r.mapping(raw, what, items.line_of(sid))
        r.keys(m, what, _SOURCE_KEYS, _SOURCE_OPTIONAL)
        in_repo = [k for k in ("repository", "path", "commit") if k in m]
        if in_repo and len(in_repo) != 3:
            raise r.fail(
                f"{what}: a text read in a repository needs repository, path and commit together",
                m.line,
            )
        commit = r.text(m, "commit", what) if "commit" in m else ""
        if commit and (len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit)):
            raise r.fail(f"{what}: commit must be 40 hex digits", m.line_of("commit"))
        grade = r.grade(m, "grade", what)
        if not in_repo and "url" not in m and grade != "inference":
            raise r.fail(
                f"{what}: say where it was read: url, or repository + path + commit", m.line
            )
        out[sid] = Source(
            id=sid,
            title=r.text(m, "title", what),
            publisher=r.text(m, "publisher", what),
            read=r.text(m, "read", what),
            grade=grade,
            date=r.date(m, "date", what) if "date" in m else None,
            url=r.text(m, "url", what) if "url" in m else "",
            repository=r.text(m, "repository", what) if "repository" in m else "",
            path=r.text(m, "path", what) if "path" in m else "",
            commit=commit,
        )
    return out


def _load_instruments(path: Path, sources: Mapping[str, Source]) -> dict[str, Instrument]:
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("instruments",))
    items = r.mapping(doc["instruments"], "instruments", doc.line_of("instruments"))
    out: dict[str, Instrument] = {}
    for iid, raw in items.items():
        what = f"instrument {iid!r}"
        m = r.mapping(raw, what, items.line_of(iid))
        r.keys(
            m,
            what,
            ("title", "reference", "status", "grade", "sources"),
            ("date_of_application", "notes"),
        )
        status = r.text(m, "status", what)
        if status not in INSTRUMENT_STATUSES:
            raise r.fail(
                f"{what}: status must be one of {', '.join(INSTRUMENT_STATUSES)}, found {status!r}",
                m.line_of("status"),
            )
        out[iid] = Instrument(
            id=iid,
            title=r.text(m, "title", what),
            reference=r.text(m, "reference", what),
            date_of_application=r.date(m, "date_of_application", what)
            if "date_of_application" in m
            else None,
            status=status,
            grade=r.grade(m, "grade", what),
            notes=r.text(m, "notes", what, default=""),
            sources=r.source_ids(m, what, sources, key="sources"),
        )
    return out


def _parameter_id(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    return ".".join(rel.parts)


def load_parameter(
    path: Path,
    parameter_id: str,
    instruments: Mapping[str, Instrument],
    sources: Mapping[str, Source],
) -> Parameter:
    """Read and validate one parameter file."""
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("description", "unit", "values"), ("notes",))
    unit = r.text(doc, "unit", "the file")
    if unit not in UNITS:
        raise r.fail(f"unit must be one of {', '.join(UNITS)}, found {unit!r}", doc.line_of("unit"))
    values = doc["values"]
    if not isinstance(values, list) or not values:
        raise r.fail("'values' must be a non-empty list of dated values", doc.line_of("values"))
    steps: list[Step] = []
    for i, raw in enumerate(values):
        what = f"values[{i}]"
        m = r.mapping(raw, what, doc.line_of("values"))
        if m.get("repealed") is True:
            r.keys(m, what, ("from", "repealed", "basis", "source"), ("notes", "grade"))
            steps.append(
                Step(
                    start=r.date(m, "from", what),
                    value=None,
                    basis=r.basis(m, what, instruments),
                    grade=r.grade(m, "grade", what) if "grade" in m else "legal",
                    notes=r.text(m, "notes", what, default=""),
                    sources=r.source_ids(m, what, sources),
                )
            )
            continue
        r.keys(m, what, ("from", "value", "basis", "grade", "source"), ("notes",))
        value = r.decimal(m, "value", what)
        if value < 0:
            raise r.fail(f"{what}: value must not be negative, found {value}", m.line_of("value"))
        steps.append(
            Step(
                start=r.date(m, "from", what),
                value=value,
                basis=r.basis(m, what, instruments),
                grade=r.grade(m, "grade", what),
                notes=r.text(m, "notes", what, default=""),
                sources=r.source_ids(m, what, sources),
            )
        )
    r.ascending([s.start for s in steps], "values", doc.line_of("values"))
    if steps[0].repealed:
        raise r.fail("the first value cannot be 'repealed'", doc.line_of("values"))
    for a, b in itertools.pairwise(steps):
        if a.repealed and b.repealed:
            raise r.fail("two consecutive 'repealed' entries", doc.line_of("values"))
    return Parameter(
        id=parameter_id,
        description=r.text(doc, "description", "the file"),
        unit=unit,
        steps=tuple(steps),
        notes=r.text(doc, "notes", "the file", default=""),
        path=path,
    )


def _load_parameters(
    root: Path, instruments: Mapping[str, Instrument], sources: Mapping[str, Source]
) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        if path.suffix != ".yaml":
            raise ParameterFileError(path, "only .yaml files belong under parameters/")
        pid = _parameter_id(root, path)
        out[pid] = load_parameter(path, pid, instruments, sources)
    return out


def _load_zones(
    path: Path,
    instruments: Mapping[str, Instrument],
    countries: Mapping[str, Country],
    sources: Mapping[str, Source],
) -> dict[str, Zone]:
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("zones",))
    zones_raw = r.mapping(doc["zones"], "zones", doc.line_of("zones"))
    out: dict[str, Zone] = {}
    for zid, raw in zones_raw.items():
        what = f"zone {zid!r}"
        m = r.mapping(raw, what, zones_raw.line_of(zid))
        r.keys(m, what, ("description", "members"))
        members_raw = r.mapping(m["members"], f"{what}: members", m.line_of("members"))
        members: dict[str, tuple[Membership, ...]] = {}
        for code, steps_raw in members_raw.items():
            cwhat = f"{what}: member {code!r}"
            if code not in countries:
                raise r.fail(
                    f"{cwhat}: unknown country; add it to countries.yaml first",
                    members_raw.line_of(code),
                )
            if not isinstance(steps_raw, list) or not steps_raw:
                raise r.fail(f"{cwhat}: a non-empty list of dated steps", members_raw.line_of(code))
            steps: list[Membership] = []
            for j, sraw in enumerate(steps_raw):
                swhat = f"{cwhat}[{j}]"
                s = r.mapping(sraw, swhat, members_raw.line_of(code))
                r.keys(s, swhat, ("from", "member", "basis", "grade", "source"), ("notes",))
                if not isinstance(s["member"], bool):
                    raise r.fail(f"{swhat}: 'member' must be true or false", s.line_of("member"))
                steps.append(
                    Membership(
                        start=r.date(s, "from", swhat),
                        member=s["member"],
                        basis=r.basis(s, swhat, instruments),
                        grade=r.grade(s, "grade", swhat),
                        notes=r.text(s, "notes", swhat, default=""),
                        sources=r.source_ids(s, swhat, sources),
                    )
                )
            r.ascending([s.start for s in steps], cwhat, members_raw.line_of(code))
            members[code] = tuple(steps)
        out[zid] = Zone(zid, r.text(m, "description", what), members)
    return out


_RULE_PARAMETERS = ("fair_use_cap", "voice_mo_initial_max", "data_unit")
_RULE_TEXTS = ("audit_prefix", "audit_name")


def regime_rules(
    r: _Reader, m: LineDict, what: str, parameters: Mapping[str, Parameter]
) -> RegimeRules:
    """The optional ``rules`` mapping of a regime entry, validated."""
    if "rules" not in m:
        return RegimeRules()
    rwhat = f"{what}: rules"
    raw = r.mapping(m["rules"], rwhat, m.line_of("rules"))
    r.keys(raw, rwhat, (), (*_RULE_PARAMETERS, "fair_use_grade", "billshock", *_RULE_TEXTS))
    values: dict[str, Any] = {}
    for key in _RULE_PARAMETERS:
        if key in raw:
            if raw[key] not in parameters:
                raise r.fail(f"{rwhat}: {key}: unknown parameter {raw[key]!r}", raw.line_of(key))
            values[key] = raw[key]
    if "fair_use_grade" in raw:
        values["fair_use_grade"] = r.grade(raw, "fair_use_grade", rwhat)
    if "billshock" in raw:
        if not isinstance(raw["billshock"], bool):
            raise r.fail(f"{rwhat}: billshock must be true or false", raw.line_of("billshock"))
        values["billshock"] = raw["billshock"]
    for key in _RULE_TEXTS:
        if key in raw:
            values[key] = r.text(raw, key, rwhat)
    return RegimeRules(**values)


def _load_regimes(
    path: Path,
    instruments: Mapping[str, Instrument],
    parameters: Mapping[str, Parameter],
    zones: Mapping[str, Zone],
    sources: Mapping[str, Source],
) -> tuple[tuple[Regime, ...], Coverage]:
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("coverage", "regimes"))
    cov = r.mapping(doc["coverage"], "coverage", doc.line_of("coverage"))
    r.keys(cov, "coverage", ("from", "to"), ("notes",))
    coverage = Coverage(
        r.date(cov, "from", "coverage"),
        r.date(cov, "to", "coverage"),
        r.text(cov, "notes", "coverage", default=""),
    )
    regimes_raw = r.mapping(doc["regimes"], "regimes", doc.line_of("regimes"))
    regimes: list[Regime] = []
    for rid, raw in regimes_raw.items():
        what = f"regime {rid!r}"
        m = r.mapping(raw, what, regimes_raw.line_of(rid))
        r.keys(m, what, ("title", "precedence", "areas", "phases"), ("bound_zone", "rules"))
        areas_raw = m["areas"]
        if not isinstance(areas_raw, list) or not areas_raw:
            raise r.fail(f"{what}: areas must be a non-empty list", m.line_of("areas"))
        areas: list[Area] = []
        for j, araw in enumerate(areas_raw):
            awhat = f"{what}: areas[{j}]"
            a = r.mapping(araw, awhat, m.line_of("areas"))
            r.keys(a, awhat, ("match", "zones"))
            match = a["match"]
            if match not in ("same_zone", "cross_zones"):
                raise r.fail(f"{awhat}: match must be same_zone or cross_zones", a.line_of("match"))
            zone_ids = a["zones"]
            if not isinstance(zone_ids, list) or any(z not in zones for z in zone_ids):
                raise r.fail(
                    f"{awhat}: zones must be a list of zone ids from zones.yaml "
                    f"({', '.join(zones)})",
                    a.line_of("zones"),
                )
            if len(zone_ids) != (1 if match == "same_zone" else 2):
                raise r.fail(
                    f"{awhat}: {match} takes {1 if match == 'same_zone' else 2} zone(s)",
                    a.line_of("zones"),
                )
            areas.append(Area(match, tuple(zone_ids)))
        bound_zone = r.text(m, "bound_zone", what) if "bound_zone" in m else areas[0].zones[0]
        if bound_zone not in zones:
            raise r.fail(
                f"{what}: bound_zone {bound_zone!r} is not a zone", m.line_of("bound_zone")
            )
        if not isinstance(m["precedence"], int):
            raise r.fail(f"{what}: precedence must be an integer", m.line_of("precedence"))
        phases: list[Phase] = []
        for j, praw in enumerate(m["phases"]):
            pwhat = f"{what}: phases[{j}]"
            p = r.mapping(praw, pwhat, m.line_of("phases"))
            if p.get("repealed") is True:
                r.keys(p, pwhat, ("from", "repealed", "basis", "source"), ("notes", "grade"))
                phases.append(
                    Phase(
                        r.date(p, "from", pwhat),
                        None,
                        r.basis(p, pwhat, instruments),
                        r.grade(p, "grade", pwhat) if "grade" in p else "legal",
                        notes=r.text(p, "notes", pwhat, default=""),
                        sources=r.source_ids(p, pwhat, sources),
                    )
                )
                continue
            r.keys(p, pwhat, ("from", "kind", "basis", "grade", "source"), ("caps", "notes"))
            kind = p["kind"]
            if kind not in KINDS:
                raise r.fail(f"{pwhat}: kind must be one of {', '.join(KINDS)}", p.line_of("kind"))
            caps: list[CapRef] = []
            for k, craw in enumerate(p.get("caps") or []):
                cwhat = f"{pwhat}: caps[{k}]"
                c = r.mapping(craw, cwhat, p.line_of("caps"))
                r.keys(c, cwhat, ("service", "measure", "parameter"))
                if c["service"] not in SERVICES:
                    raise r.fail(
                        f"{cwhat}: service must be one of {', '.join(SERVICES)}",
                        c.line_of("service"),
                    )
                if c["measure"] not in MEASURES:
                    raise r.fail(
                        f"{cwhat}: measure must be one of {', '.join(MEASURES)}",
                        c.line_of("measure"),
                    )
                if c["parameter"] not in parameters:
                    raise r.fail(
                        f"{cwhat}: unknown parameter {c['parameter']!r}", c.line_of("parameter")
                    )
                caps.append(CapRef(c["service"], c["measure"], c["parameter"]))
            phases.append(
                Phase(
                    r.date(p, "from", pwhat),
                    kind,
                    r.basis(p, pwhat, instruments),
                    r.grade(p, "grade", pwhat),
                    tuple(caps),
                    r.text(p, "notes", pwhat, default=""),
                    r.source_ids(p, pwhat, sources),
                )
            )
        r.ascending([ph.start for ph in phases], f"{what}: phases", m.line_of("phases"))
        regimes.append(
            Regime(
                rid,
                r.text(m, "title", what),
                m["precedence"],
                tuple(areas),
                tuple(phases),
                bound_zone,
                regime_rules(r, m, what, parameters),
            )
        )
    regimes.sort(key=lambda g: g.precedence)
    return tuple(regimes), coverage


def _source(
    r: _Reader, m: LineDict, what: str, sources: Mapping[str, Source], key: str = "basis"
) -> tuple[str, str]:
    """``{source: <registry id>, ref: <the point read there>}`` of a country attribute."""
    b = r.mapping(m[key], f"{what}: {key}", m.line_of(key))
    r.keys(b, f"{what}: {key}", ("source", "ref"))
    sid = r.text(b, "source", f"{what}: {key}")
    if sid not in sources:
        raise r.fail(
            f"{what}: {key} names unknown source {sid!r}; add it to sources.yaml",
            b.line_of("source"),
        )
    return sid, r.text(b, "ref", f"{what}: {key}")


def _load_countries(path: Path, sources: Mapping[str, Source]) -> dict[str, Country]:
    r = _Reader(path)
    doc = r.mapping(load_strict(path), "the file")
    r.keys(doc, "the file", ("countries",))
    items = r.mapping(doc["countries"], "countries", doc.line_of("countries"))
    out: dict[str, Country] = {}
    for code, raw in items.items():
        what = f"country {code!r}"
        if len(code) != 2 or not code.isupper():
            raise r.fail(f"{what}: codes are ISO 3166 alpha-2, upper case", items.line_of(code))
        m = r.mapping(raw, what, items.line_of(code))
        r.keys(m, what, ("name", "mcc", "mcc_basis", "mcc_grade"), ("currencies", "vat_standard"))
        currencies: list[DatedText] = []
        for j, craw in enumerate(m.get("currencies") or []):
            cwhat = f"{what}: currencies[{j}]"
            c = r.mapping(craw, cwhat, m.line_of("currencies"))
            r.keys(c, cwhat, ("from", "value", "basis", "grade"), ("notes",))
            src, ref = _source(r, c, cwhat, sources)
            currencies.append(
                DatedText(
                    r.date(c, "from", cwhat),
                    r.text(c, "value", cwhat),
                    src,
                    ref,
                    r.grade(c, "grade", cwhat),
                    r.text(c, "notes", cwhat, default=""),
                )
            )
        r.ascending([c.start for c in currencies], f"{what}: currencies", m.line)
        vats: list[DatedRate] = []
        for j, vraw in enumerate(m.get("vat_standard") or []):
            vwhat = f"{what}: vat_standard[{j}]"
            v = r.mapping(vraw, vwhat, m.line_of("vat_standard"))
            r.keys(v, vwhat, ("from", "value", "basis", "grade"), ("notes",))
            src, ref = _source(r, v, vwhat, sources)
            rate = r.decimal(v, "value", vwhat)
            if not (Decimal(0) <= rate < Decimal(1)):
                raise r.fail(
                    f"{vwhat}: a VAT rate is a fraction in [0, 1), found {rate}", v.line_of("value")
                )
            vats.append(
                DatedRate(
                    r.date(v, "from", vwhat),
                    rate,
                    src,
                    ref,
                    r.grade(v, "grade", vwhat),
                    r.text(v, "notes", vwhat, default=""),
                )
            )
        r.ascending([v.start for v in vats], f"{what}: vat_standard", m.line)
        mcc = m["mcc"]
        if not isinstance(mcc, list) or not all(isinstance(x, str) and len(x) == 3 for x in mcc):
            raise r.fail(f"{what}: mcc must be a list of 3-digit strings", m.line_of("mcc"))
        mcc_source, _ = _source(r, m, what, sources, key="mcc_basis")
        out[code] = Country(
            code=code,
            name=r.text(m, "name", what),
            currencies=tuple(currencies),
            mcc=tuple(mcc),
            mcc_source=mcc_source,
            mcc_grade=r.grade(m, "mcc_grade", what),
            vat_standard=tuple(vats),
        )
    return out


def load_catalog(root: Path = CATALOG_DIR) -> Catalog:
    """Read and validate the whole catalog below ``root``.

    Raises
    ------
    ParameterFileError
        Any file is invalid; the message names the file and line.
    """
    sources = _load_sources(root / "sources.yaml")
    instruments = _load_instruments(root / "instruments.yaml", sources)
    countries = _load_countries(root / "countries.yaml", sources)
    parameters = _load_parameters(root / "parameters", instruments, sources)
    zones = _load_zones(root / "zones.yaml", instruments, countries, sources)
    regimes, coverage = _load_regimes(
        root / "regimes.yaml", instruments, parameters, zones, sources
    )
    return Catalog(root, sources, instruments, parameters, zones, regimes, countries, coverage)


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with roamlike (loaded once per process, parsed once per change of
    its files: ``roamlike.law.catalog_cache``)."""
    from roamlike.law.catalog_cache import cached_catalog  # it imports this module

    return cached_catalog(CATALOG_DIR)
