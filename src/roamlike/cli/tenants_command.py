"""``roamlike tenants add|key|revoke|list``: the service's tenants and their API keys.

``tenants add NAME`` and ``tenants key NAME`` print the new key as the last line of stdout, once:
only its SHA-256 is stored. Exit codes: 0 ok, 3 store error (unknown tenant or key, duplicate
name, unreachable store).
"""

from __future__ import annotations

from typing import Annotated

import typer

from roamlike.cli import app
from roamlike.cli.common import console, handle, print_json
from roamlike.cli.state_commands import StoreOption
from roamlike.errors import RoamlikeError
from roamlike.service.tenants import add_tenant, issue_key, list_tenants, revoke_key
from roamlike.state import Store, migrate, open_store

tenants_app = typer.Typer(
    help="Tenants of `roamlike serve` (operators) and their API keys.", no_args_is_help=True
)
app.add_typer(tenants_app, name="tenants")


def _open(target: str) -> Store:
    store = open_store(target)
    try:
        migrate(store)
    except BaseException:
        store.close()
        raise
    return store


@tenants_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="Tenant name: letters, digits, '_', '.', '-'.")],
    state: StoreOption,
) -> None:
    """Create a tenant; its first API key is the last line printed (shown only once)."""
    try:
        with _open(state) as store:
            tenant, key = add_tenant(store, name)
    except RoamlikeError as exc:
        handle(exc)
    console.print(f"tenant {tenant.name} created ({tenant.tenant_id}); its API key:")
    typer.echo(key)


@tenants_app.command("key")
def key_command(
    name: Annotated[str, typer.Argument(help="Tenant name.")],
    state: StoreOption,
) -> None:
    """Issue another API key for a tenant (printed as the last line, only once)."""
    try:
        with _open(state) as store:
            key = issue_key(store, name)
    except RoamlikeError as exc:
        handle(exc)
    console.print(f"new API key of tenant {name}:")
    typer.echo(key)


@tenants_app.command("revoke")
def revoke_command(
    key_id: Annotated[str, typer.Argument(help="Key id: the 8 hex digits after 'rlk_'.")],
    state: StoreOption,
) -> None:
    """Revoke an API key: requests carrying it are answered 401 from now on."""
    try:
        with _open(state) as store:
            tenant = revoke_key(store, key_id.strip())
    except RoamlikeError as exc:
        handle(exc)
    console.print(f"API key {key_id} of tenant {tenant.name} revoked")


@tenants_app.command("list")
def list_command(
    state: StoreOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list on stdout.")] = False,
) -> None:
    """List tenants with their key ids and whether each is revoked (never a key)."""
    try:
        with _open(state) as store:
            rows = list_tenants(store)
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        keys = row["keys"]
        assert isinstance(keys, list)
        console.print(f"{row['name']} ({row['tenant_id']}), created {row['created_at']}")
        for k in keys:
            state_text = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
            console.print(f"  key {k['key_id']}: {state_text}", highlight=False)
