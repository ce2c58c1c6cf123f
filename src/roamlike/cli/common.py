"""Helpers shared by the CLI command modules: dates, errors to exit codes, console output."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from roamlike.errors import (
    EXIT_DATA,
    EXIT_USAGE,
    CatalogError,
    FxError,
    NotInForceError,
    OutputError,
    RoamlikeError,
    StoreError,
    TariffError,
    UnknownCountryError,
    UsageInputError,
)

console = Console()
err_console = Console(stderr=True)


def parse_date(text: str, option: str = "--on") -> dt.date:
    """Parse YYYY-MM-DD or exit 2 with a clear message."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: expected a date written YYYY-MM-DD, found {text!r}", EXIT_USAGE)


def fail(message: str, code: int) -> NoReturn:
    """Print an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def exit_code_for(exc: RoamlikeError) -> int:
    """Map an error of the tree to the CLI exit code."""
    if isinstance(exc, UnknownCountryError):
        return EXIT_USAGE
    if isinstance(
        exc,
        NotInForceError
        | CatalogError
        | TariffError
        | FxError
        | UsageInputError
        | OutputError
        | StoreError,
    ):
        return EXIT_DATA
    return EXIT_DATA


def handle(exc: RoamlikeError) -> NoReturn:
    """Report a roamlike error and exit with its code."""
    fail(str(exc), exit_code_for(exc))


def print_json(obj: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
