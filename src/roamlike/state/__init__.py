"""Durable state shared by batch rating and the service: SQLite (embedded default) or PostgreSQL.

::

    from roamlike.state import open_store, migrate

    with open_store("state.db") as store:          # or "postgresql://user@host:5432/db"
        migrate(store)                              # forward-only, per component
        with store.transaction() as tx:             # committed at the end of the block
            tx.execute("SELECT count(*) FROM state_runs")

See :mod:`roamlike.state.store` (connections, transactions, error translation) and
:mod:`roamlike.state.migrations` (schema versions per component).

The names below are imported when first used, not with this package (a command that needs one
module of it does not load the others).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roamlike.state.migrations import (
        COMPONENT_MODULES,
        Migration,
        migrate,
        register_migration,
        registered,
        require_current,
        status,
    )
    from roamlike.state.store import Store, Transaction, is_postgres_url, open_store, redact

#: Where each public name lives.
_HOMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "COMPONENT_MODULES",
            "Migration",
            "migrate",
            "register_migration",
            "registered",
            "require_current",
            "status",
        ),
        "roamlike.state.migrations",
    ),
    **dict.fromkeys(
        ("Store", "Transaction", "is_postgres_url", "open_store", "redact"),
        "roamlike.state.store",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "COMPONENT_MODULES",
    "Migration",
    "Store",
    "Transaction",
    "is_postgres_url",
    "migrate",
    "open_store",
    "redact",
    "register_migration",
    "registered",
    "require_current",
    "status",
]
