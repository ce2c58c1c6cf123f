"""Wholesale roaming: TAP 3 files, wholesale cap checks and inter-operator settlement.

Public API::

    decode_file(path, catalog) -> TapFile           header, events table, findings
    decode_bytes(data, name, catalog) -> TapFile
    encode_batch(events, spec) -> bytes             a TAP 3.12 transfer batch
    BatchSpec, load_batch_spec(path)                what a batch needs besides its events
    Finding, CODES                                  validation findings and their stable codes
    tadig_country(code) -> str | None               visited country of a TADIG code
"""

from roamlike.wholesale.countries import tadig_country
from roamlike.wholesale.decode import TapFile, decode_bytes, decode_file, events_json
from roamlike.wholesale.encode import BatchSpec, encode_batch, load_batch_spec
from roamlike.wholesale.events import EVENT_SCHEMA
from roamlike.wholesale.findings import CODES, Finding, findings_frame, is_blocking
from roamlike.wholesale.header import TapHeader

__all__ = [
    "CODES",
    "EVENT_SCHEMA",
    "BatchSpec",
    "Finding",
    "TapFile",
    "TapHeader",
    "decode_bytes",
    "decode_file",
    "encode_batch",
    "events_json",
    "findings_frame",
    "is_blocking",
    "load_batch_spec",
    "tadig_country",
]
