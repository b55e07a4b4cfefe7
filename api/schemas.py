"""Request and response models. Separate from the tables on purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator


class JobRequest(BaseModel):
    """JSON body of ``POST /v1/jobs`` when the media is not uploaded: one of ``url`` or ``s3_uri``."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    s3_uri: str | None = Field(None, pattern=r"^s3://[^/]+/.+")

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
    links: dict[str, str]

    @classmethod
    def from_job(cls, job) -> JobOut:
        return cls(
            id=job.id, status=job.status, progress=job.progress, attempts=job.attempts,
            source=JobSource(kind=job.source_kind, uri=job.source_uri, filename=job.filename),
            media_type=job.media_type, size_bytes=job.size_bytes, sha256=job.sha256,
            created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
            result=job.result,
            error=JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None,
            links={"self": f"/v1/jobs/{job.id}"},
        )
