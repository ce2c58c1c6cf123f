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
from roamlike.wholesale.iso3166 import ISO_ALPHA3_TO_ALPHA2

#: TADIG prefix -> ISO alpha-2: every ISO 3166-1 alpha-3 code, and the Kosovo prefixes
#: (Kosovo has no ISO code; XK/XKX are the user-assigned codes the EU uses; KOS and RKS are seen
#: in operator codes: inference, no GSMA list was read).
ALPHA3: Final[dict[str, str]] = {**ISO_ALPHA3_TO_ALPHA2, "XKX": "XK", "KOS": "XK", "RKS": "XK"}


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


#: Mobile country codes that several catalog countries list (a country and its dependencies or
#: neighbours share it, told apart by the MNC, which roamlike does not map): the country to which
#: ITU-T E.212 assigns the code. Graded inference (ITU's list itself was not read).
SHARED_MCC_OWNER: Final[dict[str, str]] = {
    "208": "FR", "234": "GB", "242": "NO", "244": "FI", "310": "US", "311": "US", "338": "JM",
    "340": "GP", "362": "CW", "425": "IL", "505": "AU", "604": "MA",
}  # fmt: skip


def mcc_countries(catalog: Catalog) -> dict[str, str]:
    """E.212 mobile country code -> ISO alpha-2 country, from the catalog's countries.

    A code listed by one catalog country maps to it. A code listed by several maps to its owner in
    :data:`SHARED_MCC_OWNER` when that country is among them, otherwise to the first of them in
    alphabetical order (deterministic; an IMSI of a dependency sharing its parent's MCC, e.g.
    Jersey under 234, is counted as the parent's).
    """
    candidates: dict[str, list[str]] = {}
    for country in catalog.countries.values():
        for mcc in country.mcc:
            candidates.setdefault(mcc, []).append(country.code)
    out: dict[str, str] = {}
    for mcc, codes in candidates.items():
        owner = SHARED_MCC_OWNER.get(mcc)
        out[mcc] = owner if owner in codes else sorted(codes)[0]
    return out


def mcc_table(catalog: Catalog) -> pl.DataFrame:
    """(mcc, home_country) for every MCC of the catalog (see :func:`mcc_countries`)."""
    mapping = mcc_countries(catalog)
    return pl.DataFrame(
        {"mcc": list(mapping), "home_country": list(mapping.values())},
        schema={"mcc": pl.String(), "home_country": pl.String()},
    )
