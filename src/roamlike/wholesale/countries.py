"""Which country an operator and a subscriber belong to.

* **Visited country** from the sender's TADIG code (GSMA TD.13 PLMN code): its first three letters
  are the ISO 3166-1 alpha-3 code of the operator's country (``DEUD1`` -> DEU -> DE). Exceptions
  roamlike knows, all graded *inference* (no GSMA list was read): Kosovo operators' prefixes
  ``KOS``, ``RKS`` and ``XKX`` map to ``XK``; ``UKR`` is Ukraine (ISO), and ``GBR`` covers the
  United Kingdom (Jersey, Guernsey and the Isle of Man have their own ISO codes and are not
  mapped). A prefix not in :data:`ALPHA3` gives no country and a warning finding.
* **Home country** from the IMSI: its first three digits are the E.212 mobile country code, looked
  up in the catalog's countries (``Country.mcc``), so the mapping is the catalog's, with its source.

References
----------
ISO 3166-1 (alpha-2 and alpha-3 codes); ITU-T E.212 (MCC); GSMA TD.13 (TADIG codes).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from roamlike.law import Catalog

#: ISO 3166-1 alpha-3 -> alpha-2 for Europe, its neighbours and frequent roaming partners.
ALPHA3: Final[dict[str, str]] = {
    "ALB": "AL", "AND": "AD", "ARM": "AM", "AUT": "AT", "AZE": "AZ", "BEL": "BE", "BGR": "BG",
    "BIH": "BA", "BLR": "BY", "CHE": "CH", "CYP": "CY", "CZE": "CZ", "DEU": "DE", "DNK": "DK",
    "ESP": "ES", "EST": "EE", "FIN": "FI", "FRA": "FR", "FRO": "FO", "GBR": "GB", "GEO": "GE",
    "GIB": "GI", "GRC": "GR", "GRL": "GL", "HRV": "HR", "HUN": "HU", "IRL": "IE", "ISL": "IS",
    "ITA": "IT", "LIE": "LI", "LTU": "LT", "LUX": "LU", "LVA": "LV", "MCO": "MC", "MDA": "MD",
    "MKD": "MK", "MLT": "MT", "MNE": "ME", "NLD": "NL", "NOR": "NO", "POL": "PL", "PRT": "PT",
    "ROU": "RO", "RUS": "RU", "SMR": "SM", "SRB": "RS", "SVK": "SK", "SVN": "SI", "SWE": "SE",
    "TUR": "TR", "UKR": "UA", "VAT": "VA", "USA": "US", "CAN": "CA", "ISR": "IL", "EGY": "EG",
    "MAR": "MA", "TUN": "TN", "CHN": "CN", "JPN": "JP", "IND": "IN", "AUS": "AU", "BRA": "BR",
    # Kosovo has no ISO 3166 code; XK/XKX are the user-assigned codes the EU uses (inference)
    "XKX": "XK", "KOS": "XK", "RKS": "XK",
}  # fmt: skip


def tadig_country(tadig: str | None) -> str | None:
    """The ISO alpha-2 country of a TADIG code, or None.

    Examples
    --------
    >>> tadig_country("DEUD1")
    'DE'
    >>> tadig_country("XKXVA")
    'XK'
    >>> tadig_country("ZZZ01") is None
    True
    """
    if not tadig or len(tadig) < 3:
        return None
    return ALPHA3.get(tadig[:3].upper())


def mcc_table(catalog: Catalog) -> pl.DataFrame:
    """(mcc, country) for every catalog country, for a join on the IMSI's first three digits."""
    rows = [(mcc, c.code) for c in catalog.countries.values() for mcc in c.mcc]
    return pl.DataFrame(
        {"mcc": [m for m, _ in rows], "home_country": [c for _, c in rows]},
        schema={"mcc": pl.String(), "home_country": pl.String()},
    )
