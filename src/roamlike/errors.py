"""The one exception tree of roamlike.

Every error the package raises on purpose is a subclass of :class:`RoamlikeError`.
Third-party exceptions (YAML, Polars, Arrow, OS) are translated into these at the layer
that meets them, so callers only ever catch roamlike errors.

::

    RoamlikeError (Exception)
    ├── CatalogError                 the law catalog is broken (a data defect, CLI exit 3)
    │   ├── ParameterFileError (ValueError)   a parameter/zone/instrument file is invalid
    │   │   └── ScenarioFileError (ValueError)  a what-if scenario (catalog overlay) is invalid
    │   └── UnknownParameterError (KeyError)  no parameter with that id
    ├── NotInForceError (LookupError)         no rule or value in force on that date (exit 3)
    ├── UnknownCountryError (ValueError)      a country code the catalog does not know (exit 2)
    ├── TariffError (ValueError)              a tariff-plan file is invalid (exit 3)
    ├── FxError (LookupError)                 an FX table is invalid or lacks a rate (exit 3)
    ├── UsageInputError (ValueError)          a usage file cannot be read at all (exit 3)
    ├── TapEncodeError (ValueError)           events or a header cannot be written as TAP (exit 3)
    ├── OutputError (OSError)                 an output cannot be written (exit 3)
    ├── SparkError (RuntimeError)             Spark cannot start or a Spark job failed (exit 3)
    └── StoreError (OSError)                  the state store fails or refuses (exit 3)
        ├── StoreConflictError (OSError)      a uniqueness or foreign-key constraint broke
        └── AlreadyRatedError (OSError)       this input was already rated into the store

Bad *rows* of usage never raise: they become rejects with a reason code (see
``roamlike.rating.reasons``). Only faults that make a whole run meaningless raise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


class RoamlikeError(Exception):
    """Base of every error roamlike raises on purpose."""


def first_line(exc: BaseException) -> str:
    """The first line of a third-party exception's message (its type's name when it has
    none): what a translated error quotes, one line, no traceback."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class CatalogError(RoamlikeError):
    """The law catalog itself is defective."""


class ParameterFileError(CatalogError, ValueError):
    """A catalog file (parameter, zone, instrument, country) is invalid.

    Carries the file and, where known, the line, so the message points at the fix.
    """

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.detail = message
        where = f"{self.path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}")


class ScenarioFileError(ParameterFileError):
    """A what-if scenario file (an overlay on the catalog) is invalid; names the file and line."""


class UnknownParameterError(CatalogError, KeyError):
    """No parameter with the requested id exists in the catalog."""

    def __init__(self, parameter_id: str, known: list[str] | None = None) -> None:
        self.parameter_id = parameter_id
        hint = ""
        if known:
            near = [k for k in known if k.split(".")[-1] == parameter_id.split(".")[-1]]
            hint = f"; did you mean {', '.join(near[:3])}?" if near else ""
        super().__init__(f"unknown parameter {parameter_id!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NotInForceError(RoamlikeError, LookupError):
    """No rule or parameter value is in force on the requested date.

    A date outside the catalog's coverage is an error, never a guess.
    """

    def __init__(
        self,
        what: str,
        on: dt.date,
        coverage: tuple[dt.date, dt.date] | None = None,
        detail: str = "",
    ) -> None:
        self.what = what
        self.on = on
        self.coverage = coverage
        msg = f"no rule in force for {what} on {on.isoformat()}"
        if coverage is not None:
            msg += f"; the catalog covers {coverage[0].isoformat()} to {coverage[1].isoformat()}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class UnknownCountryError(RoamlikeError, ValueError):
    """A country code the catalog does not know (ISO 3166 alpha-2; XK for Kosovo)."""

    def __init__(self, code: str, known: list[str]) -> None:
        self.code = code
        self.known = known
        super().__init__(
            f"unknown country code {code!r}: not an ISO 3166-1 alpha-2 country code (XK for "
            f"Kosovo); the catalog knows {len(known)} countries "
            f"({', '.join(sorted(known)[:3])}, ...; 'roamlike countries' lists them)"
        )


class TariffError(RoamlikeError, ValueError):
    """A tariff-plan file or plan is invalid."""

    def __init__(self, message: str, path: Path | str | None = None, plan_id: str | None = None):
        self.path = Path(path) if path is not None else None
        self.plan_id = plan_id
        where = ""
        if self.path is not None:
            where += f"{self.path}: "
        if plan_id is not None:
            where += f"plan {plan_id!r}: "
        super().__init__(f"{where}{message}")


class FxError(RoamlikeError, LookupError):
    """An exchange-rate table is invalid or has no rate for a currency and date."""


class UsageInputError(RoamlikeError, ValueError):
    """A usage file cannot be read at all (missing, unknown format, missing columns)."""


class TapEncodeError(RoamlikeError, ValueError):
    """Events or a batch header cannot be written as a TAP file (a missing or invalid value).

    Decoding never raises: a bad TAP file gives findings (``roamlike.wholesale.findings``).
    """


class OutputError(RoamlikeError, OSError):
    """An output file cannot be written."""


class SparkError(RoamlikeError, RuntimeError):
    """Spark cannot start, or a Spark job of the scale-out path failed (``roamlike.spark``)."""


class StoreError(RoamlikeError, OSError):
    """The state store cannot be opened, is at the wrong schema version, or a statement fails.

    Driver exceptions (sqlite3, psycopg) are translated into this at the store's boundary.
    """


class StoreConflictError(StoreError):
    """A statement broke a uniqueness, foreign-key, check or not-null constraint of the store."""


class AlreadyRatedError(StoreError):
    """The same input (by sha256) was already rated into this store; it is never counted twice."""


#: CLI exit codes (README.md).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_DATA = 3
#: An unexpected failure inside roamlike (a defect to report), never a verdict on the input.
EXIT_INTERNAL = 4
#: Stopped by SIGINT (Ctrl-C) or SIGTERM: 128 + the signal number, as shells report it.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
