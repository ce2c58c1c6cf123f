"""Durable state shared by batch rating and the service: SQLite (embedded default) or PostgreSQL.

::

    from roamlike.state import open_store, migrate

    with open_store("state.db") as store:          # or "postgresql://user@host:5432/db"
        migrate(store)                              # forward-only, per component
        with store.transaction() as tx:             # committed at the end of the block
            tx.execute("SELECT count(*) FROM state_runs")

See :mod:`roamlike.state.store` (connections, transactions, error translation) and
:mod:`roamlike.state.migrations` (schema versions per component).
"""

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
