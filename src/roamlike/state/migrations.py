"""Forward-only schema migrations, numbered per component.

Each component of roamlike that keeps tables in the store (``state`` for the batch counters and
run ledger; ``service`` for the HTTP service's tenants, keys, plans, sessions and events) numbers
its own migrations 1, 2, 3… and registers them with :func:`register_migration` when its schema
module is imported. The table ``roamlike_schema_version`` records, per (component, version), what
was applied, when, and a checksum of its SQL: a migration already applied may never change (add
a new version instead), and a store written by a newer roamlike is refused, never downgraded.

The modules holding the components' migrations are listed in :data:`COMPONENT_MODULES`; a new
component adds its module there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from roamlike.errors import StoreError
from roamlike.state.store import Store, Transaction

#: Modules whose import registers a component's migrations (a new component adds its own).
COMPONENT_MODULES: tuple[str, ...] = ("roamlike.state.schema", "roamlike.service.schema")

VERSION_TABLE = "roamlike_schema_version"

_VERSION_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (component, version)
)"""

#: Advisory-lock key that serialises migrations on PostgreSQL (SQLite's BEGIN IMMEDIATE does).
_PG_LOCK_KEY = 0x726C_6D67  # "rlmg"


@dataclass(frozen=True)
class Migration:
    """One schema step of one component.

    Attributes
    ----------
    component : str
        Owner of the tables (``state``, ``service``…).
    version : int
        1, 2, 3… within the component, applied in order.
    description : str
        What the step does, recorded in the version table.
    statements : Mapping[str, Sequence[str]]
        SQL statements per dialect (``sqlite``, ``postgresql``).
    """

    component: str
    version: int
    description: str
    statements: Mapping[str, Sequence[str]]

    @property
    def checksum(self) -> str:
        """sha256 of the SQL of both dialects: an applied migration must never change."""
        h = hashlib.sha256()
        for dialect in sorted(self.statements):
            for statement in self.statements[dialect]:
                h.update(dialect.encode() + b"\0" + " ".join(statement.split()).encode() + b"\0")
        return h.hexdigest()


_REGISTRY: dict[str, dict[int, Migration]] = {}


def register_migration(
    component: str,
    version: int,
    description: str,
    sql: Sequence[str] | Mapping[str, Sequence[str]],
) -> Migration:
    """Register a component's migration; ``sql`` is common to both dialects or given per dialect.

    Raises
    ------
    StoreError
        The version is not the next of the component, or lacks SQL for a dialect.
    """
    if isinstance(sql, Mapping):
        statements = {d: tuple(sql[d]) for d in sql}
    else:
        statements = {"sqlite": tuple(sql), "postgresql": tuple(sql)}
    if set(statements) != {"sqlite", "postgresql"}:
        raise StoreError(f"migration {component} {version}: SQL needed for sqlite and postgresql")
    known = _REGISTRY.setdefault(component, {})
    migration = Migration(component, version, description, statements)
    if version in known:
        if known[version] == migration:  # a module imported twice registers the same step
            return migration
        raise StoreError(f"migration {component} {version} registered twice with different SQL")
    if version != len(known) + 1:
        raise StoreError(
            f"migration {component} {version}: versions go 1, 2, 3…; next is {len(known) + 1}"
        )
    known[version] = migration
    return migration


#: The module of a component's migrations, when a command needs only that component's (the
#: batch commands check the ``state`` schema without importing the HTTP service).
_MODULE_OF = {"state": "roamlike.state.schema"}


def load_components(components: Sequence[str] | None = None) -> None:
    """Import every module of :data:`COMPONENT_MODULES` so their migrations are registered
    (only those of ``components``, when each has a known module)."""
    if components is not None and all(c in _MODULE_OF for c in components):
        for component in components:
            importlib.import_module(_MODULE_OF[component])
        return
    for module in COMPONENT_MODULES:
        importlib.import_module(module)


def registered(component: str | None = None) -> list[Migration]:
    """Registered migrations (of one component, or all), in (component, version) order."""
    load_components()
    comps = [component] if component is not None else sorted(_REGISTRY)
    return [m for c in comps for _, m in sorted(_REGISTRY.get(c, {}).items())]


def _applied(tx: Transaction) -> dict[tuple[str, int], str]:
    tx.execute(_VERSION_TABLE_SQL)
    rows = tx.execute(f"SELECT component, version, checksum FROM {VERSION_TABLE}")
    return {(str(c), int(v)): str(s) for c, v, s in rows}


def _check(applied: Mapping[tuple[str, int], str], store: Store) -> None:
    for (component, version), checksum in sorted(applied.items()):
        known = _REGISTRY.get(component, {})
        if component in _REGISTRY and version > len(known):
            raise StoreError(
                f"store {store.name}: component {component!r} is at schema version {version}, "
                f"newer than this roamlike knows ({len(known)}); upgrade roamlike"
            )
        if version in known and known[version].checksum != checksum:
            raise StoreError(
                f"store {store.name}: migration {component} {version} differs from the one applied "
                "(migrations are forward-only: add a new version, never edit an applied one)"
            )


def status(store: Store, components: Sequence[str] | None = None) -> dict[str, tuple[int, int]]:
    """Per component: (version in the store, latest version this roamlike knows); every
    registered component, or at least ``components``."""
    load_components(components)
    with store.transaction() as tx:
        applied = _applied(tx)
    _check(applied, store)
    out: dict[str, tuple[int, int]] = {}
    for component, known in sorted(_REGISTRY.items()):
        current = max((v for c, v in applied if c == component), default=0)
        out[component] = (current, len(known))
    return out


def migrate(store: Store, components: Sequence[str] | None = None) -> list[Migration]:
    """Apply, in order, every registered migration the store lacks; return those applied.

    Each step runs in its own transaction together with its version row, so a step is applied
    whole or not at all; concurrent migrators wait for each other (PostgreSQL advisory lock,
    SQLite write lock).

    Raises
    ------
    StoreError
        The store is newer than this roamlike, an applied step was edited, or a step fails.
    """
    load_components()
    done: list[Migration] = []
    for migration in registered():
        if components is not None and migration.component not in components:
            continue
        with store.transaction() as tx:
            if tx.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK_KEY,))
            applied = _applied(tx)
            _check(applied, store)
            if (migration.component, migration.version) in applied:
                continue
            for statement in migration.statements[tx.dialect]:
                tx.execute(statement)
            tx.execute(
                f"INSERT INTO {VERSION_TABLE} "
                "(component, version, description, checksum, applied_at) VALUES (?, ?, ?, ?, ?)",
                (
                    migration.component,
                    migration.version,
                    migration.description,
                    migration.checksum,
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                ),
            )
        done.append(migration)
    return done


def require_current(store: Store, components: Sequence[str] = ("state",)) -> None:
    """Raise unless each component's schema in the store is the latest this roamlike knows.

    Raises
    ------
    StoreError
        With the command that brings the store up to date.
    """
    for component, (current, latest) in status(store, components).items():
        if component not in components or current == latest:
            continue
        hint = "init" if current == 0 else "migrate"
        raise StoreError(
            f"store {store.name}: component {component!r} is at schema version {current}, this "
            f"roamlike needs {latest}: run `roamlike state {hint} --state STORE`"
        )


def dialect_sql(sqlite: Sequence[str], postgresql: Sequence[str]) -> dict[str, Sequence[str]]:
    """SQL given per dialect, for :func:`register_migration`."""
    return {"sqlite": sqlite, "postgresql": postgresql}
