"""Tenants, API keys and versioned plans in the state store (component ``service``).

An API key is ``rlk_<key id>_<secret>``: 8 hex digits that name the key (shown by
``tenants list``, used by ``tenants revoke``) and 32 random bytes. Only the key's SHA-256 is
stored; a key of 256 random bits needs no slow hash, since it cannot be guessed from its digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from roamlike.errors import StoreConflictError, StoreError
from roamlike.service.runtime import read_once, reading
from roamlike.state import Store, Transaction
from roamlike.tariffs import FxTable, Plan, parse_plans

_KEY = re.compile(r"^rlk_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def now_utc() -> str:
    """The current UTC time as ISO 8601 text (seconds, ``+00:00``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def key_hash(key: str) -> str:
    """The stored digest of an API key (hex SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Tenant:
    """A tenant (an operator): its id and name."""

    tenant_id: str
    name: str


def add_tenant(store: Store, name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; return (tenant, key). The key is shown once.

    Raises
    ------
    StoreError
        The name is not 1-64 letters, digits, ``_ . -``, or the tenant exists already.
    """
    if not _NAME.match(name):
        raise StoreError(
            f"tenant name {name!r}: expected 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    tenant = Tenant(tenant_id=secrets.token_hex(8), name=name)
    try:
        with store.transaction() as tx:
            tx.execute(
                "INSERT INTO service_tenants (tenant_id, name, created_at) VALUES (?, ?, ?)",
                (tenant.tenant_id, name, now_utc()),
            )
            key = _issue(tx, tenant.tenant_id)
    except StoreConflictError:
        raise StoreError(f"a tenant named {name!r} exists already") from None
    return tenant, key


def _issue(tx: Transaction, tenant_id: str) -> str:
    key_id = secrets.token_hex(4)
    key = f"rlk_{key_id}_{secrets.token_urlsafe(32)}"
    tx.execute(
        "INSERT INTO service_keys (key_hash, key_id, tenant_id, created_at) VALUES (?, ?, ?, ?)",
        (key_hash(key), key_id, tenant_id, now_utc()),
    )
    return key


def tenant_by_name(tx: Transaction, name: str) -> Tenant:
    """The tenant named ``name``.

    Raises
    ------
    StoreError
        No such tenant.
    """
    rows = tx.execute("SELECT tenant_id, name FROM service_tenants WHERE name = ?", (name,))
    if not rows:
        raise StoreError(f"no tenant named {name!r}: list them with `roamlike tenants list`")
    return Tenant(str(rows[0][0]), str(rows[0][1]))


def issue_key(store: Store, name: str) -> str:
    """A new API key for the tenant ``name`` (its other keys stay valid)."""
    with store.transaction() as tx:
        return _issue(tx, tenant_by_name(tx, name).tenant_id)


def revoke_key(store: Store, key_id: str) -> Tenant:
    """Revoke the key ``key_id`` (the 8 hex digits after ``rlk_``); return its tenant.

    Raises
    ------
    StoreError
        No such key, or it is revoked already.
    """
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT t.tenant_id, t.name, k.revoked_at FROM service_keys k "
            "JOIN service_tenants t ON t.tenant_id = k.tenant_id WHERE k.key_id = ?",
            (key_id,),
        )
        if not rows:
            raise StoreError(f"no API key with id {key_id!r}: see `roamlike tenants list`")
        if rows[0][2] is not None:
            raise StoreError(f"API key {key_id} was revoked already on {rows[0][2]}")
        tx.execute("UPDATE service_keys SET revoked_at = ? WHERE key_id = ?", (now_utc(), key_id))
    return Tenant(str(rows[0][0]), str(rows[0][1]))


def list_tenants(store: Store) -> list[dict[str, object]]:
    """Every tenant with its keys' ids and states (never a key or its hash)."""
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT t.name, t.tenant_id, t.created_at, k.key_id, k.created_at, k.revoked_at "
            "FROM service_tenants t LEFT JOIN service_keys k ON k.tenant_id = t.tenant_id "
            "ORDER BY t.name, k.created_at"
        )
    out: dict[str, dict[str, object]] = {}
    for name, tid, created, key_id, key_created, revoked in rows:
        entry = out.setdefault(
            str(name), {"name": name, "tenant_id": tid, "created_at": created, "keys": []}
        )
        if key_id is not None:
            keys = entry["keys"]
            assert isinstance(keys, list)
            keys.append({"key_id": key_id, "created_at": key_created, "revoked_at": revoked})
    return list(out.values())


@dataclass(frozen=True)
class KeyContext:
    """What a request with a valid key needs to know first: its tenant and what changed."""

    tenant: Tenant
    plans_version: int  # the tenant's latest plans version (0: none)
    fx_sha256: str | None  # the SHA-256 of its own exchange rates (None: the server's)


def context_for_key(store: Store, key: str) -> KeyContext | None:
    """The tenant of a valid (well-formed, known, not revoked) key, its latest plans version
    and the digest of its exchange rates, in one read; None for any other key."""
    if not _KEY.match(key):
        return None
    rows = read_once(
        store,
        "SELECT t.tenant_id, t.name, (SELECT max(p.version) FROM service_plans p "
        "WHERE p.tenant_id = t.tenant_id), (SELECT f.sha256 FROM service_fx f "
        "WHERE f.tenant_id = t.tenant_id) FROM service_keys k JOIN service_tenants t "
        "ON t.tenant_id = k.tenant_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        (key_hash(key),),
    )
    if not rows:
        return None
    tid, name, version, sha = rows[0]
    return KeyContext(
        Tenant(str(tid), str(name)), 0 if version is None else int(version), sha and str(sha)
    )


def tenant_for_key(store: Store, key: str) -> Tenant | None:
    """The tenant of a valid (well-formed, known, not revoked) key, else None."""
    found = context_for_key(store, key)
    return None if found is None else found.tenant


@dataclass(frozen=True)
class PlanVersion:
    """One upload of a tenant's plans: in force from ``valid_from`` until the next version."""

    version: int
    valid_from: str
    uploaded_at: str
    sha256: str
    plans: dict[str, Plan]


def put_plans(
    store: Store, tenant_id: str, text: str, fmt: str, valid_from: str | None = None
) -> PlanVersion:
    """Validate and store a new version of the tenant's plans.

    Parameters
    ----------
    text, fmt : str
        The plans file's text and format (``yaml`` or ``json``).
    valid_from : str, optional
        UTC ISO 8601 time from which the version rates events (default: now); not before the
        previous version's.

    Raises
    ------
    TariffError
        The plans are invalid (the message names the line for YAML).
    StoreError
        ``valid_from`` is before the latest version's.
    """
    plans = parse_plans(text, fmt, f"upload.{fmt}")
    uploaded = now_utc()
    start = valid_from or uploaded
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT version, valid_from FROM service_plans WHERE tenant_id = ? "
            "ORDER BY version DESC LIMIT 1",
            (tenant_id,),
        )
        version = int(rows[0][0]) + 1 if rows else 1
        if rows and str(rows[0][1]) > start:
            raise StoreConflictError(
                f"plans version {version} would start at {start}, before version "
                f"{version - 1} ({rows[0][1]}): versions start in upload order"
            )
        tx.execute(
            "INSERT INTO service_plans (tenant_id, version, valid_from, uploaded_at, format, "
            "sha256, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tenant_id, version, start, uploaded, fmt, digest, text),
        )
    return PlanVersion(version, start, uploaded, digest, plans)


def plan_versions(store: Store, tenant_id: str) -> list[PlanVersion]:
    """Every stored version of the tenant's plans, oldest first."""
    with reading(store) as tx:
        rows = tx.execute(
            "SELECT version, valid_from, uploaded_at, sha256, format, body FROM service_plans "
            "WHERE tenant_id = ? ORDER BY version",
            (tenant_id,),
        )
    return [
        PlanVersion(int(v), str(f), str(u), str(h), parse_plans(str(b), str(fmt), "stored plans"))
        for v, f, u, h, fmt, b in rows
    ]


def put_fx(store: Store, tenant_id: str, text: str) -> tuple[FxTable, str]:
    """Validate and store the tenant's exchange rates (the CSV of ``rate --fx``); replaces any.

    Returns the table and the text's SHA-256.

    Raises
    ------
    FxError
        The CSV is invalid (the message names the line).
    """
    table = FxTable.from_csv_text(text, "upload.csv")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO service_fx (tenant_id, uploaded_at, sha256, csv) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id) DO UPDATE SET uploaded_at = excluded.uploaded_at, "
            "sha256 = excluded.sha256, csv = excluded.csv",
            (tenant_id, now_utc(), digest, text),
        )
    return table, digest


def tenant_fx(store: Store, tenant_id: str) -> tuple[str, FxTable] | None:
    """(SHA-256, table) of the tenant's exchange rates, or None when it uploaded none."""
    with reading(store) as tx:
        rows = tx.execute("SELECT sha256, csv FROM service_fx WHERE tenant_id = ?", (tenant_id,))
    if not rows:
        return None
    return str(rows[0][0]), FxTable.from_csv_text(str(rows[0][1]), "stored rates")
