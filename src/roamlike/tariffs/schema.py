"""Operators' tariff plans: the schema and a strict loader for YAML or JSON plan files.

A plan file is ``{"plans": [ {...}, ... ]}``. Every price is in the plan ``currency`` and follows
the plan's ``price_includes_vat`` flag. Unknown keys, duplicate keys, unquoted (float) prices and
bad values are errors naming the file and plan. See ``docs/tariffs.md`` for every field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from roamlike.errors import ParameterFileError, TariffError
from roamlike.law.strict_yaml import load_strict_text

BillingPeriod = Literal["month", "28d", "prepaid"]
BILLING_PERIODS: tuple[str, ...] = ("month", "28d", "prepaid")
DEFAULT_PERIOD_ANCHOR = dt.date(2017, 1, 2)
UNLIMITED = "unlimited"


@dataclass(frozen=True)
class OutOfBundle:
    """Domestic unit prices beyond the allowances (plan currency)."""

    voice_per_min: Decimal
    sms: Decimal
    data_per_mb: Decimal
    mms: Decimal | None = None
    voice_mt_per_min: Decimal = Decimal(0)


@dataclass(frozen=True)
class Surcharges:
    """The operator's own roaming surcharges (beyond fair use; WB phases 2-3). None: the cap."""

    voice_mo_per_min: Decimal | None = None
    voice_mt_per_min: Decimal | None = None
    sms_mo: Decimal | None = None
    data_per_gb: Decimal | None = None


@dataclass(frozen=True)
class RoamingPrice:
    """Retail roaming prices for a set of visited countries (``*``: any other country)."""

    countries: tuple[str, ...]
    voice_mo_per_min: Decimal | None = None
    voice_mt_per_min: Decimal | None = None
    sms_mo: Decimal | None = None
    sms_mt: Decimal | None = None
    data_per_mb: Decimal | None = None
    mms: Decimal | None = None


@dataclass(frozen=True)
class DataPackage:
    """A roaming data package on offer (for the EU-WB offer-cap audit)."""

    name: str
    volume_gb: Decimal
    price: Decimal
    countries: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Charging:
    """Declared charging granularity (audited against the regime; the engine uses the law)."""

    voice_mo_initial_s: int = 30
    voice_mo_increment_s: int = 1
    voice_mt_initial_s: int = 0
    voice_mt_increment_s: int = 1
    data_increment_kb: int = 1


@dataclass(frozen=True)
class Plan:
    """One tariff plan."""

    id: str
    home_country: str
    currency: str
    price: Decimal
    price_includes_vat: bool
    billing_period: BillingPeriod
    out_of_bundle: OutOfBundle
    data_allowance_gb: Decimal | None  # None: unlimited
    voice_allowance_min: Decimal | None  # None: unlimited
    sms_allowance: int | None  # None: unlimited
    name: str = ""
    operator: str = ""
    vat_rate: Decimal | None = None
    period_anchor: dt.date = DEFAULT_PERIOD_ANCHOR
    surcharges: Surcharges = field(default_factory=Surcharges)
    roaming_prices: tuple[RoamingPrice, ...] = ()
    data_packages: tuple[DataPackage, ...] = ()
    roaming_data_allowance_gb: Decimal | None = None
    binary_units: bool = False
    prepaid_credit: Decimal | None = None
    charging: Charging = field(default_factory=Charging)
    billshock_limit_eur: Decimal | None = None
    billshock_alert_pct: int | None = None
    billshock_continue: bool = False
    is_m2m: bool = False
    eu_wb_signatory: bool = False
    min_roaming_data_decimals: int | None = None
    notes: str = ""

    def roaming_price(self, visited: str) -> RoamingPrice | None:
        """The price entry for a visited country: its own entry, else the ``*`` entry, else None."""
        fallback = None
        for entry in self.roaming_prices:
            if visited in entry.countries:
                return entry
            if "*" in entry.countries and fallback is None:
                fallback = entry
        return fallback


# --------------------------------------------------------------------------------------------
# Loading

_PLAN_KEYS_REQUIRED = (
    "id",
    "home_country",
    "currency",
    "price",
    "price_includes_vat",
    "billing_period",
    "data_allowance_gb",
    "voice_allowance_min",
    "sms_allowance",
    "out_of_bundle",
)
_PLAN_KEYS_OPTIONAL = (
    "name",
    "operator",
    "vat_rate",
    "period_anchor",
    "roaming",
    "binary_units",
    "prepaid_credit",
    "charging",
    "billshock_limit_eur",
    "billshock_alert_pct",
    "billshock_continue",
    "is_m2m",
    "eu_wb_signatory",
    "min_roaming_data_decimals",
    "notes",
)


#: Bounds of every plan quantity, checked at load time so that the engine's integer arithmetic
#: is exact by construction (docs/rating.md §1.2): amounts (prices, allowances in minutes or GB,
#: credits, limits) at most 10^9, whole numbers (SMS allowances, seconds) at most 10^9.
MAX_AMOUNT = Decimal(1_000_000_000)
MAX_COUNT = 1_000_000_000


class _PlanReader:
    def __init__(self, path: Path | None, plan_id: str | None) -> None:
        self.path = path
        self.plan_id = plan_id

    def fail(self, message: str) -> TariffError:
        return TariffError(message, self.path, self.plan_id)

    def mapping(self, obj: Any, what: str) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            raise self.fail(f"{what} must be a mapping, found {type(obj).__name__}")
        return obj

    def keys(
        self,
        obj: Mapping[str, Any],
        what: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> None:
        allowed = set(required) | set(optional)
        for key in obj:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} in {what}; allowed: {', '.join(sorted(allowed))}"
                )
        for key in required:
            if key not in obj:
                raise self.fail(f"missing required key {key!r} in {what}")

    def money(self, obj: Mapping[str, Any], key: str, what: str) -> Decimal:
        value = obj[key]
        if not isinstance(value, str):
            raise self.fail(
                f'{what}.{key} must be a quoted decimal string such as "0.09", found {value!r}: '
                "quote amounts so no float touches money"
            )
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.fail(f"{what}.{key} is not a decimal number: {value!r}") from None
        if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
            raise self.fail(
                f"{what}.{key} must be an amount >= 0 and at most {MAX_AMOUNT:,}, found {value!r}"
            )
        return number

    def opt_money(self, obj: Mapping[str, Any], key: str, what: str) -> Decimal | None:
        if obj.get(key) is None:
            return None
        return self.money(obj, key, what)

    def allowance(self, obj: Mapping[str, Any], key: str) -> Decimal | None:
        value = obj[key]
        if value == UNLIMITED:
            return None
        return self.money(obj, key, "plan")

    def boolean(self, obj: Mapping[str, Any], key: str, default: bool) -> bool:
        value = obj.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false, found {value!r}")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, default: int, what: str) -> int:
        value = obj.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise self.fail(
                f"{what}.{key} must be a whole number from 0 to {MAX_COUNT:,}, found {value!r}"
            )
        return value

    def text(self, obj: Mapping[str, Any], key: str, default: str | None = None) -> str:
        if key not in obj and default is not None:
            return default
        value = obj[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key} must be a non-empty string, found {value!r}")
        return value

    def countries(self, value: Any, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{what}.countries must be a non-empty list of country codes or '*'")
        out = []
        for c in value:
            if not isinstance(c, str):
                raise self.fail(
                    f"{what}.countries has {c!r}: quote country codes (NO would read as false)"
                )
            out.append(c.upper() if c != "*" else c)
        return tuple(out)


def parse_plan(raw: Any, path: Path | None = None, index: int = 0) -> Plan:
    """Validate one plan mapping (as read from YAML or JSON) into a :class:`Plan`."""
    r = _PlanReader(path, None)
    m = r.mapping(raw, f"plans[{index}]")
    if isinstance(m.get("id"), str):
        r.plan_id = m["id"]
    r.keys(m, "plan", _PLAN_KEYS_REQUIRED, _PLAN_KEYS_OPTIONAL)
    plan_id = r.text(m, "id")
    home = r.text(m, "home_country")
    if len(home) != 2:
        raise r.fail(f"home_country must be an ISO alpha-2 code, found {home!r}")
    currency = r.text(m, "currency")
    if len(currency) != 3 or not currency.isalpha():
        raise r.fail(f"currency must be an ISO 4217 code such as EUR, found {currency!r}")
    period = m["billing_period"]
    if period not in BILLING_PERIODS:
        raise r.fail(
            f"billing_period must be one of {', '.join(BILLING_PERIODS)}, found {period!r}"
        )
    vat_rate = r.opt_money(m, "vat_rate", "plan")
    if vat_rate is not None and (vat_rate >= 1 or vat_rate != vat_rate.quantize(Decimal("1e-6"))):
        raise r.fail(
            f'vat_rate is a fraction with at most 6 decimals such as "0.19", '
            f"found {m['vat_rate']!r}"
        )
    anchor = m.get("period_anchor", DEFAULT_PERIOD_ANCHOR)
    if isinstance(anchor, str):
        try:
            anchor = dt.date.fromisoformat(anchor)
        except ValueError:
            raise r.fail(f"period_anchor must be a date YYYY-MM-DD, found {anchor!r}") from None
    if not isinstance(anchor, dt.date) or isinstance(anchor, dt.datetime):
        raise r.fail(f"period_anchor must be a date YYYY-MM-DD, found {anchor!r}")

    oob_raw = r.mapping(m["out_of_bundle"], "out_of_bundle")
    r.keys(
        oob_raw,
        "out_of_bundle",
        ("voice_per_min", "sms", "data_per_mb"),
        ("mms", "voice_mt_per_min"),
    )
    oob = OutOfBundle(
        voice_per_min=r.money(oob_raw, "voice_per_min", "out_of_bundle"),
        sms=r.money(oob_raw, "sms", "out_of_bundle"),
        data_per_mb=r.money(oob_raw, "data_per_mb", "out_of_bundle"),
        mms=r.opt_money(oob_raw, "mms", "out_of_bundle"),
        voice_mt_per_min=r.opt_money(oob_raw, "voice_mt_per_min", "out_of_bundle") or Decimal(0),
    )

    roaming = r.mapping(m.get("roaming") or {}, "roaming")
    r.keys(
        roaming,
        "roaming",
        (),
        ("surcharges", "prices", "data_packages", "roaming_data_allowance_gb"),
    )
    s_raw = r.mapping(roaming.get("surcharges") or {}, "roaming.surcharges")
    s_keys = ("voice_mo_per_min", "voice_mt_per_min", "sms_mo", "data_per_gb")
    r.keys(s_raw, "roaming.surcharges", (), s_keys)
    surcharges = Surcharges(**{k: r.opt_money(s_raw, k, "roaming.surcharges") for k in s_keys})
    prices: list[RoamingPrice] = []
    p_keys = ("voice_mo_per_min", "voice_mt_per_min", "sms_mo", "sms_mt", "data_per_mb", "mms")
    for j, praw in enumerate(roaming.get("prices") or []):
        what = f"roaming.prices[{j}]"
        p = r.mapping(praw, what)
        r.keys(p, what, ("countries",), p_keys)
        prices.append(
            RoamingPrice(
                r.countries(p["countries"], what), **{k: r.opt_money(p, k, what) for k in p_keys}
            )
        )
    packages: list[DataPackage] = []
    for j, kraw in enumerate(roaming.get("data_packages") or []):
        what = f"roaming.data_packages[{j}]"
        k = r.mapping(kraw, what)
        r.keys(k, what, ("name", "volume_gb", "price"), ("countries",))
        volume = r.money(k, "volume_gb", what)
        if volume <= 0:
            raise r.fail(f"{what}.volume_gb must be > 0")
        packages.append(
            DataPackage(
                r.text(k, "name"),
                volume,
                r.money(k, "price", what),
                r.countries(k.get("countries", ["*"]), what),
            )
        )

    c_raw = r.mapping(m.get("charging") or {}, "charging")
    c_keys = (
        "voice_mo_initial_s",
        "voice_mo_increment_s",
        "voice_mt_initial_s",
        "voice_mt_increment_s",
        "data_increment_kb",
    )
    r.keys(c_raw, "charging", (), c_keys)
    defaults = Charging()
    charging = Charging(
        **{k: r.integer(c_raw, k, getattr(defaults, k), "charging") for k in c_keys}
    )

    sms = m["sms_allowance"]
    sms_allowance: int | None
    if sms == UNLIMITED:
        sms_allowance = None
    elif isinstance(sms, int) and not isinstance(sms, bool) and sms >= 0:
        sms_allowance = sms
    elif isinstance(sms, str) and sms.isdigit():
        sms_allowance = int(sms)
    else:
        raise r.fail(f"sms_allowance must be a whole number or 'unlimited', found {sms!r}")
    if sms_allowance is not None and sms_allowance > MAX_COUNT:
        raise r.fail(
            f"plan.sms_allowance must be a whole number from 0 to {MAX_COUNT:,} or 'unlimited', "
            f"found {sms!r}"
        )

    decimals = m.get("min_roaming_data_decimals")
    if decimals is not None and (
        isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 9
    ):
        raise r.fail("min_roaming_data_decimals must be a whole number from 0 to 9")

    return Plan(
        id=plan_id,
        name=r.text(m, "name", default=""),
        operator=r.text(m, "operator", default=""),
        home_country=home.upper(),
        currency=currency.upper(),
        price=r.money(m, "price", "plan"),
        price_includes_vat=r.boolean(m, "price_includes_vat", False)
        if "price_includes_vat" in m
        else False,
        vat_rate=vat_rate,
        billing_period=period,
        period_anchor=anchor,
        out_of_bundle=oob,
        data_allowance_gb=r.allowance(m, "data_allowance_gb"),
        voice_allowance_min=r.allowance(m, "voice_allowance_min"),
        sms_allowance=sms_allowance,
        surcharges=surcharges,
        roaming_prices=tuple(prices),
        data_packages=tuple(packages),
        roaming_data_allowance_gb=r.opt_money(roaming, "roaming_data_allowance_gb", "roaming"),
        binary_units=r.boolean(m, "binary_units", False),
        prepaid_credit=r.opt_money(m, "prepaid_credit", "plan"),
        charging=charging,
        billshock_limit_eur=r.opt_money(m, "billshock_limit_eur", "plan"),
        billshock_alert_pct=_alert_pct(r, m),
        billshock_continue=r.boolean(m, "billshock_continue", False),
        is_m2m=r.boolean(m, "is_m2m", False),
        eu_wb_signatory=r.boolean(m, "eu_wb_signatory", False),
        min_roaming_data_decimals=decimals,
        notes=r.text(m, "notes", default=""),
    )


def _alert_pct(r: _PlanReader, m: Mapping[str, Any]) -> int | None:
    value = m.get("billshock_alert_pct")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise r.fail(f"billshock_alert_pct must be a whole percentage 1-100, found {value!r}")
    return value


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_plans_text(path: Path) -> tuple[str, str]:
    """The text of a plans file (universal newlines) and its format, ``"yaml"`` or ``"json"``
    by the file's extension: what :func:`load_plans` parses.

    Raises
    ------
    TariffError
        Another extension, an unreadable file, or text that is not UTF-8.
    """
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise TariffError(f"unknown plan file type {suffix!r}: expected .yaml, .yml or .json", path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TariffError(f"cannot read file: {exc.strerror}", path) from exc
    except UnicodeDecodeError as exc:
        raise TariffError(
            f"not UTF-8 text (byte {exc.start}): save the file as UTF-8", path
        ) from exc
    return text, "json" if suffix == ".json" else "yaml"


def _parse_document(text: str, fmt: str, path: Path) -> Any:
    if fmt == "yaml":
        try:
            return load_strict_text(text, path, allow_aliases=False)
        except ParameterFileError as exc:
            raise TariffError(
                exc.detail + (f" (line {exc.line})" if exc.line else ""), path
            ) from exc
    try:
        # JSON numbers become Decimal, never float, and are then refused as unquoted amounts
        return json.loads(text, object_pairs_hook=_json_pairs, parse_float=Decimal)
    except ValueError as exc:
        raise TariffError(f"invalid JSON: {exc}", path) from exc


def _plans_of(doc: Any, path: Path) -> dict[str, Plan]:
    if not isinstance(doc, Mapping) or set(doc) != {"plans"}:
        raise TariffError("a plans file is a mapping with one key, 'plans', holding a list", path)
    items = doc["plans"]
    if not isinstance(items, list) or not items:
        raise TariffError("'plans' must be a non-empty list", path)
    plans: dict[str, Plan] = {}
    for i, raw in enumerate(items):
        plan = parse_plan(raw, path, i)
        if plan.id in plans:
            raise TariffError("duplicate plan id", path, plan.id)
        plans[plan.id] = plan
    return plans


def parse_plans(text: str, fmt: str, source: str = "<plans>") -> dict[str, Plan]:
    """Parse the text of a plans file (``fmt`` ``"yaml"`` or ``"json"``) into plans by id.

    The same strict validation as :func:`load_plans`; ``source`` names the text in messages
    (an upload's name, say), which give the line for YAML errors.

    Raises
    ------
    TariffError
        The text is not a valid plans document.
    """
    if fmt not in ("yaml", "json"):
        raise TariffError(f"unknown plans format {fmt!r}: expected yaml or json", source)
    path = Path(source)
    return _plans_of(_parse_document(text, fmt, path), path)


def load_plans(path: Path | str) -> dict[str, Plan]:
    """Read a plans file (YAML or JSON) into plans by id.

    Raises
    ------
    TariffError
        The file is unreadable or any plan is invalid; the message names the file and plan.
    """
    path = Path(path)
    text, fmt = read_plans_text(path)
    return _plans_of(_parse_document(text, fmt, path), path)
