"""The tables of the ``state`` component: the run ledger (more in later versions).

Forward-only: never edit a registered step, add the next version. All times are UTC text
(ISO 8601); all amounts integers; ``tenant`` is ``''`` for batch runs without a tenant, so the
service can keep its tenants' state in the same tables.
"""

from __future__ import annotations

from roamlike.state.migrations import register_migration

COMPONENT = "state"

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
