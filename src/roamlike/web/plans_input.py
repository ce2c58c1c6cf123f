"""Plans a user pastes or uploads: strict parsing, and a compact token that carries them in a URL.

The token (zlib-compressed UTF-8, base64url) keeps a page's state in its address, so a link to
a trip or an audit of uploaded plans can be shared and back/forward work; both directions are
bounded so a crafted token cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import zlib
from pathlib import Path

from roamlike.errors import TariffError
from roamlike.tariffs import Plan, load_plans

#: Largest plans text accepted [characters].
MAX_PLANS_CHARS = 1_000_000
#: Largest token that still goes into a URL [characters]; larger uploads are shown without one.
MAX_TOKEN_CHARS = 12_000


def encode_token(text: str) -> str | None:
    """The URL token of a plans text, or None when it would be too long for an address."""
    token = base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")
    token = token.rstrip("=")
    return token if len(token) <= MAX_TOKEN_CHARS else None


def decode_token(token: str) -> str:
    """The plans text of a token.

    Raises
    ------
    TariffError
        The token is damaged, too long, or expands past :data:`MAX_PLANS_CHARS`.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise TariffError("the plans in the address are too long; paste them again")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, MAX_PLANS_CHARS * 4)
        if inflater.unconsumed_tail:
            raise TariffError("the plans in the address expand past the size limit")
        return data.decode("utf-8")
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        raise TariffError(
            "the plans in the address are damaged (the link was cut?); paste them again"
        ) from None


def parse_plans_text(text: str) -> dict[str, Plan]:
    """Plans from YAML or JSON text, with the loader's strict validation.

    JSON is recognised by a leading ``{``; anything else is read as YAML. Messages name the
    line (YAML) or the plan, as for a plans file, with "the pasted plans" as the file name.

    Raises
    ------
    TariffError
        Empty, oversized or invalid plans (the loader's message).
    """
    if not text.strip():
        raise TariffError("no plans given: paste a plans file or choose one to upload")
    if len(text) > MAX_PLANS_CHARS:
        raise TariffError(f"the plans text is longer than {MAX_PLANS_CHARS} characters")
    suffix = ".json" if text.lstrip().startswith("{") else ".yaml"
    with tempfile.TemporaryDirectory(prefix="roamlike-plans-") as folder:
        path = Path(folder) / f"plans{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            return load_plans(path)
        except TariffError as exc:
            raise TariffError(str(exc).replace(str(path), "the pasted plans")) from None
