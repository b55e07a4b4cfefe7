"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from api import (
    errors,
    routes_batches,
    routes_explain,
    routes_health,
    routes_job_reads,
    routes_jobs,
    routes_metrics,
    routes_page,
    routes_webhooks,
)
from api.limits import RequestLimits


def create_app() -> FastAPI:
    app = FastAPI(
        title="Deepfake detection service",
        version="0.1.0",
        description="Submit photos; faces are found and scored for manipulation. See the README for the result format.",
        # /docs is served from packaged files (api.routes_page); ReDoc loads only from a CDN, so it is left out.
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(RequestLimits)
    app.include_router(routes_health.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_job_reads.router)
    app.include_router(routes_explain.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_batches.router)
    routes_page.install(app)
    return app


app = create_app()
