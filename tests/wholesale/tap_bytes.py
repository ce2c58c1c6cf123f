"""Hand-built TAP byte strings for the tests, written independently of the encoder.

Tags and lengths are spelled out as hex where a construct is under test; the small helpers here
implement X.690 on their own (no import from ``roamlike.wholesale``), so an encoder bug cannot
hide a decoder bug.
"""

from __future__ import annotations


def tag(number: int, constructed: bool) -> bytes:
    base = 0x60 if constructed else 0x40
    if number < 31:
        return bytes([base | number])
    out = [number & 0x7F]
    number >>= 7
    while number:
        out.insert(0, 0x80 | (number & 0x7F))
        number >>= 7
    return bytes([base | 0x1F, *out])


def length(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def p(number: int, content: bytes) -> bytes:
    """Primitive element."""
    return tag(number, False) + length(len(content)) + content


def c(number: int, *parts: bytes) -> bytes:
    """Constructed element, definite length."""
    body = b"".join(parts)
    return tag(number, True) + length(len(body)) + body


def ci(number: int, *parts: bytes) -> bytes:
    """Constructed element, indefinite length (closed by 00 00)."""
    return tag(number, True) + b"\x80" + b"".join(parts) + b"\x00\x00"


def i(number: int, value: int) -> bytes:
    n = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return p(number, value.to_bytes(n, "big", signed=True))


def a(number: int, text: str) -> bytes:
    return p(number, text.encode("ascii"))


def bcd(number: int, digits: str) -> bytes:
    if len(digits) % 2:
        digits += "f"
    return p(number, bytes.fromhex(digits))


def stamp_long(number: int, local: str, offset: str) -> bytes:
    return c(number, a(16, local), a(231, offset))


def batch_control(sender: str = "ESPTE", recipient: str = "DEUD1", release: int = 12) -> bytes:
    return c(
        4,
        a(196, sender),
        a(182, recipient),
        a(109, "00042"),
        stamp_long(227, "20260301000000", "+0100"),
        stamp_long(107, "20260301000000", "+0100"),
        i(201, 3),
        i(189, release),
    )


def accounting(places: int = 3, currency: str = "EUR") -> bytes:
    conv = c(80, c(106, i(105, 1), i(159, 4), i(104, 10825)))
    return c(5, a(135, currency), a(210, currency), conv, i(244, places))


def network() -> bytes:
    return c(6, c(234, c(233, i(232, 0), a(231, "+0100")), c(233, i(232, 1), a(231, "-0230"))))


def charge_info(
    charge: int, *, ctype: str = "00", tax: int | None = None, xr: int | None = 1
) -> bytes:
    parts = [a(66, "D")]
    if xr is not None:
        parts.append(i(105, xr))
    parts.append(c(258, i(259, 1), i(255, 0), i(256, 2)))
    detail = [a(71, ctype)] if ctype else []
    parts.append(c(64, c(63, *detail, i(62, charge))))
    if tax is not None:
        parts.append(c(214, c(213, i(212, 1), i(397, tax))))
    return c(70, c(69, *parts))


def moc(
    imsi: str = "262011234567890",
    local: str = "20260301120000",
    code: int = 0,
    duration: int | None = 125,
    charge: int = 40,
    tax: int | None = 5,
    service: str = "11",
    extra: bytes = b"",
) -> bytes:
    """A mobile originated call (APPLICATION 9) with the usual items."""
    basic = [
        c(427, c(199, bcd(129, imsi), bcd(152, "491701234567"))) if imsi else b"",
        c(89, bcd(407, "4930123456")),
        c(44, a(16, local), i(232, code)),
    ]
    if duration is not None:
        basic.append(i(223, duration))
    return c(
        9,
        c(147, *basic),
        extra,
        c(38, c(39, c(36, c(426, a(218, service))), charge_info(charge, tax=tax))),
    )


def gprs(
    vol_in: int = 1_000_000, vol_out: int = 200_000, charge: int = 2, local: str = "20260301130000"
) -> bytes:
    return c(
        14,
        c(
            114,
            c(115, c(427, c(199, bcd(129, "262019999999999")))),
            c(44, a(16, local), i(232, 0)),
            i(223, 600),
            i(72, 7),
        ),
        c(121, i(250, vol_in), i(251, vol_out), charge_info(charge, tax=None, xr=None)),
    )


def audit(
    total: int,
    tax: int,
    count: int,
    discount: int = 0,
    earliest: str | None = None,
    latest: str | None = None,
) -> bytes:
    parts = []
    if earliest:
        parts.append(stamp_long(101, earliest, "+0100"))
    if latest:
        parts.append(stamp_long(133, latest, "+0100"))
    return c(15, *parts, i(415, total), i(226, tax), i(225, discount), i(43, count))


def batch(
    *events: bytes,
    places: int = 3,
    total: int | None = None,
    tax: int | None = None,
    count: int | None = None,
    indefinite_list: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A transfer batch; the audit totals default to the hand-known values of ``events``."""
    lst = (ci if indefinite_list else c)(3, *events)
    return c(
        1,
        batch_control(),
        accounting(places),
        network(),
        extra,
        lst,
        audit(
            total if total is not None else 0,
            tax if tax is not None else 0,
            count if count is not None else len(events),
        ),
    )
