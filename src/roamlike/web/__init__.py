"""The web pages served by ``roamlike serve`` at ``/``: rules explorer, trip calculator, plan
audit, operator dashboard and the Western Balkans story.

Public API::

    routes(config=None) -> list[starlette.routing.BaseRoute]   the pages and /static
    WebConfig                                                  plans, FX and story size

Pages are server-rendered HTML with a small vanilla script; no CDN, no remote fonts. They call
the lower layers (law, tariffs, rating, audit, demo) and contain no rule.
"""

from roamlike.web.routes import WebConfig, routes

__all__ = ["WebConfig", "routes"]
