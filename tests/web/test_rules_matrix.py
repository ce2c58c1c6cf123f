"""The regime matrix lists the countries of the regime areas (and the chosen pair), not all 250."""

from __future__ import annotations

import re

from roamlike.law import default_catalog
from roamlike.web.rules_page import matrix_countries, render_rules


def test_matrix_rows_are_the_regime_area_countries_and_the_chosen_pair():
    catalog = default_catalog()
    zoned = {code for zone in catalog.zones.values() for code in zone.members}
    assert {"RS", "ME", "DE", "UA", "MD", "GB"} <= zoned
    assert "US" not in zoned
    assert matrix_countries(catalog) == sorted(zoned)
    assert matrix_countries(catalog, "US", "ME") == sorted(zoned | {"US"})
    status, html = render_rules({"home": "US", "visited": "ME", "on": "2020-03-01"}, catalog)
    assert status == 200
    rows = re.findall(r'<tr><th scope="row" title="[^"]*">([A-Z]{2})</th>', html)
    assert rows == sorted(zoned | {"US"})
    assert 'aria-current="true"' in html
    assert f"The {len(catalog.countries) - len(rows)} countries outside" in html
