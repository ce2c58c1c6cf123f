"""The ``roamlike`` command line: a thin Typer app over the library. No rules live here.

Each group of commands sits in its own module and registers itself on :data:`app`; this module
imports them. Exit codes: 0 ok, 1 finished with rejects or findings, 2 usage error, 3 data or
parameter error, 4 internal error (a defect: please report it), 130/143 interrupted by SIGINT or
SIGTERM. ``--debug`` prints the traceback of an internal error.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="roamlike",
    help="Roaming regulation as cited, dated rules: look up the rules, rate usage, audit tariffs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on `app` when imported (keep this list sorted).
# ruff: noqa: I001
from roamlike.cli import audit_command  # noqa: E402,F401
from roamlike.cli import control_command  # noqa: E402,F401
from roamlike.cli import demo_command  # noqa: E402,F401
from roamlike.cli import law_commands  # noqa: E402,F401
from roamlike.cli import rate_commands  # noqa: E402,F401
from roamlike.cli import serve_command  # noqa: E402,F401
from roamlike.cli import simulate_command  # noqa: E402,F401
from roamlike.cli import state_commands  # noqa: E402,F401
from roamlike.cli import synth_command  # noqa: E402,F401
from roamlike.cli import tap_commands  # noqa: E402,F401
from roamlike.cli import tenants_command  # noqa: E402,F401
from roamlike.cli import wholesale_commands  # noqa: E402,F401


def main() -> None:
    """Console-script entry point (with the catch-all for internal errors)."""
    from roamlike.cli.common import run_app

    run_app(app)
