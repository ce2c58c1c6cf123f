"""Which roaming regime applies between two countries on a date, with its caps and legal basis."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from roamlike.errors import NotInForceError
from roamlike.law.catalog import Basis, Catalog, Grade, Regime, Step, default_catalog


@dataclass(frozen=True)
class ParameterValue:
    """The value of a parameter on a date, with its provenance."""

    parameter: str
    on: dt.date
    value: Decimal
    unit: str
    valid_from: dt.date
    basis: Basis
    grade: Grade
    notes: str = ""


@dataclass(frozen=True)
class Cap:
    """A cap of the regime in force: what it limits, its value in the law's unit, and why."""

    service: str
    measure: str
    value: Decimal
    unit: str
    parameter: str
    basis: Basis
    grade: Grade
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "measure": self.measure,
            "value": format_decimal(self.value),
            "unit": self.unit,
            "parameter": self.parameter,
            "basis": {"instrument": self.basis.instrument, "article": self.basis.article},
            "grade": self.grade,
        }


@dataclass(frozen=True)
class Gap:
    """A cap the regime names but for which no value is in force on the date.

    Example: the 2018 received-call cap (docs/law/received-call-caps-before-2022.md).
    """

    service: str
    measure: str
    parameter: str
    reason: str


@dataclass(frozen=True)
class Rules:
    """The rule set that applies to roaming from ``home`` in ``visited`` on ``on``."""

    home: str
    visited: str
    on: dt.date
    regime: str
    kind: str
    basis: Basis | None
    grade: Grade | None
    caps: tuple[Cap, ...]
    gaps: tuple[Gap, ...] = ()

    def cap(self, service: str, measure: str) -> Cap | None:
        """The cap for ``service`` and ``measure``, or None if the regime has none."""
        for c in self.caps:
            if c.service == service and c.measure == measure:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "home": self.home,
            "visited": self.visited,
            "on": self.on.isoformat(),
            "regime": self.regime,
            "kind": self.kind,
            "basis": None
            if self.basis is None
            else {"instrument": self.basis.instrument, "article": self.basis.article},
            "grade": self.grade,
            "caps": [c.to_json() for c in self.caps],
        }
        if self.gaps:
            out["gaps"] = [
                {
                    "service": g.service,
                    "measure": g.measure,
                    "parameter": g.parameter,
                    "reason": g.reason,
                }
                for g in self.gaps
            ]
        return out


def format_decimal(value: Decimal) -> str:
    """A decimal as a plain string, without exponent, as written in the catalog.

    Examples
    --------
    >>> format_decimal(Decimal("1.10"))
    '1.10'
    >>> format_decimal(Decimal("2E-3"))
    '0.002'
    """
    return format(value, "f")


def value_at(parameter_id: str, on: dt.date, catalog: Catalog | None = None) -> ParameterValue:
    """The value of a catalog parameter in force on a date.

    Parameters
    ----------
    parameter_id : str
        Dotted id, the file path below ``parameters/`` (e.g. ``eu.wholesale.data_eur_per_gb``).
    on : datetime.date
        The day (inclusive).

    Raises
    ------
    UnknownParameterError
        No such parameter.
    NotInForceError
        No value in force on ``on``.
    """
    cat = catalog or default_catalog()
    param = cat.parameter(parameter_id)
    step: Step = param.step_at(on)
    assert step.value is not None
    return ParameterValue(
        parameter=parameter_id,
        on=on,
        value=step.value,
        unit=param.unit,
        valid_from=step.start,
        basis=step.basis,
        grade=step.grade,
        notes=step.notes,
    )


def _matches(catalog: Catalog, regime: Regime, home: str, visited: str, on: dt.date) -> bool:
    """Whether the pair lies in ANY of the regime's areas on ``on``."""
    for area in regime.areas:
        zones = [catalog.zones[z] for z in area.zones]
        if area.match == "same_zone":
            if (
                zones[0].is_member(home, on) is not None
                and zones[0].is_member(visited, on) is not None
            ):
                return True
            continue
        a, b = zones
        if (a.is_member(home, on) is not None and b.is_member(visited, on) is not None) or (
            b.is_member(home, on) is not None and a.is_member(visited, on) is not None
        ):
            return True
    return False


def resolve(home: str, visited: str, on: dt.date, catalog: Catalog | None = None) -> Rules:
    """The roaming rules that apply to a customer of ``home`` using a network in ``visited``.

    Parameters
    ----------
    home, visited : str
        ISO 3166 alpha-2 codes (XK for Kosovo). ``home == visited`` is domestic use.
    on : datetime.date
        The governing day (docs/law/governing-date.md: the local start date of the event).

    Returns
    -------
    Rules
        Regime id, kind, and the caps in force with unit, parameter, basis and grade. A cap the
        regime names but that has no value on ``on`` is listed in ``gaps`` instead.

    Raises
    ------
    UnknownCountryError
        A code the catalog does not know.
    NotInForceError
        ``on`` is outside the catalog's coverage.

    Notes
    -----
    Regimes are tried in ``precedence`` order (``regimes.yaml``); the first whose zones match on
    ``on`` and which has a phase in force wins. No match gives ``unregulated``.
    """
    cat = catalog or default_catalog()
    return _resolve_cached(cat, home.upper(), visited.upper(), on)


@lru_cache(maxsize=200_000)
def _resolve_cached(cat: Catalog, home: str, visited: str, on: dt.date) -> Rules:
    cat.country(home)
    cat.country(visited)
    cat.coverage.check(f"roaming from {home} in {visited}", on)
    if home == visited:
        return Rules(home, visited, on, "domestic", "domestic", None, None, ())
    for regime in cat.regimes:
        if not _matches(cat, regime, home, visited, on):
            continue
        phase = regime.phase_at(on)
        if phase is None or phase.kind is None:
            continue
        caps: list[Cap] = []
        gaps: list[Gap] = []
        for ref in phase.caps:
            try:
                v = value_at(ref.parameter, on, cat)
            except NotInForceError as exc:
                gaps.append(Gap(ref.service, ref.measure, ref.parameter, str(exc)))
                continue
            caps.append(
                Cap(
                    ref.service,
                    ref.measure,
                    v.value,
                    v.unit,
                    ref.parameter,
                    v.basis,
                    v.grade,
                    v.notes,
                )
            )
        return Rules(
            home,
            visited,
            on,
            regime.id,
            phase.kind,
            phase.basis,
            phase.grade,
            tuple(caps),
            tuple(gaps),
        )
    return Rules(home, visited, on, "unregulated", "unregulated", None, None, ())


def timeline(
    home: str,
    visited: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    catalog: Catalog | None = None,
) -> list[Rules]:
    """Every change of regime or cap between two countries, as the rules from each change date.

    ``start``/``end`` default to the catalog's coverage and are clipped to it.
    """
    cat = catalog or default_catalog()
    lo = max(start or cat.coverage.start, cat.coverage.start)
    hi = min(end or cat.coverage.end, cat.coverage.end)
    if start is not None and start > cat.coverage.end:
        raise NotInForceError(
            f"roaming from {home} in {visited}",
            start,
            coverage=(cat.coverage.start, cat.coverage.end),
        )
    if end is not None and end < cat.coverage.start:
        raise NotInForceError(
            f"roaming from {home} in {visited}",
            end,
            coverage=(cat.coverage.start, cat.coverage.end),
        )
    dates = [lo] + [d for d in cat.change_dates() if lo < d <= hi]
    out: list[Rules] = []
    for d in dates:
        rules = resolve(home, visited, d, cat)
        if out and _same(out[-1], rules):
            continue
        out.append(rules)
    return out


def _same(a: Rules, b: Rules) -> bool:
    return (a.regime, a.kind, a.caps, a.gaps and [g.parameter for g in a.gaps]) == (
        b.regime,
        b.kind,
        b.caps,
        b.gaps and [g.parameter for g in b.gaps],
    )
