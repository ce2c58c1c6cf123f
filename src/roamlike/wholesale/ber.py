"""Basic Encoding Rules (ITU-T X.690) for TAP: read one element, write one element.

Only what TAP uses: application-class tags (single or multi-byte), definite lengths (short and long
form) and indefinite lengths (constructed only, closed by two zero octets). Reading never trusts a
length: every element must fit inside its parent, and a malformed byte raises :class:`BerError`
with the offset, which the decoder turns into a finding.

This module is the plain-Python side, used for the batch header, the audit block and the encoder;
the call events are walked by the compiled kernel in :mod:`roamlike.wholesale.kernel`, which
implements the same rules.

References
----------
ITU-T X.690 (02/2021), clauses 8.1.2 (identifier octets), 8.1.3 (length octets), 8.1.5
(end-of-contents octets), 8.3 (INTEGER, two's complement, minimal length).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

#: Tags above this number are refused (TAP's largest is below 500; this bounds the loop).
MAX_TAG_NUMBER = 1 << 21
#: Nesting deeper than this is refused (TAP nests about 12 levels).
MAX_DEPTH = 48


class BerError(ValueError):
    """Malformed BER at a byte offset (internal: the decoder turns it into a finding)."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        self.detail = message
        super().__init__(f"byte {offset}: {message}")


@dataclass(frozen=True)
class Element:
    """One BER element: its tag, where its content lies, and where the next element starts."""

    offset: int
    tag_class: int  # 0 universal, 1 application, 2 context, 3 private
    constructed: bool
    number: int
    content_start: int
    content_end: int  # exclusive; for an indefinite length, the offset of its end-of-contents
    end: int  # offset just after the element (after the end-of-contents octets if indefinite)
    indefinite: bool


@dataclass(frozen=True)
class Header:
    """Identifier and length octets of one element; ``length`` is None when indefinite."""

    offset: int
    tag_class: int  # 0 universal, 1 application, 2 context, 3 private
    constructed: bool
    number: int
    content_start: int
    length: int | None


def read_header(buf: bytes, pos: int, limit: int) -> Header:
    """Read identifier and length octets at ``pos`` (the content is not checked).

    Raises
    ------
    BerError
        Truncated identifier or length; a length form TAP never uses; an indefinite length on a
        primitive element.
    """
    start = pos
    if pos >= limit:
        raise BerError(pos, "truncated: an element was expected")
    first = buf[pos]
    pos += 1
    tag_class = first >> 6
    constructed = bool(first & 0x20)
    number = first & 0x1F
    if number == 0x1F:
        number = 0
        while True:
            if pos >= limit:
                raise BerError(start, "truncated inside a multi-byte tag")
            b = buf[pos]
            pos += 1
            number = (number << 7) | (b & 0x7F)
            if number > MAX_TAG_NUMBER:
                raise BerError(start, "tag number too large")
            if not b & 0x80:
                break
    if pos >= limit:
        raise BerError(start, "truncated before the length")
    lb = buf[pos]
    pos += 1
    if lb == 0x80:
        if not constructed:
            raise BerError(start, "indefinite length on a primitive element")
        return Header(start, tag_class, constructed, number, pos, None)
    if lb & 0x80:
        n = lb & 0x7F
        if n > 7:
            raise BerError(start, f"a length of {n} octets is not supported")
        if pos + n > limit:
            raise BerError(start, "truncated inside a long-form length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    else:
        length = lb
    return Header(start, tag_class, constructed, number, pos, length)


def read_element(buf: bytes, pos: int, limit: int, depth: int = 0) -> Element:
    """Read the element starting at ``pos``; it must end at or before ``limit``.

    Raises
    ------
    BerError
        Truncated identifier, length or content; a length that overruns ``limit``; an indefinite
        length on a primitive element; nesting deeper than :data:`MAX_DEPTH`.
    """
    if depth > MAX_DEPTH:
        raise BerError(pos, f"nesting deeper than {MAX_DEPTH} levels")
    h = read_header(buf, pos, limit)
    if h.length is None:
        p = h.content_start
        while True:
            if p + 1 < limit and buf[p] == 0 and buf[p + 1] == 0:
                return Element(
                    h.offset, h.tag_class, True, h.number, h.content_start, p, p + 2, True
                )
            p = read_element(buf, p, limit, depth + 1).end
    end = h.content_start + h.length
    if end > limit:
        raise BerError(h.offset, f"length {h.length} runs past the end of its container")
    return Element(h.offset, h.tag_class, h.constructed, h.number, h.content_start, end, end, False)


def children(buf: bytes, parent: Element, depth: int = 0) -> Iterator[Element]:
    """The elements inside a constructed element, in order."""
    pos = parent.content_start
    while pos < parent.content_end:
        child = read_element(buf, pos, parent.content_end, depth + 1)
        yield child
        pos = child.end


def decode_integer(buf: bytes, el: Element) -> int:
    """A BER INTEGER (two's complement, 1 to 8 octets in TAP).

    Raises
    ------
    BerError
        Empty or longer than 8 octets.
    """
    n = el.content_end - el.content_start
    if n == 0 or n > 8:
        raise BerError(el.offset, f"an INTEGER of {n} octets (1 to 8 expected)")
    return int.from_bytes(buf[el.content_start : el.content_end], "big", signed=True)


def decode_ascii(buf: bytes, el: Element) -> str:
    """An AsciiString/NumberString/HexString (visible ISO 646), surrounding spaces dropped.

    Raises
    ------
    BerError
        A byte outside printable ASCII.
    """
    raw = bytes(buf[el.content_start : el.content_end])
    if any(b < 0x20 or b > 0x7E for b in raw):
        raise BerError(el.offset, "a character outside printable ASCII")
    return raw.decode("ascii").strip()


def encode_tag(number: int, constructed: bool) -> bytes:
    """Identifier octets of an application-class tag.

    Examples
    --------
    >>> encode_tag(1, True).hex()
    '61'
    >>> encode_tag(415, False).hex()
    '5f831f'
    """
    base = 0x60 if constructed else 0x40
    if number < 31:
        return bytes([base | number])
    groups = [number & 0x7F]
    number >>= 7
    while number:
        groups.append(0x80 | (number & 0x7F))
        number >>= 7
    return bytes([base | 0x1F, *reversed(groups)])


def encode_length(length: int) -> bytes:
    """Definite length octets, short form below 128, else the shortest long form.

    Examples
    --------
    >>> encode_length(5).hex()
    '05'
    >>> encode_length(300).hex()
    '82012c'
    """
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(number: int, content: bytes, constructed: bool = False) -> bytes:
    """One definite-length application-class element."""
    return encode_tag(number, constructed) + encode_length(len(content)) + content


def seq(number: int, *parts: bytes) -> bytes:
    """A constructed element holding the concatenation of ``parts``."""
    return tlv(number, b"".join(parts), constructed=True)


def integer(number: int, value: int) -> bytes:
    """An INTEGER element in its minimal two's-complement form.

    Examples
    --------
    >>> integer(43, 128).hex()
    '5f2b020080'
    """
    length = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return tlv(number, value.to_bytes(length, "big", signed=True))


def ascii_(number: int, text: str) -> bytes:
    """An AsciiString/NumberString element."""
    return tlv(number, text.encode("ascii"))


def bcd(number: int, digits: str) -> bytes:
    """A BCDString element: two digits per octet, high nibble first, ``f`` filler when odd.

    Examples
    --------
    >>> bcd(129, "12345").hex()
    '5f81010312345f'
    """
    if len(digits) % 2:
        digits += "f"
    return tlv(number, bytes.fromhex(digits))
