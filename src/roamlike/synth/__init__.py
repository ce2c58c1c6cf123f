"""Synthetic roaming traffic: usage records, the tariff plans they use and their FX rates.

Public API::

    generate(records, seed=7, start=date(2026, 1, 1), months=3) -> SynthResult
    fx_reference_rows() -> list[(date, currency, units_per_eur)]   the shipped reference table
"""

from roamlike.synth.generator import EVENT_TYPES, SynthResult, fx_reference_rows, generate

__all__ = ["EVENT_TYPES", "SynthResult", "fx_reference_rows", "generate"]
