"""Entry point of server workers: ``granian --interface asgi --factory roamlike.service.asgi:app``
(``roamlike serve`` with ``ROAMLIKE_INTERFACE=asgi``; its default is :mod:`roamlike.service.rsgi`).

The options come from the environment (:data:`roamlike.service.config.CONFIG_ENV`), set by
``roamlike serve``.
"""

from __future__ import annotations

from starlette.applications import Starlette

from roamlike.service.app import create_app
from roamlike.service.config import ServiceConfig


def app() -> Starlette:
    """Build the app of one worker from the environment."""
    return create_app(ServiceConfig.from_env())
