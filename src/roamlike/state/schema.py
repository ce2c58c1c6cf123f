"""The tables of the ``state`` component: run ledger, presence per day, control findings, counters.

Forward-only: never edit a registered step, add the next version. All times are UTC text
(ISO 8601); all amounts integers; ``tenant`` is ``''`` for batch runs without a tenant, so the
service can keep its tenants' state in the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from roamlike.state.migrations import dialect_sql, register_migration

COMPONENT = "state"


def _clustered(statements: Sequence[str]) -> dict[str, Sequence[str]]:
    """The same tables on both back ends; on SQLite stored by their primary key (``WITHOUT
    ROWID``: one B-tree per table instead of a row table plus a key index, so a batch's upserts
    and lookups touch half the pages)."""
    sqlite = [
        f"{sql.rstrip()} WITHOUT ROWID" if sql.lstrip().startswith("CREATE TABLE") else sql
        for sql in statements
    ]
    return dialect_sql(sqlite, list(statements))


register_migration(
    COMPONENT,
    1,
    "run ledger: one row per rated input, with its fingerprint, counts and output checksums",
    [
        """
        CREATE TABLE state_runs (
            run_id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL DEFAULT '',
            input_name TEXT NOT NULL,
            input_sha256 TEXT NOT NULL,
            input_bytes BIGINT NOT NULL,
            input_rows BIGINT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            rated BIGINT NOT NULL,
            rejected BIGINT NOT NULL,
            late BIGINT NOT NULL,
            notifications BIGINT NOT NULL,
            outputs_json TEXT NOT NULL,
            options_json TEXT NOT NULL
        )
        """,
        "CREATE UNIQUE INDEX state_runs_input ON state_runs (tenant, input_sha256)",
    ],
)

register_migration(
    COMPONENT,
    2,
    "presence and consumption per subscriber and local day; permanent-roaming control findings",
    _clustered(
        [
            """
        CREATE TABLE state_days (
            tenant TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            day TEXT NOT NULL,
            home_country TEXT NOT NULL,
            home_events BIGINT NOT NULL,
            home_data_bytes BIGINT NOT NULL,
            home_voice_s BIGINT NOT NULL,
            home_sms BIGINT NOT NULL,
            rlah_regime TEXT NOT NULL,
            rlah_events BIGINT NOT NULL,
            rlah_data_bytes BIGINT NOT NULL,
            rlah_voice_s BIGINT NOT NULL,
            rlah_sms BIGINT NOT NULL,
            PRIMARY KEY (tenant, subscriber_id, day)
        )
        """,
            """
        CREATE TABLE state_control (
            tenant TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            warned_on TEXT NOT NULL,
            surcharge_from TEXT NOT NULL,
            cleared_on TEXT,
            regime TEXT NOT NULL,
            evidence_json TEXT NOT NULL,
            PRIMARY KEY (tenant, subscriber_id, warned_on)
        )
        """,
        ]
    ),
)

register_migration(
    COMPONENT,
    3,
    "counters between runs: per (subscriber, plan, period) and per subscriber; record ids seen",
    _clustered(
        [
            """
        CREATE TABLE state_periods (
            tenant TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            plan_id TEXT NOT NULL,
            period_start TEXT NOT NULL,
            voice_used_s BIGINT NOT NULL,
            sms_used BIGINT NOT NULL,
            data_used_bytes BIGINT NOT NULL,
            fup_used_bytes BIGINT NOT NULL,
            billshock_spend_micros BIGINT NOT NULL,
            has_billshock_80 SMALLINT NOT NULL,
            has_billshock_100 SMALLINT NOT NULL,
            has_billshock_extra SMALLINT NOT NULL,
            has_fup_exhausted SMALLINT NOT NULL,
            PRIMARY KEY (tenant, subscriber_id, plan_id, period_start)
        )
        """,
            """
        CREATE TABLE state_subscribers (
            tenant TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            last_visited_country TEXT,
            last_started_at_us BIGINT,
            last_record_id TEXT,
            PRIMARY KEY (tenant, subscriber_id)
        )
        """,
            """
        CREATE TABLE state_records (
            tenant TEXT NOT NULL,
            record_id TEXT NOT NULL,
            PRIMARY KEY (tenant, record_id)
        )
        """,
        ]
    ),
)

register_migration(
    COMPONENT,
    4,
    "prunes: per tenant, the day before which presence days and closed periods were dropped",
    [
        """
        CREATE TABLE state_pruned (
            tenant TEXT PRIMARY KEY,
            before_day TEXT NOT NULL,
            pruned_at TEXT NOT NULL
        )
        """,
    ],
)
