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

# The top of /docs: what the service takes and where each way in is; the README has the result format.
DESCRIPTION = """Checks photos and videos for manipulated faces: every face found is scored, and each item gets a
verdict. The README describes the result format.

- **One photo or video**: `POST /v1/jobs` with the file uploaded (multipart field `file`), or JSON with a
  `url` or an `s3_uri` (an S3 key). Follow it with `GET /v1/jobs/{job_id}`, or be called back.
- **Batches** (backlogs): `POST /v1/batches` with many URLs, S3 keys or whole `s3_prefix` folders (JSON, or
  a CSV or JSON-lines manifest), or an open batch to upload files into; it reports counts, progress and an
  ETA, and exports every result as CSV or JSON lines.
- **Webhooks**: a job's or batch's `callback_url`, or endpoints registered under `/v1/webhooks/endpoints`,
  receive a signed event when a job ends; failed deliveries are retried, and each job lists its deliveries.
- **Explanations**: `explain` adds a heatmap per face; a LIME map can be asked for one face.

Every `/v1` call needs an API key: `Authorization: Bearer <key>`."""


def create_app() -> FastAPI:
    app = FastAPI(
        title="Deepfake detection service",
        version="0.1.0",
        description=DESCRIPTION,
        # /docs is served from packaged files (api.routes_page); ReDoc is left out: one set of docs, checked offline.
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
