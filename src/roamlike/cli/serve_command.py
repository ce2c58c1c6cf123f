"""``roamlike serve``: the HTTP API and the web pages, served by granian (RSGI) on uvloop.

A thin launcher: the app is :class:`roamlike.service.rsgi.RsgiService` (the busiest routes
answered over RSGI, the rest by :func:`roamlike.service.create_app`'s ASGI app);
``ROAMLIKE_INTERFACE=asgi`` serves everything through granian's ASGI interface instead (A/B
runs). Options reach each server worker
through the environment (:data:`roamlike.service.config.CONFIG_ENV`). Each worker's event loop
is uvloop's: measured against asyncio's own loop on this service, it spends less CPU per request
(quotes and events; ``docs/service.md``, "Speed").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from roamlike.cli import app
from roamlike.cli.common import fail, handle
from roamlike.errors import EXIT_USAGE, RoamlikeError
from roamlike.service.config import CONFIG_ENV, ServiceConfig
from roamlike.tariffs import FxTable

DEFAULT_STATE = "roamlike-state.db"


@app.command("serve")
def serve_command(
    state: Annotated[
        str,
        typer.Option(
            "--state", help="State store: a SQLite file (default) or a postgresql:// URL."
        ),
    ] = DEFAULT_STATE,
    fx_file: Annotated[
        Path | None, typer.Option("--fx", help="FX CSV: date,currency,units_per_eur.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Server worker processes.")
    ] = 1,
) -> None:
    """Serve the JSON API under /v1 (OpenAPI at /v1/openapi.json) and the web pages at /.

    Exit codes: 0 stopped cleanly; 2 bad option; 3 the FX file or the store is invalid.
    """
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    from roamlike.service.rsgi import interface

    try:
        config = ServiceConfig(
            state=state,
            fx=FxTable.from_csv(fx_file) if fx_file is not None else FxTable(),
            fx_path=str(fx_file.resolve()) if fx_file is not None else None,
        )
    except RoamlikeError as exc:
        handle(exc)
    if not host:
        fail("--host must not be empty", EXIT_USAGE)
    try:
        rsgi = interface() == "rsgi"
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    os.environ[CONFIG_ENV] = config.to_env()
    server = Server(
        "roamlike.service.rsgi:app" if rsgi else "roamlike.service.asgi:app",
        address=host,
        port=port,
        interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
        loop=Loops.uvloop,
        workers=workers,
        factory=True,
        log_access=False,
        websockets=not rsgi,  # no route takes one; the RSGI app answers HTTP only
    )
    server.serve()
