"""A minimal Starlette app of the web routes, for the browser tests (served by granian)."""

from __future__ import annotations

from starlette.applications import Starlette

from roamlike.web import WebConfig, routes


def create() -> Starlette:
    """The pages alone, with a small Western Balkans story so it is ready in seconds."""
    return Starlette(routes=routes(WebConfig(story_records=40_000)))
