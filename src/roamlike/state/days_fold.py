"""The fold of ``state_days_log`` into ``state_days``: one ``INSERT … ON CONFLICT DO UPDATE``.

A day's log rows *add up* with its base row (``roamlike.state.log``): the counts are summed,
``home_country`` is the latest log row's and ``rlah_regime`` the latest non-empty one (else the
base row's). The fold adds up each key's log rows (those the caller's condition keeps) in one
``GROUP BY`` over the log's primary key and lets the upsert add them to the base row it finds
(``state_days.<column>`` in ``DO UPDATE``): no join of the base table, whose row the upsert
looks up anyway, and no sort of the groups, which the log's key gives in key order. Measured
on copies of a store shaped like the service's events of 100 records (slices of 3,200 log
rows): 17.2 -> 8.0 ms per slice against the join of the base row and its sort
(``docs/service-speed.md``, "Events of 100 records (round 16: the writer's share)").

The latest of several log rows is the greatest of ``seq`` as 19-digit text followed by the
value: ``seq`` plus 10^18 (every ``seq`` is far below 8 x 10^18), which SQLite turns into text
without the ``printf`` of the ``*_now`` views (whose text is their migration's and stays).
"""

from __future__ import annotations

from roamlike.state.schema import DAY_VALUES, LOGGED, NOT_EMPTY_REGIME, columns, latest_of

#: ``seq`` as text of 19 digits, per dialect, for the latest of several log rows.
_SEQ_TEXT = {
    "sqlite": "(l.seq + 1000000000000000000)",
    "postgresql": "(l.seq + 1000000000000000000)::text",
}
#: Where the value begins in ``seq`` text followed by the value (1-based).
_VALUE_AT = 20


def fold_days_sql(dialect: str, condition: str) -> str:
    """The statement that folds the day log rows ``condition`` keeps (alias ``l``; e.g. a
    tenant, a ``seq`` bound, a range of subscribers) into ``state_days`` (module docstring);
    its ``rowcount`` is the base rows written. The log rows stay: the caller deletes them."""
    keys = LOGGED["state_days"]
    values = []
    sets = []
    for c in DAY_VALUES:
        if c == "home_country":
            values.append(f"{latest_of(_SEQ_TEXT[dialect], c, value_at=_VALUE_AT)} AS {c}")
            sets.append(f"{c} = excluded.{c}")
        elif c == "rlah_regime":
            # the latest non-empty regime of the log rows, else the base row's, else ''
            latest = latest_of(_SEQ_TEXT[dialect], c, NOT_EMPTY_REGIME, _VALUE_AT)
            values.append(f"coalesce({latest}, '') AS {c}")
            sets.append(
                f"{c} = CASE WHEN excluded.{c} <> '' THEN excluded.{c} ELSE state_days.{c} END"
            )
        else:
            values.append(f"sum(l.{c}) AS {c}")
            sets.append(f"{c} = CAST(state_days.{c} + excluded.{c} AS BIGINT)")
    group = ", ".join(f"l.{k}" for k in keys)
    return (
        f"INSERT INTO state_days ({', '.join(columns('state_days'))}) "
        f"SELECT {group}, {', '.join(values)} FROM state_days_log l WHERE {condition} "
        f"GROUP BY {group} ORDER BY {group} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"
    )
