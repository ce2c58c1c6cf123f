"""The compiled call-event walker: one pass over the BER bytes into columnar arrays.

A TAP file is mostly its call-event list. :func:`walk_call_events` walks that list once with an
explicit stack (no recursion, no Python objects), and writes the fields of every event into
preallocated NumPy arrays, one slot per event. It implements the same BER rules as
:mod:`roamlike.wholesale.ber` (definite and indefinite lengths, multi-byte tags and lengths) and
never reads outside the buffer: a malformed element sets an error code on its event, and a list that
cannot be walked further stops with a list error and the offset, so the caller can report every
event as decoded or failed.

Fields are found by their application tag and, where a tag is used in several places, by the tag
of the element that contains it (e.g. ``LocalTimeStamp`` only under ``CallEventStartTimeStamp``).
Elements the walker does not know (other TAP items, later releases' extensions, operator-specific
data) are skipped after their length is checked.

References
----------
ITU-T X.690 clauses 8.1.2-8.1.5; GSMA TD.57 TAP 3.12 (tags in :mod:`roamlike.wholesale.tags`).
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
_MAX_DEPTH = 48
#: A single amount must be below 2^62 (about 4.6e18) and the sums per event too.
_AMOUNT_LIMIT = np.int64(1) << np.int64(62)

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

_jit = nb.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def _header(buf: Any, pos: int, limit: int) -> Any:
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


@_jit
def _skip(buf: Any, pos: int, limit: int) -> Any:
    """(error, end offset) of the element at ``pos``, walking nested indefinite lengths."""
    depth = 0
    while True:
        if depth > 0 and pos + 1 < limit and buf[pos] == 0 and buf[pos + 1] == 0:
            pos += 2
            depth -= 1
            if depth == 0:
                return 0, pos
            continue
        err, _first, _num, cs, length = _header(buf, pos, limit)
        if err != 0:
            return err, pos
        if length >= 0:
            pos = cs + length
            if depth == 0:
                return 0, pos
        else:
            depth += 1
            if depth > _MAX_DEPTH:
                return ERR_TOO_DEEP, pos
            pos = cs


@_jit
def _integer(buf: Any, start: int, n: int) -> Any:
    if n < 1 or n > 8:
        return False, 0
    v = np.int64(buf[start])
    if v >= 128:
        v -= 256
    for i in range(1, n):
        v = (v << 8) | np.int64(buf[start + i])
    return True, v


@_jit
def _digits_value(buf: Any, start: int, n: int) -> Any:
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


@_jit
def _hex_value(buf: Any, start: int, n: int) -> Any:
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


@_jit
def _days_from_civil(y: int, m: int, d: int) -> Any:
    y2 = y - 1 if m <= 2 else y
    era = (y2 if y2 >= 0 else y2 - 399) // 400
    yoe = y2 - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@_jit
def _local_seconds(buf: Any, start: int, n: int) -> Any:
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
    return _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


@_jit
def _bcd(buf: Any, start: int, n: int, out: Any, row: int, width: int) -> Any:
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


@_jit
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
        err, new_pos = _skip(buf, pos, end)
        if err != 0:
            return count, err, pos, pos
        pos = new_pos
        count += 1


@_jit
def walk_call_events(buf: Any, start: int, end: int, count: int) -> Any:
    """Decode the ``count`` events that :func:`count_call_events` delimited into columns."""
    n = count
    ev_tag = np.zeros(n, np.int64)
    ev_offset = np.zeros(n, np.int64)
    ev_err = np.zeros(n, np.int64)
    ev_flags = np.zeros(n, np.int64)
    imsi = np.zeros((n, IMSI_WIDTH), np.uint8)
    imsi_len = np.zeros(n, np.int64)
    msisdn = np.zeros((n, IMSI_WIDTH), np.uint8)
    msisdn_len = np.zeros(n, np.int64)
    called = np.zeros((n, CALLED_WIDTH), np.uint8)
    called_len = np.zeros(n, np.int64)
    local_start = np.full(n, MISSING, np.int64)
    utc_code = np.full(n, MISSING, np.int64)
    duration = np.full(n, MISSING, np.int64)
    vol_in = np.full(n, MISSING, np.int64)
    vol_out = np.full(n, MISSING, np.int64)
    charge = np.zeros(n, np.int64)
    n_charge = np.zeros(n, np.int64)
    tax = np.full(n, MISSING, np.int64)
    discount = np.full(n, MISSING, np.int64)
    xr_code = np.full(n, MISSING, np.int64)
    charged_item = np.zeros(n, np.int64)
    ctl1 = np.full(n, MISSING, np.int64)
    ctl2 = np.full(n, MISSING, np.int64)
    ctl3 = np.full(n, MISSING, np.int64)
    service = np.full(n, MISSING, np.int64)
    service_is_bearer = np.zeros(n, np.int64)
    event_service = np.full(n, MISSING, np.int64)
    st_end = np.zeros(_MAX_DEPTH + 1, np.int64)
    st_tag = np.zeros(_MAX_DEPTH + 1, np.int64)
    pos = start
    for e in range(n):
        ev_offset[e] = pos
        _skip_err, ev_end = _skip(buf, pos, end)
        err, first, number, cs, length = _header(buf, pos, ev_end)
        pos = ev_end
        ev_tag[e] = number
        if err != 0:
            ev_err[e] = err
            continue
        if (first & 0xE0) != 0x60:
            ev_err[e] = ERR_NOT_CONSTRUCTED
            continue
        content_end = ev_end - 2 if length < 0 else cs + length
        depth = 0
        p = cs
        flags = 0
        cur_type = -1
        cur_charge = 0
        has_charge = False
        ev_charge = np.int64(0)
        ev_tax = np.int64(0)
        ev_disc = np.int64(0)
        has_tax = False
        has_disc = False
        e_err = 0
        while True:
            # close finished containers
            while depth > 0:
                top_end = st_end[depth - 1]
                closing = False
                if top_end < 0:
                    if p + 1 < content_end and buf[p] == 0 and buf[p + 1] == 0:
                        p += 2
                        closing = True
                elif p == top_end:
                    closing = True
                elif p > top_end:
                    e_err = ERR_TRUNCATED
                    break
                if not closing:
                    break
                if st_tag[depth - 1] == 63 and has_charge:
                    if cur_type == -1:
                        flags |= F_CHARGE_NO_TYPE
                    elif cur_type == 0:
                        if cur_charge > _AMOUNT_LIMIT - ev_charge:
                            flags |= F_AMOUNT_OVERFLOW
                        else:
                            ev_charge += cur_charge
                            n_charge[e] += 1
                depth -= 1
            if e_err != 0:
                break
            if p >= content_end:
                if depth > 0 or p > content_end:
                    e_err = ERR_TRUNCATED
                break
            limit = content_end
            if depth > 0 and st_end[depth - 1] >= 0:
                limit = st_end[depth - 1]
            err, first, tag, vs, vlen = _header(buf, p, limit)
            if err != 0:
                e_err = err
                break
            parent = st_tag[depth - 1] if depth > 0 else number
            if first & 0x20:
                if depth >= _MAX_DEPTH:
                    e_err = ERR_TOO_DEEP
                    break
                st_tag[depth] = tag
                st_end[depth] = -1 if vlen < 0 else vs + vlen
                depth += 1
                if tag == 63:
                    cur_type = -1
                    cur_charge = 0
                    has_charge = False
                p = vs
                continue
            p = vs + vlen
            if tag == 129 or tag == 152:
                if parent == 199 or parent == 286 or parent == 436:
                    if tag == 129:
                        if imsi_len[e] == 0:
                            k, f = _bcd(buf, vs, vlen, imsi, e, IMSI_WIDTH)
                            imsi_len[e] = k
                            flags |= f
                    elif msisdn_len[e] == 0:
                        k, f = _bcd(buf, vs, vlen, msisdn, e, IMSI_WIDTH)
                        msisdn_len[e] = k
                        flags |= f
            elif tag == 16:
                if (parent == 44 or parent == 447 or parent == 88) and local_start[e] == MISSING:
                    v = _local_seconds(buf, vs, vlen)
                    if v == MISSING:
                        flags |= F_BAD_TIMESTAMP
                    local_start[e] = v
            elif tag == 232:
                if parent == 44 or parent == 447 or parent == 88:
                    ok, v = _integer(buf, vs, vlen)
                    if ok:
                        utc_code[e] = v
                    else:
                        flags |= F_INT_TOO_LONG
            elif tag == 223:
                ok, v = _integer(buf, vs, vlen)
                if ok:
                    duration[e] = v
                else:
                    flags |= F_INT_TOO_LONG
            elif tag == 250 or tag == 251:
                ok, v = _integer(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0:
                    flags |= F_NEGATIVE_VOLUME
                elif tag == 250:
                    vol_in[e] = v if vol_in[e] == MISSING else vol_in[e] + v
                else:
                    vol_out[e] = v if vol_out[e] == MISSING else vol_out[e] + v
            elif tag == 71:
                if parent == 63:
                    t = _digits_value(buf, vs, vlen)
                    if t < 0:
                        flags |= F_BAD_CHARGE_TYPE
                        cur_type = -2
                    else:
                        cur_type = t
            elif tag == 62:
                ok, v = _integer(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0 or v >= _AMOUNT_LIMIT:
                    flags |= F_NEGATIVE_AMOUNT if v < 0 else F_AMOUNT_OVERFLOW
                elif parent == 63:
                    cur_charge = v
                    has_charge = True
                elif parent == 433:
                    ev_charge += v
                    n_charge[e] += 1
            elif tag == 397 or tag == 412:
                ok, v = _integer(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0 or v >= _AMOUNT_LIMIT:
                    flags |= F_NEGATIVE_AMOUNT if v < 0 else F_AMOUNT_OVERFLOW
                elif tag == 397 and parent == 213:
                    if v > _AMOUNT_LIMIT - ev_tax:
                        flags |= F_AMOUNT_OVERFLOW
                    else:
                        ev_tax += v
                        has_tax = True
                elif tag == 412 and parent == 96:
                    if v > _AMOUNT_LIMIT - ev_disc:
                        flags |= F_AMOUNT_OVERFLOW
                    else:
                        ev_disc += v
                        has_disc = True
            elif tag == 105:
                if (parent == 69 or parent == 449 or parent == 433) and xr_code[e] == MISSING:
                    ok, v = _integer(buf, vs, vlen)
                    if ok:
                        xr_code[e] = v
                    else:
                        flags |= F_INT_TOO_LONG
            elif tag == 66:
                if charged_item[e] == 0 and vlen >= 1:
                    charged_item[e] = buf[vs]
            elif tag == 259 or tag == 255 or tag == 256:
                if parent == 258:
                    ok, v = _integer(buf, vs, vlen)
                    if not ok:
                        flags |= F_INT_TOO_LONG
                    elif tag == 259 and ctl1[e] == MISSING:
                        ctl1[e] = v
                    elif tag == 255 and ctl2[e] == MISSING:
                        ctl2[e] = v
                    elif tag == 256 and ctl3[e] == MISSING:
                        ctl3[e] = v
            elif tag == 218 or tag == 40:
                if parent == 426 and service[e] == MISSING:
                    v = _hex_value(buf, vs, vlen)
                    if v < 0:
                        flags |= F_BAD_SERVICE_CODE
                    else:
                        service[e] = v
                        service_is_bearer[e] = 1 if tag == 40 else 0
            elif tag == 407:
                if parent == 89 and called_len[e] == 0:
                    k, f = _bcd(buf, vs, vlen, called, e, CALLED_WIDTH)
                    called_len[e] = k
                    flags |= f
            elif (tag == 439 or tag == 440) and parent == number:
                ok, v = _integer(buf, vs, vlen)
                if ok:
                    event_service[e] = v
        ev_err[e] = e_err
        ev_flags[e] = flags
        charge[e] = ev_charge
        if has_tax:
            tax[e] = ev_tax
        if has_disc:
            discount[e] = ev_disc
    return (
        ev_tag,
        ev_offset,
        ev_err,
        ev_flags,
        imsi,
        imsi_len,
        msisdn,
        msisdn_len,
        called,
        called_len,
        local_start,
        utc_code,
        duration,
        vol_in,
        vol_out,
        charge,
        n_charge,
        tax,
        discount,
        xr_code,
        charged_item,
        ctl1,
        ctl2,
        ctl3,
        service,
        service_is_bearer,
        event_service,
    )
