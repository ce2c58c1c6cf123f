"""Prometheus text metrics of one service process: requests, latencies, commits, rejects.

A pure ASGI middleware counts every HTTP request by route template and status and observes its
latency in a fixed histogram; the events writer adds commits, rated records and rejects.

References
----------
Prometheus exposition formats, text format 0.0.4,
https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency histogram bucket bounds [s].
BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    """Counters of one process (each server worker keeps its own)."""

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    latency_buckets: dict[str, list[int]] = field(default_factory=dict)
    latency_sum_s: dict[str, float] = field(default_factory=dict)
    latency_count: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    event_loop: str = ""  # the module of the running event loop's class (uvloop, asyncio)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency [s]."""
        self.requests[(method, route, status)] += 1
        buckets = self.latency_buckets.get(route)
        if buckets is None:
            buckets = self.latency_buckets[route] = [0] * len(BUCKETS_S)
        i = bisect.bisect_left(BUCKETS_S, seconds)
        if i < len(buckets):
            buckets[i] += 1
        self.latency_sum_s[route] = self.latency_sum_s.get(route, 0.0) + seconds
        self.latency_count[route] += 1

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a plain counter (``commits``, ``events_rated``, ``events_rejected`` …)."""
        self.counters[name] += n

    def render(self) -> str:
        """The metrics in Prometheus text format."""
        lines = [
            "# HELP roamlike_http_requests_total HTTP requests by method, route and status.",
            "# TYPE roamlike_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f'roamlike_http_requests_total{{method="{method}",route="{route}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP roamlike_http_request_duration_seconds Request latency by route.",
            "# TYPE roamlike_http_request_duration_seconds histogram",
        ]
        for route in sorted(self.latency_buckets):
            cumulative = 0
            for bound, n in zip(BUCKETS_S, self.latency_buckets[route], strict=True):
                cumulative += n
                lines.append(
                    f'roamlike_http_request_duration_seconds_bucket{{route="{route}",'
                    f'le="{bound}"}} {cumulative}'
                )
            lines.append(
                f'roamlike_http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} '
                f"{self.latency_count[route]}"
            )
            lines.append(
                f'roamlike_http_request_duration_seconds_sum{{route="{route}"}} '
                f"{self.latency_sum_s[route]:.6f}"
            )
            lines.append(
                f'roamlike_http_request_duration_seconds_count{{route="{route}"}} '
                f"{self.latency_count[route]}"
            )
        if self.event_loop:
            lines += [
                "# HELP roamlike_event_loop_info The event loop this worker process runs on.",
                "# TYPE roamlike_event_loop_info gauge",
                f'roamlike_event_loop_info{{implementation="{self.event_loop}"}} 1',
            ]
        for name in sorted(self.counters):
            lines.append(f"# TYPE roamlike_{name}_total counter")
            lines.append(f"roamlike_{name}_total {self.counters[name]}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """ASGI middleware: time every HTTP request and count it by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(
                scope["method"], _route(scope), status, time.perf_counter() - start
            )


def _route(scope: Scope) -> str:
    """The route template (``/v1/sessions/{session_id}/update``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "other"
