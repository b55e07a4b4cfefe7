"""Database tables. Migrations (``migrations/``) are generated from this metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
JsonType = JSON().with_variant(JSONB(), "postgresql")
UNDISPATCHED = text("dispatched_at IS NULL AND status = 'queued'")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


DEFAULT_TENANT = "default"  # the tenant of rows made before tenancy, and of keys made without --tenant


def _tenant_column() -> Mapped[str]:
    """Who owns a row: the tenant of the API key that made it (``core.tenancy`` decides who sees it)."""
    # Not indexed alone: rows are found by ID (or hash) and then checked. Jobs and batches are listed per tenant
    # through a (tenant, created_at, id) index each (``_list_order_index``), one more write per insert.
    return mapped_column(String(64), default=DEFAULT_TENANT, server_default=DEFAULT_TENANT)


def _list_order_index(table: str) -> Index:
    """What ``GET /v1/jobs`` and ``GET /v1/batches`` read: a tenant's rows newest first by (created_at, id).

    Ascending columns: Postgres and SQLite walk the index backwards for the lists' all-descending order."""
    return Index(f"ix_{table}_tenant_created_at_id", "tenant", "created_at", "id")


class ApiKey(Base):
    """An API key: only its hash is stored, with a short prefix shown to tell keys apart (``core.keys``)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the key's first characters, not secret
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole key
    name: Mapped[str] = mapped_column(Text)
    tenant: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Batch(Base):
    """A backlog submitted at once: its items are jobs with ``batch_id`` set."""

    __tablename__ = "batches"
    __table_args__ = (_list_order_index("batches"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = _tenant_column()
    status: Mapped[str] = mapped_column(String(16), index=True)  # ingesting | running | completed | canceled
    manifest_key: Mapped[str | None] = mapped_column(Text)  # blob holding the items as JSON lines
    open: Mapped[bool] = mapped_column(Boolean, default=False)  # items still being uploaded by a client
    ingested: Mapped[int] = mapped_column(Integer, default=0)  # manifest entries turned into items so far
    total: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[str] = mapped_column(String(16), default="bulk")
    dedup: Mapped[bool] = mapped_column(Boolean, default=True)
    callback_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Job(Base):
    """One media item to analyse. Its status changes only through ``core.jobs``."""

    __tablename__ = "jobs"
    # Finding a batch item by its reference (resumed uploads) must not scan the batch.
    __table_args__ = (Index("ix_jobs_batch_id_ref", "batch_id", "ref"),
                      Index("ix_jobs_batch_id_status", "batch_id", "status"),
                      _list_order_index("jobs"),
                      # Only the few items waiting for the dispatcher: it looks for them every few seconds.
                      Index("ix_jobs_undispatched", "created_at", postgresql_where=UNDISPATCHED,
                            sqlite_where=UNDISPATCHED))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = _tenant_column()
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    source_kind: Mapped[str] = mapped_column(String(8))  # upload | url | s3
    source_uri: Mapped[str | None] = mapped_column(Text)
    blob_key: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[dict | None] = mapped_column(JsonType)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="interactive", server_default="interactive")
    dedup: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    model_key: Mapped[str | None] = mapped_column(String(128))  # "name:version" of the model that produced result
    reused_from: Mapped[str | None] = mapped_column(String(36))  # the job whose result this one reuses
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str | None] = mapped_column(Text)  # the client's reference for a batch item
    # When a message carrying the job was sent; NULL: a queued batch item waiting for the dispatcher.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    # While running: the worker process (``core.processes`` ID) and its last sign of life (``core.jobs``).
    worker: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # False: the stored upload is deleted as soon as the job ends (core.retention).
    retain_media: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # media and result purged (core.retention)
    # True: each face of a photo gets a Grad-CAM heatmap, stored beside the media (workers/explain.py).
    explain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ServiceSecret(Base):
    """Secrets the service generates once and shares across machines (e.g. the callback signing secret)."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class WebhookEndpoint(Base):
    """A registered receiver of job events, with its own signing secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = _tenant_column()  # receives events of this tenant's jobs and batches only
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)  # still signed with until it expires
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_types: Mapped[list] = mapped_column(JsonType)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing: Mapped[bool] = mapped_column(Boolean, default=False)  # a delivery ran out of attempts
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class WebhookDelivery(Base):
    """One event for one receiver: the outbox row, written with the job's final state."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header, same on every try
    tenant: Mapped[str] = _tenant_column()
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[str | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the exact bytes sent (as UTF-8) on every attempt
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """The log of one HTTP attempt of a delivery."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class VideoSegment(Base):
    """One time segment of a long video, analysed by its own task; merged when all are done."""

    __tablename__ = "video_segments"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    frames: Mapped[list] = mapped_column(JsonType)  # the sampled frame indices of this segment
    media: Mapped[dict] = mapped_column(JsonType)  # facts about the whole video, for the merged result
    status: Mapped[str] = mapped_column(String(16))  # pending | done
    part: Mapped[dict | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
