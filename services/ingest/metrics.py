"""``GET /metrics`` (Prometheus text format): the API's requests by route template, method and
status (prometheus-fastapi-instrumentator), the process's own series, and the pipeline's state
read from the database and the queues at scrape time (``shared.metrics.PipelineCollector``).

Each app has its own registry, so that several apps in one process (tests) never collide."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as http

from services.ingest.stories.status import status_of
from shared.metrics import PipelineCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def install(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    registry.register(PipelineCollector(story_status=status_of))
    Instrumentator(should_group_status_codes=False, excluded_handlers=["^/metrics$"], registry=registry).add(
        http.requests(metric_namespace="newswire", registry=registry),
        http.latency(metric_namespace="newswire", buckets=LATENCY_BUCKETS, registry=registry),
    ).instrument(app)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Computed at each scrape (a few indexed GROUP BYs and the queues' depths)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
