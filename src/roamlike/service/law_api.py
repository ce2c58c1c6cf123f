"""Public law endpoints: ``GET /v1/rules``, ``/v1/timeline``, ``/v1/countries``, ``/v1/sources``,
``/v1/instruments``.

Each answers exactly the document the CLI prints with ``--json`` (the same builders,
:mod:`roamlike.law.documents`). No key is needed.
"""

from __future__ import annotations

import datetime as dt
import functools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.law import Catalog
from roamlike.law.documents import (
    countries_document,
    instruments_document,
    rules_document,
    sources_document,
    timeline_document,
)
from roamlike.service.http import json_response, query_date, required_date, required_text
from roamlike.service.problems import ProblemError


class LawApi:
    """The law endpoints over one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        # the documents are pure functions of the catalog and the query: kept once encoded
        self._rules = functools.lru_cache(maxsize=65_536)(self._rules_body)

    def _rules_body(self, home: str, visited: str, on: dt.date) -> bytes:
        return bytes(json_response(rules_document(self.catalog, home, visited, on)).body)

    async def rules(self, request: Request) -> Response:
        """``GET /v1/rules?home=RS&visited=ME&on=2020-03-01``: = ``roamlike rules --json``."""
        home = required_text(request, "home")
        visited = required_text(request, "visited")
        on = required_date(request, "on")
        body = self._rules(home.strip().upper(), visited.strip().upper(), on)
        return Response(body, media_type="application/json")

    async def timeline(self, request: Request) -> Response:
        """``GET /v1/timeline?home=&visited=[&from=&to=]``: = ``roamlike timeline --json``."""
        home = required_text(request, "home")
        visited = required_text(request, "visited")
        start = query_date(request, "from", required=False)
        end = query_date(request, "to", required=False)
        if start is not None and end is not None and start > end:
            raise ProblemError(
                400,
                f"from {start.isoformat()} is after to {end.isoformat()}; give a period whose "
                "start is not after its end",
                "bad-period",
            )
        return json_response(timeline_document(self.catalog, home, visited, start, end))

    async def countries(self, request: Request) -> Response:
        """``GET /v1/countries[?on=]``: = ``roamlike countries --json`` (default: today)."""
        on = query_date(request, "on", required=False) or dt.date.today()
        return json_response(countries_document(self.catalog, on))

    async def sources(self, request: Request) -> Response:
        """``GET /v1/sources``: = ``roamlike sources --json`` (the source registry)."""
        return json_response(sources_document(self.catalog))

    async def instruments(self, request: Request) -> Response:
        """``GET /v1/instruments``: = ``roamlike instruments --json``."""
        return json_response(instruments_document(self.catalog))

    def routes(self) -> list[Route]:
        """The routes of the law endpoints."""
        return [
            Route("/v1/rules", self.rules, methods=["GET"]),
            Route("/v1/timeline", self.timeline, methods=["GET"]),
            Route("/v1/countries", self.countries, methods=["GET"]),
            Route("/v1/sources", self.sources, methods=["GET"]),
            Route("/v1/instruments", self.instruments, methods=["GET"]),
        ]
