"""The tables of the ``service`` component of the state store.

Forward-only: never edit a registered step, add the next version. Times are UTC ISO 8601 text.
The engine's counters and the days' presence of a tenant's subscribers are not here: they live in
the state store's own tables (``roamlike.state``) under the tenant, shared with
``roamlike rate --state`` and ``roamlike state show``.
Every row belongs to a tenant and every query of the service names it, so a tenant never sees
another's rows (isolation is tested with guessed ids).
"""

from __future__ import annotations

from roamlike.state.migrations import dialect_sql, register_migration

COMPONENT = "service"

register_migration(
    COMPONENT,
    1,
    "tenants, API key hashes, versioned plans, event idempotency, credit-control sessions",
    [
        """
        CREATE TABLE service_tenants (
            tenant_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE service_keys (
            key_hash TEXT PRIMARY KEY,
            key_id TEXT NOT NULL UNIQUE,
            tenant_id TEXT NOT NULL REFERENCES service_tenants (tenant_id),
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
        """
        CREATE TABLE service_plans (
            tenant_id TEXT NOT NULL REFERENCES service_tenants (tenant_id),
            version INTEGER NOT NULL,
            valid_from TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            format TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (tenant_id, version)
        )
        """,
        """
        CREATE TABLE service_events (
            tenant_id TEXT NOT NULL,
            record_id TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            answer_json TEXT NOT NULL,
            PRIMARY KEY (tenant_id, record_id)
        )
        """,
        "CREATE INDEX service_events_subscriber ON service_events (tenant_id, subscriber_id)",
        """
        CREATE TABLE service_sessions (
            tenant_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            state TEXT NOT NULL,
            request_json TEXT NOT NULL,
            granted_units BIGINT NOT NULL,
            used_units BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, session_id)
        )
        """,
        """
        CREATE TABLE service_session_requests (
            tenant_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            request_number BIGINT NOT NULL,
            answer_json TEXT NOT NULL,
            PRIMARY KEY (tenant_id, session_id, request_number)
        )
        """,
    ],
)

register_migration(
    COMPONENT,
    2,
    "each tenant's exchange rates (PUT /v1/fx), used for its events, sessions and stored plans",
    [
        """
        CREATE TABLE service_fx (
            tenant_id TEXT PRIMARY KEY,
            uploaded_at TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            csv TEXT NOT NULL
        )
        """
    ],
)

register_migration(
    COMPONENT,
    3,
    "an index of sessions by subscriber: a grant subtracts the subscriber's other open sessions",
    [
        "CREATE INDEX service_sessions_subscriber ON service_sessions "
        "(tenant_id, subscriber_id, state)"
    ],
)


def _written_keys(blob: str) -> str:
    return f"""
        CREATE TABLE service_written_keys (
            tenant_id TEXT NOT NULL,
            first_seq BIGINT NOT NULL,
            last_seq BIGINT NOT NULL,
            subscribers {blob} NOT NULL,
            PRIMARY KEY (tenant_id, last_seq)
        )
        """


register_migration(
    COMPONENT,
    4,
    "a row per commit group: the tenant's log sequence numbers it took and the subscribers "
    "whose counters it wrote (roamlike.service.written_keys)",
    dialect_sql([_written_keys("BLOB")], [_written_keys("BYTEA")]),
)


def _written_states(blob: str) -> str:
    return f"""
        CREATE TABLE service_written_states (
            tenant_id TEXT NOT NULL,
            last_seq BIGINT NOT NULL,
            states {blob} NOT NULL,
            PRIMARY KEY (tenant_id, last_seq)
        )
        """


register_migration(
    COMPONENT,
    5,
    "the counters a large commit group leaves, next to its written keys' row: the other "
    "process's kept counters are brought forward to them (roamlike.service.written_states)",
    dialect_sql([_written_states("BLOB")], [_written_states("BYTEA")]),
)

#: The version of the answers' index by subscriber written in slices (a constant: the number
#: a migration takes is the next of the component's).
EVENTS_BY_SUBSCRIBER_VERSION = 6

register_migration(
    COMPONENT,
    EVENTS_BY_SUBSCRIBER_VERSION,
    "SQLite: the answers' index by subscriber replaced by a table filled in slices up to a "
    "bound, the events above it read from the table's rowid range "
    "(roamlike.service.events_index); PostgreSQL keeps the index",
    dialect_sql(
        [
            """
            CREATE TABLE service_events_by_subscriber (
                tenant_id TEXT NOT NULL,
                subscriber_id TEXT NOT NULL,
                event_rowid INTEGER NOT NULL,
                PRIMARY KEY (tenant_id, subscriber_id, event_rowid)
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE service_events_folded (
                one INTEGER PRIMARY KEY CHECK (one = 1),
                through INTEGER NOT NULL
            )
            """,
            "INSERT INTO service_events_by_subscriber (tenant_id, subscriber_id, event_rowid) "
            "SELECT tenant_id, subscriber_id, rowid FROM service_events "
            "ORDER BY tenant_id, subscriber_id, rowid",
            "INSERT INTO service_events_folded (one, through) "
            "SELECT 1, coalesce(max(rowid), 0) FROM service_events",
            "DROP INDEX service_events_subscriber",
        ],
        [],
    ),
)
