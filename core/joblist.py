"""Listing a tenant's jobs: filters and keyset (cursor) pagination, newest first. Read-only.

The cursor names the last job of a page by (``created_at``, ``id``); the next page starts strictly after
it in that order, so jobs created while a client pages never shift or repeat what it sees (an offset
would). Who may see a row is ``core.tenancy``'s decision, applied here to every query.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import Session

from core import tenancy
from core.keys import Principal
from core.status import JobStatus
from core.tables import Job

VERDICTS = ("fake", "real", "uncertain", "no_face")
MAX_LIMIT = 200


class BadListRequest(ValueError):
    """A filter value or cursor that cannot be used; the message says which."""


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    verdict: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    batch_id: str | None = None


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next_cursor: str | None  # None: this is the last page


def encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(job_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadListRequest("cursor is not one this service gave out") from exc


def _check(filters: Filters) -> None:
    if filters.status is not None and filters.status not in {s.value for s in JobStatus}:
        raise BadListRequest(f"status must be one of {[s.value for s in JobStatus]}")
    if filters.verdict is not None and filters.verdict not in VERDICTS:
        raise BadListRequest(f"verdict must be one of {list(VERDICTS)}")


def _utc(moment: datetime) -> datetime:
    """A time given without a zone is read as UTC, as every stored time is."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _filtered(query: Select, filters: Filters) -> Select:
    if filters.status:
        query = query.where(Job.status == filters.status)
    if filters.verdict:
        # The verdict lives in the result document (JSON on SQLite, JSONB on Postgres); both read it this way.
        query = query.where(Job.result["verdict"].as_string() == filters.verdict)
    if filters.created_after:
        query = query.where(Job.created_at > _utc(filters.created_after))
    if filters.created_before:
        query = query.where(Job.created_at < _utc(filters.created_before))
    if filters.batch_id:
        query = query.where(Job.batch_id == filters.batch_id)
    return query


def before_cursor(created_at, row_id, cursor: str) -> ColumnElement[bool]:
    """Rows listed after ``cursor``'s row, newest first: (created_at, id) < the cursor's, as one row-value
    comparison, which the (tenant, created_at, id) index bounds (``a < x OR (a = x AND b < y)`` is only a
    filter on it: a deep page would walk every newer row of the tenant)."""
    created, last_id = decode_cursor(cursor)
    return tuple_(created_at, row_id) < tuple_(created, last_id)


def _after(query: Select, cursor: str | None) -> Select:
    return query.where(before_cursor(Job.created_at, Job.id, cursor)) if cursor else query


def list_jobs(session: Session, principal: Principal, filters: Filters, *, cursor: str | None = None,
              limit: int = 50) -> Page:
    """One page of the jobs ``principal`` may see that match ``filters``, newest first."""
    _check(filters)
    limit = max(1, min(limit, MAX_LIMIT))
    query = _after(_filtered(tenancy.scoped(select(Job), Job, principal), filters), cursor)
    # One row more than asked tells whether another page follows, without a count.
    rows = list(session.execute(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1]) if more else None)
