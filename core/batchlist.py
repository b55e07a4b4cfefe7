"""Listing a tenant's batches: newest first, keyset (cursor) pages, with each batch's item counts. Read-only.

Pages and cursors work as the job list's do (``core.joblist``): the cursor names the last batch of a page by
(``created_at``, ``id``), so batches created while a client pages never shift or repeat what it sees. Who
may see a row is ``core.tenancy``'s decision, applied here to every query. The counts of a whole page come
from one grouped query over the jobs' (``batch_id``, ``status``) index, not one query per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import tenancy
from core.batches import CANCELED, COMPLETED, INGESTING, RUNNING
from core.joblist import BadListRequest, before_cursor, encode_cursor
from core.keys import Principal
from core.status import JobStatus
from core.tables import Batch, Job

STATUSES = (INGESTING, RUNNING, COMPLETED, CANCELED)
MAX_LIMIT = 200


@dataclass(frozen=True)
class Listed:
    """A batch as the list shows it: the row, its items per status, and how many reused a result."""

    batch: Batch
    counts: dict[str, int]
    reused: int


@dataclass(frozen=True)
class Page:
    batches: list[Listed]
    next_cursor: str | None  # None: this is the last page


def list_batches(session: Session, principal: Principal, *, status: str | None = None,
                 cursor: str | None = None, limit: int = 50) -> Page:
    """One page of the batches ``principal`` may see (of ``status``, when given), newest first."""
    if status is not None and status not in STATUSES:
        raise BadListRequest(f"status must be one of {list(STATUSES)}")
    limit = max(1, min(limit, MAX_LIMIT))
    query = tenancy.scoped(select(Batch), Batch, principal)
    if status:
        query = query.where(Batch.status == status)
    if cursor:
        query = query.where(before_cursor(Batch.created_at, Batch.id, cursor))
    # One row more than asked tells whether another page follows, without a count.
    order = (Batch.created_at.desc(), Batch.id.desc())
    rows = list(session.execute(query.order_by(*order).limit(limit + 1)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    counts, reused = item_counts(session, [batch.id for batch in rows])
    listed = [Listed(batch, counts[batch.id], reused[batch.id]) for batch in rows]
    return Page(listed, encode_cursor(rows[-1]) if more else None)  # the job list's cursor: (created_at, id)


def item_counts(session: Session, batch_ids: list[str]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per batch: its items per job status (every status present, zeros included), and its reused items."""
    counts = {batch_id: {s.value: 0 for s in JobStatus} for batch_id in batch_ids}
    reused = dict.fromkeys(batch_ids, 0)
    if not batch_ids:
        return counts, reused
    query = (select(Job.batch_id, Job.status, func.count(), func.count(Job.reused_from))
             .where(Job.batch_id.in_(batch_ids)).group_by(Job.batch_id, Job.status))
    for batch_id, status, items, reused_items in session.execute(query):
        counts[batch_id][status] = int(items)
        reused[batch_id] += int(reused_items)
    return counts, reused
