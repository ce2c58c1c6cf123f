"""The oracle is independent: a defect in a formula the engine uses is seen by the comparison.

Each test mutates one formula the engine takes from ``roamlike.money`` or ``roamlike.tariffs``
(the reference rater has its own, ``roamlike.reference.formulas``) and checks that the
engine-versus-reference comparison of ``tests/rating/test_engine_vs_reference.py`` fails on a
small fixed batch built to exercise it; unmutated, the same batch agrees.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from builders import make_plan, rec
from comparison import differences, text_frame
from roamlike import money
from roamlike.law import Catalog, ParameterValue
from roamlike.rating import rate_usage
from roamlike.reference import rate_records
from roamlike.tariffs import FxTable, Plan

PLANS: dict[str, Plan] = {
    p.id: p
    for p in [
        # an open data bundle (unlimited data, EUR 10): fair-use allowance 2 x 10 / cap GB
        make_plan(
            id="open", price="10.00", price_includes_vat=False, data_allowance_gb="unlimited"
        ),
        # prices incl. 19 % VAT; 1 minute of allowance, then EUR 0.10 incl. VAT per minute
        make_plan(id="gross", voice_allowance_min="1"),
        # its own VAT rate (10 %), unlike Germany's standard rate
        make_plan(id="own-vat", vat_rate="0.10", voice_allowance_min="0"),
        # a unit rate on a tie at 10^-9 (0.0000000025 per minute) and a charge tie at 10^-6
        make_plan(
            id="ties",
            price_includes_vat=False,
            vat_rate="0.25",
            voice_allowance_min="0",
            sms_allowance=0,
            out_of_bundle={"voice_per_min": "0.0000000025", "sms": "0.000002", "data_per_mb": "0"},
        ),
        # a bill-shock limit on a tie at 10^-6 of the currency
        make_plan(id="limit", billshock_limit_eur="0.0000005"),
    ]
}


def _batch() -> list[dict[str, Any]]:
    day = "2026-03-10T1{}:00:00Z"
    return [
        rec("fup", subscriber_id="a", plan_id="open", volume_bytes=40 * 10**9),
        rec("vat", subscriber_id="b", plan_id="gross", event_type="voice_mo", duration_s=900),
        rec("own", subscriber_id="c", plan_id="own-vat", event_type="voice_mo", duration_s=600),
        rec("t1", subscriber_id="d", plan_id="ties", event_type="voice_mo", duration_s=86_400),
        rec("t2", subscriber_id="d", plan_id="ties", event_type="sms_mo", count=1,
            started_at=day.format(1), visited_country="DE"),
        rec("t3", subscriber_id="d", plan_id="ties", event_type="voice_mo", duration_s=30,
            started_at=day.format(2), visited_country="DE"),
        rec("bs", subscriber_id="e", plan_id="limit", volume_bytes=10**6),
    ]  # fmt: skip


def _differences(rows: list[dict[str, Any]]) -> list[str]:
    return differences(rate_records(rows, PLANS, FxTable()), rate_usage(text_frame(rows), PLANS))


def _patch_everywhere(monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> None:
    """Replace ``name`` in every engine-side module that bound it (not in the reference)."""
    import roamlike.rating.prices
    import roamlike.tariffs
    import roamlike.tariffs.fair_use
    import roamlike.tariffs.vat

    for module in (
        roamlike.tariffs,
        roamlike.tariffs.vat,
        roamlike.tariffs.fair_use,
        roamlike.rating.prices,
    ):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, value)


Mutation = Callable[[pytest.MonkeyPatch], None]


def _triple_fair_use_multiplier(monkeypatch: pytest.MonkeyPatch) -> None:
    import roamlike.tariffs.fair_use as fair_use

    original = fair_use.value_at

    def tripled(parameter: str, on: dt.date, catalog: Catalog | None = None) -> ParameterValue:
        found = original(parameter, on, catalog)
        if parameter == fair_use.MULTIPLIER_PARAMETER:
            return found.__class__(**{**found.__dict__, "value": found.value * 3})
        return found

    monkeypatch.setattr(fair_use, "value_at", tripled)


def _vat_taken_off_the_gross(monkeypatch: pytest.MonkeyPatch) -> None:
    from roamlike.tariffs.vat import plan_vat_rate

    def wrong(plan: Plan, amount: Decimal, on: dt.date, catalog: Catalog | None = None) -> Decimal:
        return amount * (1 - plan_vat_rate(plan, on)) if plan.price_includes_vat else amount

    _patch_everywhere(monkeypatch, "excl_vat", wrong)


def _plan_vat_rate_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from roamlike.law import default_catalog

    def wrong(plan: Plan, on: dt.date, catalog: Catalog | None = None) -> Decimal:
        return default_catalog().country(plan.home_country).vat_at(on).value

    _patch_everywhere(monkeypatch, "plan_vat_rate", wrong)


def _rates_rounded_half_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        money, "rate", lambda value: value.quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
    )


def _limits_rounded_half_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        money,
        "to_micros",
        lambda amount: int((amount * 10**6).quantize(Decimal(1), rounding=ROUND_HALF_UP)),
    )


MUTATIONS: dict[str, Mutation] = {
    "fair-use multiplier tripled": _triple_fair_use_multiplier,
    "VAT removed as gross x (1 - rate)": _vat_taken_off_the_gross,
    "plan's own VAT rate ignored": _plan_vat_rate_ignored,
    "unit rates rounded half-up": _rates_rounded_half_up,
    "limits rounded half-up": _limits_rounded_half_up,
}


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return _batch()


def test_unmutated_engine_and_reference_agree_on_the_batch(rows: list[dict[str, Any]]) -> None:
    assert _differences(rows) == []


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_of_a_shared_formula_is_caught(
    name: str, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    MUTATIONS[name](monkeypatch)
    assert _differences(rows), f"mutation {name!r} went unnoticed"


_COMPILED_MUTATION = """
import sys
sys.path[:0] = [{tests!r}, {here!r}]
import roamlike.rating.kernel as kernel
import test_oracle_independence as t
print(len(t._differences(t._batch())))
kernel._mul_div_round = lambda a, b, d: (2 * a * b + d) // (2 * d)  # half-up
print(len(t._differences(t._batch())))
"""


def test_mutation_of_the_compiled_rounding_is_caught() -> None:
    # charges and VAT are rounded inside the compiled pass; with Numba's JIT disabled the pass
    # runs as Python and its rounding function (roamlike.money.mul_div_round) can be mutated
    here = Path(__file__).parent
    script = _COMPILED_MUTATION.format(tests=str(here.parent), here=str(here))
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    unmutated, mutated = (int(line) for line in done.stdout.split())
    assert unmutated == 0
    assert mutated > 0, "half-up rounding of charges and VAT went unnoticed"
