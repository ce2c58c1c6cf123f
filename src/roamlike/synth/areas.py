"""The countries of the catalog's zones, for generators that model travel between areas."""

from __future__ import annotations

from roamlike.law import Catalog, default_catalog


def zone_countries(zone_id: str, catalog: Catalog | None = None) -> tuple[str, ...]:
    """Countries that are members of ``zone_id`` on some date, in the order of ``zones.yaml``.

    Examples
    --------
    >>> zone_countries("wb6")
    ('AL', 'BA', 'XK', 'ME', 'MK', 'RS')
    """
    cat = catalog or default_catalog()
    zone = cat.zones[zone_id]
    return tuple(code for code, steps in zone.members.items() if any(s.member for s in steps))
