"""What one service process is configured with: the state store, exchange rates, the catalog."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from roamlike.law import Catalog, default_catalog
from roamlike.service.compaction import COMPACT_LOG_ROWS
from roamlike.tariffs import FxTable

#: Environment variable through which ``roamlike serve`` hands its options to server workers.
CONFIG_ENV = "ROAMLIKE_SERVE_CONFIG"


@dataclass(frozen=True)
class ServiceConfig:
    """Options of :func:`roamlike.service.create_app`.

    Parameters
    ----------
    state : str or None
        The state store: a SQLite file path (WAL, synchronous=FULL) or a ``postgresql://`` URL.
        None: the service runs without a store (law endpoints, quotes on inline plans, audit).
    fx : FxTable
        Exchange rates (the CSV of ``roamlike rate --fx``), replaceable by ``PUT /v1/fx``.
    fx_path : str or None
        Where ``fx`` was read from (informative).
    catalog : Catalog or None
        The law catalog; the built-in one when None.
    quote_memo_size : int
        Quotes kept in memory (answers of the engine, keyed by every input they depend on).
    group_commit_ms : float
        How long the events writer gathers concurrent requests before one commit [ms].
    compact_log_rows : int
        A tenant's state logs are compacted by the service past this many rows
        (:mod:`roamlike.service.compaction`); 0: never.
    """

    state: str | None = None
    fx: FxTable = field(default_factory=FxTable)
    fx_path: str | None = None
    catalog: Catalog | None = None
    quote_memo_size: int = 65_536
    group_commit_ms: float = 2.0
    compact_log_rows: int = COMPACT_LOG_ROWS

    def law(self) -> Catalog:
        """The catalog in use."""
        return self.catalog if self.catalog is not None else default_catalog()

    def to_env(self) -> str:
        """The options a server worker needs, as the JSON text of :data:`CONFIG_ENV`."""
        return json.dumps(
            {
                "state": self.state,
                "fx_path": self.fx_path,
                "group_commit_ms": self.group_commit_ms,
                "compact_log_rows": self.compact_log_rows,
            }
        )

    @classmethod
    def from_env(cls) -> ServiceConfig:
        """The options ``roamlike serve`` put in :data:`CONFIG_ENV` (defaults when unset).

        Raises
        ------
        FxError
            The FX file named there is invalid.
        """
        raw = json.loads(os.environ.get(CONFIG_ENV, "{}"))
        fx_path = raw.get("fx_path")
        fx = FxTable.from_csv(Path(fx_path)) if fx_path else FxTable()
        return cls(
            state=raw.get("state"),
            fx=fx,
            fx_path=fx_path,
            group_commit_ms=float(raw.get("group_commit_ms", 2.0)),
            compact_log_rows=int(raw.get("compact_log_rows", COMPACT_LOG_ROWS)),
        )
