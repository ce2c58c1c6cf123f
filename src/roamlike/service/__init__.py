"""The HTTP service (``roamlike serve``): law endpoints, quotes, events, credit control, tenants.

Public API::

    create_app(config) -> starlette.applications.Starlette
    ServiceConfig
"""

from roamlike.service.app import create_app
from roamlike.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
