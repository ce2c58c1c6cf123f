"""The tables of the ``service`` component of the state store.

Forward-only: never edit a registered step, add the next version. Times are UTC ISO 8601 text.
Every row belongs to a tenant and every query of the service names it, so a tenant never sees
another's rows (isolation is tested with guessed ids).
"""

from __future__ import annotations

from roamlike.state.migrations import register_migration

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
    "the engine's counters (docs/rating.md §9) of each tenant's subscribers, as the service "
    "rates events",
    [
        """
        CREATE TABLE service_counter_periods (
            tenant_id TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            plan_id TEXT NOT NULL,
            period_start TEXT NOT NULL,
            voice_used_s BIGINT NOT NULL,
            sms_used BIGINT NOT NULL,
            data_used_bytes BIGINT NOT NULL,
            fup_used_bytes BIGINT NOT NULL,
            billshock_spend_micros BIGINT NOT NULL,
            has_billshock_80 INTEGER NOT NULL,
            has_billshock_100 INTEGER NOT NULL,
            has_billshock_extra INTEGER NOT NULL,
            has_fup_exhausted INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, subscriber_id, plan_id, period_start)
        )
        """,
        """
        CREATE TABLE service_counter_subscribers (
            tenant_id TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            last_visited_country TEXT,
            last_started_at TEXT,
            last_record_id TEXT,
            PRIMARY KEY (tenant_id, subscriber_id)
        )
        """,
    ],
)

register_migration(
    COMPONENT,
    3,
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
