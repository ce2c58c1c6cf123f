"""Tenant-scoped access: the ``Authorization: Bearer KEY`` check and ``PUT/GET /v1/plans``.

Every tenant-scoped handler calls :meth:`TenantsApi.tenant` first: no key, a malformed, unknown
or revoked one is a 401. Every store query then names the tenant.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.service.http import body_bytes, json_response, query_text, utc_text
from roamlike.service.problems import ProblemError
from roamlike.service.quote_api import decode_text, plans_format
from roamlike.service.runtime import StoreRunner
from roamlike.service.tenants import (
    KeyContext,
    PlanVersion,
    Tenant,
    context_for_key,
    plan_versions,
    put_fx,
    put_plans,
    tenant_fx,
)
from roamlike.tariffs import FxTable, Plan


class TenantsApi:
    """Authentication of tenants and their versioned plans."""

    def __init__(self, runner: StoreRunner) -> None:
        self.runner = runner
        self._plans: dict[str, list[PlanVersion]] = {}
        self._fx: dict[str, tuple[str, FxTable]] = {}
        # per tenant: the latest plans version and FX digest its last key check read
        self._seen: dict[str, KeyContext] = {}

    async def fx_for(self, tenant: Tenant) -> FxTable | None:
        """The tenant's own exchange rates (``PUT /v1/fx``), or None: the server's apply.

        Parsed again only when the digest read by the request's key check changed.
        """
        seen = self._seen.get(tenant.tenant_id)
        if seen is not None and seen.fx_sha256 is None:
            return None
        cached = self._fx.get(tenant.tenant_id)
        if seen is None or cached is None or cached[0] != seen.fx_sha256:
            found = await self.runner.read(tenant_fx, tenant.tenant_id)
            if found is None:
                return None
            self._fx[tenant.tenant_id] = found
            cached = found
        return cached[1]

    async def put_fx(self, request: Request) -> Response:
        """``PUT /v1/fx``: the tenant's exchange rates, CSV ``date,currency,units_per_eur``."""
        tenant = await self.tenant(request)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in ("text/csv", "application/csv"):
            raise ProblemError(
                415,
                f"exchange rates are sent as text/csv, found {media!r}",
                "unsupported-media-type",
            )
        text = decode_text(await body_bytes(request))
        table, digest = await self.runner.run(put_fx, tenant.tenant_id, text)
        return json_response({"sha256": digest, "currencies": sorted(table.rates)}, status=200)

    async def tenant(self, request: Request) -> Tenant:
        """The tenant whose key the request carries.

        Raises
        ------
        ProblemError
            401 without a valid key (503 without a store).
        """
        return await self.tenant_for(request.headers.get("authorization", ""))

    async def tenant_for(self, header: str) -> Tenant:
        """The tenant of an ``Authorization`` header's value (``Bearer KEY``; "" when none).

        The key is checked on every call; the check's row is memoised until the store
        changes (:meth:`~roamlike.service.runtime.StoreRunner.lookup_memo`), so a revoked
        key, a new plans version or new exchange rates are seen by the next request.

        Raises
        ------
        ProblemError
            401 without a valid key (503 without a store).
        """
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ProblemError(
                401, "this call needs an API key: send Authorization: Bearer KEY", "unauthorized"
            )
        found = await self.runner.lookup_memo(context_for_key, key.strip())
        if found is None:
            raise ProblemError(401, "the API key is unknown or revoked", "unauthorized")
        self._seen[found.tenant.tenant_id] = found
        return found.tenant

    async def versions(self, tenant: Tenant) -> list[PlanVersion]:
        """The tenant's plan versions (cached; reloaded when the latest version number read by
        the request's key check differs: another request or process added one)."""
        seen = self._seen.get(tenant.tenant_id)
        cached = self._plans.get(tenant.tenant_id)
        if (
            seen is None
            or cached is None
            or (cached[-1].version if cached else 0) != seen.plans_version
        ):
            cached = await self.runner.read(plan_versions, tenant.tenant_id)
            self._plans[tenant.tenant_id] = cached
        return cached

    async def plan_at(
        self, tenant: Tenant, plan_id: str, at: str
    ) -> tuple[Plan, str, FxTable | None]:
        """The tenant's plan ``plan_id`` in the version in force at UTC time ``at``.

        Returns (plan, a key naming that version of the plan, the tenant's own FX or None).

        Raises
        ------
        ProblemError
            404 when no version in force then has that plan.
        """
        chosen = None
        for version in await self.versions(tenant):
            if version.valid_from <= at:
                chosen = version
        if chosen is None or plan_id not in chosen.plans:
            raise ProblemError(
                404,
                f"no plan {plan_id!r} of this tenant in force at {at}: upload it with "
                "PUT /v1/plans",
                "unknown-plan",
            )
        key = f"{tenant.tenant_id}:{chosen.version}:{plan_id}"
        return chosen.plans[plan_id], key, await self.fx_for(tenant)

    async def put(self, request: Request) -> Response:
        """``PUT /v1/plans[?from=TIME]``: a new version of the tenant's plans (201)."""
        tenant = await self.tenant(request)
        fmt = plans_format(request)
        start = query_text(request, "from", required=False)
        valid_from = utc_text(start, "from") if start is not None else None
        text = decode_text(await body_bytes(request))
        version = await self.runner.run(put_plans, tenant.tenant_id, text, fmt, valid_from)
        self._plans.pop(tenant.tenant_id, None)
        return json_response(_version_json(version), status=201)

    async def get(self, request: Request) -> Response:
        """``GET /v1/plans``: the tenant's plan versions (ids of their plans, never others')."""
        tenant = await self.tenant(request)
        return json_response([_version_json(v) for v in await self.versions(tenant)])

    def routes(self) -> list[Route]:
        """The routes of the plans endpoints."""
        return [
            Route("/v1/plans", self.plans, methods=["GET", "PUT"]),
            Route("/v1/fx", self.put_fx, methods=["PUT"]),
        ]

    async def plans(self, request: Request) -> Response:
        """``/v1/plans``: one route, so a 405 lists every method of the resource in Allow."""
        return await (self.put(request) if request.method == "PUT" else self.get(request))


def _version_json(v: PlanVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "valid_from": v.valid_from,
        "uploaded_at": v.uploaded_at,
        "sha256": v.sha256,
        "plans": sorted(v.plans),
    }
