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

#: Columns of the counter tables after their key, in table order (migration 3).
PERIOD_VALUES: tuple[str, ...] = (
    "voice_used_s",
    "sms_used",
    "data_used_bytes",
    "fup_used_bytes",
    "billshock_spend_micros",
    "has_billshock_80",
    "has_billshock_100",
    "has_billshock_extra",
    "has_fup_exhausted",
)
SUBSCRIBER_VALUES: tuple[str, ...] = (
    "last_visited_country",
    "last_started_at_us",
    "last_record_id",
)
#: Columns of ``state_days`` after its key (migration 2): ``home_country`` and ``rlah_regime`` are
#: the latest; the others add up.
DAY_VALUES: tuple[str, ...] = (
    "home_country",
    "home_events",
    "home_data_bytes",
    "home_voice_s",
    "home_sms",
    "rlah_regime",
    "rlah_events",
    "rlah_data_bytes",
    "rlah_voice_s",
    "rlah_sms",
)
#: Logged tables: base table -> its key (the log's key is the same plus ``seq``).
LOGGED: dict[str, tuple[str, ...]] = {
    "state_periods": ("tenant", "subscriber_id", "plan_id", "period_start"),
    "state_subscribers": ("tenant", "subscriber_id"),
    "state_days": ("tenant", "subscriber_id", "day"),
}
_VALUES = {
    "state_periods": PERIOD_VALUES,
    "state_subscribers": SUBSCRIBER_VALUES,
    "state_days": DAY_VALUES,
}
_TYPES = {
    "subscriber_id": "TEXT NOT NULL",
    "plan_id": "TEXT NOT NULL",
    "period_start": "TEXT NOT NULL",
    "day": "TEXT NOT NULL",
    "last_visited_country": "TEXT",
    "last_started_at_us": "BIGINT",
    "last_record_id": "TEXT",
    "home_country": "TEXT NOT NULL",
    "rlah_regime": "TEXT NOT NULL",
    **{c: "SMALLINT NOT NULL" for c in PERIOD_VALUES if c.startswith("has_")},
}


def columns(table: str) -> tuple[str, ...]:
    """Every column of a logged base table, in table order (``tenant`` first)."""
    return (*LOGGED[table], *_VALUES[table])


def _log_table(table: str) -> str:
    cols = ",\n            ".join(
        f"{c} {_TYPES.get(c, 'BIGINT NOT NULL')}" for c in columns(table) if c != "tenant"
    )
    return f"""
        CREATE TABLE {table}_log (
            tenant TEXT NOT NULL,
            seq BIGINT NOT NULL,
            {cols},
            PRIMARY KEY ({", ".join(LOGGED[table])}, seq)
        )"""


def latest_log_rows(table: str, where: str = "") -> str:
    """SELECT of the latest log row of each key of a *latest wins* table (alias ``l``)."""
    later = " AND ".join(f"n.{k} = l.{k}" for k in LOGGED[table])
    condition = f"{where} AND " if where else ""
    return (
        f"SELECT {', '.join(columns(table))} FROM {table}_log l WHERE {condition}"
        f"NOT EXISTS (SELECT 1 FROM {table}_log n WHERE {later} AND n.seq > l.seq)"
    )


def _latest_view(table: str) -> str:
    """The current rows of a table whose log rows replace the stored ones: for each key, the
    log row of the highest ``seq``, else the base row."""
    same = " AND ".join(f"l.{k} = b.{k}" for k in LOGGED[table])
    return f"""
        CREATE VIEW {table}_now AS
        SELECT {", ".join(columns(table))} FROM {table} b
        WHERE NOT EXISTS (SELECT 1 FROM {table}_log l WHERE {same})
        UNION ALL
        {latest_log_rows(table)}"""


#: The day log rows that carry a regime (``rlah_regime`` is empty where none applied).
NOT_EMPTY_REGIME = "l.rlah_regime <> ''"


def merged_days(padded_seq: str, where: str = "") -> str:
    """SELECT of the current ``state_days`` rows of the keys that have log rows: the log rows
    summed with the key's base row; ``home_country`` and ``rlah_regime`` (when not empty) those
    of the latest row (``padded_seq``: ``seq`` as 20-digit text; log rows are newer than base
    rows). ``where`` narrows the log rows (alias ``l``)."""
    same = " AND ".join(f"l.{k} = b.{k}" for k in LOGGED["state_days"])
    home = latest_of(padded_seq, "home_country")
    regime = latest_of(padded_seq, "rlah_regime", NOT_EMPTY_REGIME)

    values = ",\n            ".join(
        f"{home} AS home_country"
        if c == "home_country"
        else f"coalesce({regime}, max(b.rlah_regime), '') AS rlah_regime"
        if c == "rlah_regime"
        else f"CAST(sum(l.{c}) + coalesce(max(b.{c}), 0) AS BIGINT) AS {c}"
        for c in DAY_VALUES
    )
    return f"""SELECT l.tenant, l.subscriber_id, l.day,
            {values}
        FROM state_days_log l LEFT JOIN state_days b ON {same}{f" WHERE {where}" if where else ""}
        GROUP BY l.tenant, l.subscriber_id, l.day"""


def latest_of(seq_text: str, c: str, when: str = "", value_at: int = 21) -> str:
    """SQL of the value of log column ``c`` (alias ``l``) in the key's latest log row (the
    greatest ``seq_text``: ``seq`` as text of ``value_at - 1`` characters, e.g.
    :data:`PADDED_SEQ`'s 20), among the rows ``when`` keeps if given (NULL: none)."""
    text = f"{seq_text} || l.{c}"
    return f"substr(max({f'CASE WHEN {when} THEN {text} END' if when else text}), {value_at})"


def _days_view(padded_seq: str) -> str:
    """The current days: a base row without log rows as it is, else :func:`merged_days`."""
    same = " AND ".join(f"l.{k} = b.{k}" for k in LOGGED["state_days"])
    return f"""
        CREATE VIEW state_days_now AS
        SELECT {", ".join(columns("state_days"))} FROM state_days b
        WHERE NOT EXISTS (SELECT 1 FROM state_days_log l WHERE {same})
        UNION ALL
        {merged_days(padded_seq)}"""


#: ``seq`` as 20-digit text, per dialect (the latest of several texts is their maximum).
PADDED_SEQ = {"sqlite": "printf('%020d', l.seq)", "postgresql": "lpad(l.seq::text, 20, '0')"}


_SEQ_TABLE = """
        CREATE TABLE state_log_seq (
            tenant TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            log_rows BIGINT NOT NULL
        )"""
_VIEWS = [_latest_view("state_periods"), _latest_view("state_subscribers")]
_LOGS = [_log_table(t) for t in LOGGED]

register_migration(
    COMPONENT,
    5,
    "log-structured counters: each write appends rows (tenant, key, seq) to state_periods_log, "
    "state_subscribers_log and state_days_log; the *_now views give base and log together; "
    "`roamlike state compact` folds the logs into the base tables",
    dialect_sql(
        sqlite=[
            *(f"{sql.rstrip()} WITHOUT ROWID" for sql in _LOGS),
            _SEQ_TABLE,
            *_VIEWS,
            _days_view(PADDED_SEQ["sqlite"]),
        ],
        postgresql=[*_LOGS, _SEQ_TABLE, *_VIEWS, _days_view(PADDED_SEQ["postgresql"])],
    ),
)

register_migration(
    COMPONENT,
    6,
    "compaction in slices: an index of each counter log on (tenant, seq), so that a slice finds "
    "the log rows up to a sequence number without reading the whole log; "
    "state_log_seq.folded_seq, the highest sequence number a compaction has folded",
    [
        *(f"CREATE INDEX {table}_log_seq ON {table}_log (tenant, seq)" for table in LOGGED),
        "ALTER TABLE state_log_seq ADD COLUMN folded_seq BIGINT NOT NULL DEFAULT 0",
    ],
)

#: Packed logs (migration 7): one row per write and logged table, its rows packed in one value.
PACKS_TABLE = "state_packs"


def _packs_table(blob: str) -> str:
    return f"""
        CREATE TABLE {PACKS_TABLE} (
            tenant TEXT NOT NULL,
            seq BIGINT NOT NULL,
            table_name TEXT NOT NULL,
            pack_id TEXT NOT NULL,
            rows BIGINT NOT NULL,
            data {blob} NOT NULL,
            PRIMARY KEY (tenant, seq, table_name)
        )"""


register_migration(
    COMPONENT,
    7,
    "packed logs: state_packs holds a write's rows of one counters log packed in one value "
    "(Arrow IPC), keyed by (tenant, seq, table), read with the logs; the (tenant, seq) index of "
    "each log dropped (compaction slices walk the logs by their primary keys)",
    dialect_sql(
        sqlite=[
            *(f"DROP INDEX {table}_log_seq" for table in LOGGED),
            _packs_table("BLOB"),
        ],
        postgresql=[
            *(f"DROP INDEX {table}_log_seq" for table in LOGGED),
            _packs_table("BYTEA"),
        ],
    ),
)

#: Record ids in blocks (migration 8): the sorted distinct record ids of one claim in one value.
RECORD_BLOCKS_TABLE = "state_record_blocks"


def _record_blocks_table(blob: str) -> str:
    return f"""
        CREATE TABLE {RECORD_BLOCKS_TABLE} (
            tenant TEXT NOT NULL,
            last_id TEXT NOT NULL,
            first_id TEXT NOT NULL,
            ids BIGINT NOT NULL,
            data {blob} NOT NULL,
            PRIMARY KEY (tenant, last_id)
        )"""


register_migration(
    COMPONENT,
    8,
    "record-id blocks: state_record_blocks holds the sorted distinct record ids of a claim that "
    "no stored id falls between, packed in one value (Arrow IPC) keyed by (tenant, last id), "
    "read with state_records; a run's days pack may hold its rated records (aggregated when "
    "read)",
    dialect_sql(
        sqlite=[f"{_record_blocks_table('BLOB').rstrip()} WITHOUT ROWID"],
        postgresql=[_record_blocks_table("BYTEA")],
    ),
)
