"""Request and response models. Separate from the tables on purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.text import storable


class JobRequest(BaseModel):
    """JSON body of ``POST /v1/jobs`` when the media is not uploaded: one of ``url`` or ``s3_uri``."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    s3_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+")
    callback_url: AnyHttpUrl | None = None
    priority: Literal["interactive", "bulk"] = "interactive"
    dedup: bool = True
    retain_media: bool = True
    explain: bool = False  # a Grad-CAM heatmap per face of a photo

    @field_validator("s3_uri")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None and not storable(value):
            raise ValueError("s3_uri must be text without NUL characters")
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> JobRequest:
        if (self.url is None) == (self.s3_uri is None):
            raise ValueError("give exactly one of url or s3_uri")
        return self


class JobError(BaseModel):
    code: str
    message: str


class JobSource(BaseModel):
    kind: str
    uri: str | None = None
    filename: str | None = None


class JobOut(BaseModel):
    id: str
    status: str
    progress: float
    attempts: int
    source: JobSource
    media_type: str | None
    size_bytes: int | None
    sha256: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: JobError | None
    callback_url: str | None = None
    priority: str = "interactive"
    reused_from: str | None = None
    batch_id: str | None = None
    ref: str | None = None
    retain_media: bool = True
    explain: bool = False
    purged_at: datetime | None = None  # set: media and result were purged after the retention period
    links: dict[str, str]

    @classmethod
    def from_job(cls, job) -> JobOut:
        return cls(
            id=job.id, status=job.status, progress=job.progress, attempts=job.attempts,
            source=JobSource(kind=job.source_kind, uri=job.source_uri, filename=job.filename),
            media_type=job.media_type, size_bytes=job.size_bytes, sha256=job.sha256,
            created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
            result=job.result, callback_url=job.callback_url, priority=job.priority, reused_from=job.reused_from,
            batch_id=job.batch_id, ref=job.ref, retain_media=job.retain_media, explain=bool(job.explain),
            purged_at=job.purged_at,
            error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
            links={"self": f"/v1/jobs/{job.id}"},
        )


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    event_types: list[Literal["job.succeeded", "job.failed", "batch.completed"]] = ["job.succeeded", "job.failed"]
    description: str | None = None
    enabled: bool = True


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    event_types: list[Literal["job.succeeded", "job.failed", "batch.completed"]] | None = None
    description: str | None = None
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    failing: bool
    created_at: datetime
    secret: str | None = None  # only when created or rotated

    @classmethod
    def from_row(cls, e, with_secret: bool = False) -> EndpointOut:
        return cls(id=e.id, url=e.url, event_types=e.event_types, description=e.description, enabled=e.enabled,
                   disabled_reason=e.disabled_reason, failing=e.failing, created_at=e.created_at,
                   secret=e.secret if with_secret else None)


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: float | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_type: str
    url: str
    endpoint_id: str | None
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    last_error: str | None

    @classmethod
    def from_rows(cls, d, attempts) -> DeliveryOut:
        return cls(id=d.id, event_type=d.event_type, url=d.url, endpoint_id=d.endpoint_id, status=d.status,
                   next_attempt_at=d.next_attempt_at, last_error=d.last_error,
                   attempts=[AttemptOut(attempted_at=a.attempted_at, status_code=a.status_code,
                                        latency_ms=a.latency_ms, error=a.error) for a in attempts])


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = []
    callback_url: AnyHttpUrl | None = None
    priority: Literal["interactive", "bulk"] = "bulk"
    dedup: bool = True
    open: bool = False
    model: str | None = None  # the model the batch must run on: "name" or "name:version"


class BatchOut(BaseModel):
    id: str
    status: str
    total: int
    counts: dict[str, int]
    reused: int
    progress: float
    throughput_per_s: float | None
    eta_s: float | None
    priority: str
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    links: dict[str, str]

    @classmethod
    def build(cls, batch, counts: dict[str, int], reused: int) -> BatchOut:
        from core.clock import now

        done = counts["succeeded"] + counts["failed"] + counts["canceled"]
        elapsed = ((batch.finished_at or now()) - batch.created_at).total_seconds()
        rate = done / elapsed if elapsed > 0 and done else None
        remaining = batch.total - done
        return cls(id=batch.id, status=batch.status, total=batch.total, counts=counts, reused=reused,
                   progress=round(done / batch.total, 4) if batch.total else 0.0,
                   throughput_per_s=round(rate, 2) if rate else None,
                   eta_s=round(remaining / rate, 1) if rate and remaining else (0.0 if rate else None),
                   priority=batch.priority, error=batch.error, created_at=batch.created_at,
                   finished_at=batch.finished_at,
                   links={"self": f"/v1/batches/{batch.id}", "results": f"/v1/batches/{batch.id}/results"})


class JobSummary(BaseModel):
    """A job as a list shows it: its state and verdict, without the (possibly long) result document."""

    id: str
    status: str
    progress: float
    source: JobSource
    media_type: str | None
    created_at: datetime
    finished_at: datetime | None
    batch_id: str | None = None
    verdict: str | None = None
    score: float | None = None
    faces: int | None = None
    error: JobError | None = None
    thumbnail: str | None = None  # URL of a small JPEG (longer side 160 px), fetched with the key
    links: dict[str, str]

    @classmethod
    def from_job(cls, job) -> JobSummary:
        result = job.result or {}
        return cls(id=job.id, status=job.status, progress=job.progress,
                   source=JobSource(kind=job.source_kind, uri=job.source_uri, filename=job.filename),
                   media_type=job.media_type, created_at=job.created_at, finished_at=job.finished_at,
                   batch_id=job.batch_id, verdict=result.get("verdict"), score=result.get("score"),
                   faces=len(result["faces"]) if "faces" in result else None,
                   error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
                   thumbnail=result.get("thumbnail"), links={"self": f"/v1/jobs/{job.id}"})


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None  # pass as ``cursor`` for the next page; null on the last one
    links: dict[str, str]


class BatchPage(BaseModel):
    """``GET /v1/batches``: each batch as ``GET /v1/batches/{id}`` shows it, newest first."""

    items: list[BatchOut]
    next_cursor: str | None  # pass as ``cursor`` for the next page; null on the last one
    links: dict[str, str]
