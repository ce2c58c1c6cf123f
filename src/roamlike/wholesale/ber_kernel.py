"""Compiled BER primitives (Numba): element headers, skipping, and the TAP value types.

The same rules as :mod:`roamlike.wholesale.ber` (ITU-T X.690: identifier octets with multi-byte
tags, short/long/indefinite lengths, end-of-contents octets; two's-complement INTEGERs), written
for the compiled walker in :mod:`roamlike.wholesale.kernel`: no Python objects, every read bounded
by a limit, errors returned as codes. Also here: the TAP value types the walker decodes (BCD
numbers, ``CCYYMMDDhhmmss`` local timestamps, NumberString and HexString codes).

References
----------
ITU-T X.690 clauses 8.1.2-8.1.5 and 8.3; GSMA TD.57 TAP 3.12 (BCDString, LocalTimeStamp).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

#: Sentinel of a missing integer field.
MISSING = np.iinfo(np.int64).min
#: Digits kept per number field (IMSI, MSISDN: 16; called number: 32).
IMSI_WIDTH = 16
CALLED_WIDTH = 32
MAX_DEPTH = 48
#: A single amount must be below 2^62 (about 4.6e18) and the sums per event too.
AMOUNT_LIMIT = np.int64(1) << np.int64(62)

# Per-event error codes (the event could not be walked).
ERR_TRUNCATED = 1
ERR_LENGTH_FORM = 2
ERR_TOO_DEEP = 3
ERR_NOT_CONSTRUCTED = 4
ERR_INDEFINITE_PRIMITIVE = 5
ERR_TAG = 6

# Per-event flags (the event was walked, an item is invalid).
F_BAD_TIMESTAMP = 1
F_CHARGE_NO_TYPE = 2
F_INT_TOO_LONG = 4
F_NEGATIVE_AMOUNT = 8
F_BAD_BCD = 16
F_AMOUNT_OVERFLOW = 32
F_FIELD_TOO_LONG = 64
F_BAD_CHARGE_TYPE = 128
F_BAD_SERVICE_CODE = 256
F_NEGATIVE_VOLUME = 512

jit = nb.njit(cache=True, nogil=True, boundscheck=False)


@jit
def element_header(buf: Any, pos: int, limit: int) -> Any:
    """(error, first octet, tag number, content start, length or -1 for indefinite)."""
    if pos >= limit:
        return ERR_TRUNCATED, 0, 0, 0, 0
    first = int(buf[pos])
    pos += 1
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        while True:
            if pos >= limit:
                return ERR_TRUNCATED, 0, 0, 0, 0
            b = int(buf[pos])
            pos += 1
            number = (number << 7) | (b & 0x7F)
            if number > (1 << 21):
                return ERR_TAG, 0, 0, 0, 0
            if (b & 0x80) == 0:
                break
    if pos >= limit:
        return ERR_TRUNCATED, 0, 0, 0, 0
    lb = int(buf[pos])
    pos += 1
    if lb == 0x80:
        if (first & 0x20) == 0:
            return ERR_INDEFINITE_PRIMITIVE, 0, 0, 0, 0
        return 0, first, number, pos, -1
    length = lb
    if lb & 0x80:
        n = lb & 0x7F
        if n > 7:
            return ERR_LENGTH_FORM, 0, 0, 0, 0
        if pos + n > limit:
            return ERR_TRUNCATED, 0, 0, 0, 0
        length = 0
        for i in range(n):
            length = (length << 8) | int(buf[pos + i])
        pos += n
    if pos + length > limit:
        return ERR_TRUNCATED, 0, 0, 0, 0
    return 0, first, number, pos, length


@jit
def skip_element(buf: Any, pos: int, limit: int) -> Any:
    """(error, end offset) of the element at ``pos``, walking nested indefinite lengths."""
    depth = 0
    while True:
        if depth > 0 and pos + 1 < limit and buf[pos] == 0 and buf[pos + 1] == 0:
            pos += 2
            depth -= 1
            if depth == 0:
                return 0, pos
            continue
        err, _first, _num, cs, length = element_header(buf, pos, limit)
        if err != 0:
            return err, pos
        if length >= 0:
            pos = cs + length
            if depth == 0:
                return 0, pos
        else:
            depth += 1
            if depth > MAX_DEPTH:
                return ERR_TOO_DEEP, pos
            pos = cs


@jit
def integer_at(buf: Any, start: int, n: int) -> Any:
    if n < 1 or n > 8:
        return False, 0
    v = np.int64(buf[start])
    if v >= 128:
        v -= 256
    for i in range(1, n):
        v = (v << 8) | np.int64(buf[start + i])
    return True, v


@jit
def digits_value(buf: Any, start: int, n: int) -> Any:
    """A NumberString as an integer, or -1 when empty, too long or not all digits."""
    if n < 1 or n > 18:
        return -1
    v = 0
    for i in range(n):
        c = buf[start + i]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@jit
def hex_value(buf: Any, start: int, n: int) -> Any:
    """A HexString as an integer, or -1."""
    if n < 1 or n > 8:
        return -1
    v = 0
    for i in range(n):
        c = buf[start + i]
        if 48 <= c <= 57:
            d = c - 48
        elif 65 <= c <= 70:
            d = c - 55
        elif 97 <= c <= 102:
            d = c - 87
        else:
            return -1
        v = v * 16 + d
    return v


@jit
def days_from_civil(y: int, m: int, d: int) -> Any:
    y2 = y - 1 if m <= 2 else y
    era = (y2 if y2 >= 0 else y2 - 399) // 400
    yoe = y2 - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@jit
def local_seconds(buf: Any, start: int, n: int) -> Any:
    """CCYYMMDDhhmmss as seconds since 1970-01-01T00:00 (local wall clock), or MISSING."""
    if n != 14:
        return MISSING
    for i in range(14):
        c = buf[start + i]
        if c < 48 or c > 57:
            return MISSING
    v = np.empty(14, np.int64)
    for i in range(14):
        v[i] = np.int64(buf[start + i]) - 48
    y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3]
    mo = v[4] * 10 + v[5]
    d = v[6] * 10 + v[7]
    h = v[8] * 10 + v[9]
    mi = v[10] * 10 + v[11]
    s = v[12] * 10 + v[13]
    if y < 1900 or mo < 1 or mo > 12 or d < 1 or h > 23 or mi > 59 or s > 59:
        return MISSING
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    dim = 31
    if mo == 2:
        dim = 29 if leap else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    if d > dim:
        return MISSING
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


@jit
def bcd_digits(buf: Any, start: int, n: int, out: Any, row: int, width: int) -> Any:
    """Unpack BCD digits into ``out[row]``; (number of digits, flags)."""
    k = 0
    flags = 0
    for i in range(n):
        b = buf[start + i]
        for half in range(2):
            nib = (b >> 4) if half == 0 else (b & 0x0F)
            if nib == 0x0F:
                if not (i == n - 1 and half == 1):
                    flags |= F_BAD_BCD
                continue
            if k >= width:
                flags |= F_FIELD_TOO_LONG
                continue
            out[row, k] = nib + 48 if nib < 10 else nib + 87
            k += 1
    return k, flags


@jit
def count_call_events(
    buf: Any, start: int, end: int, indefinite: bool
) -> tuple[int, int, int, int]:
    """Walk the list's top level: (events, list error, error offset, offset after the list).

    ``end`` is the end of the list's content for a definite length, or the end of the buffer
    for an indefinite one (then the list ends at its end-of-contents octets).
    """
    pos = start
    count = 0
    while True:
        if indefinite:
            if pos + 1 < end and buf[pos] == 0 and buf[pos + 1] == 0:
                return count, 0, pos, pos + 2
            if pos >= end:
                return count, ERR_TRUNCATED, pos, pos
        elif pos >= end:
            return count, 0, pos, pos
        err, new_pos = skip_element(buf, pos, end)
        if err != 0:
            return count, err, pos, pos
        pos = new_pos
        count += 1
