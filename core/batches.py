"""Batches: a backlog submitted at once. Each item is a job with ``batch_id`` and the client's ``ref``.

Batch lifecycle: ``ingesting`` (the manifest is being read, or a client is still
uploading into an open batch) → ``running`` (every item exists) → ``completed``
(every item is terminal) | ``canceled``. Completion is decided under the
batch's row lock, in the transaction that finishes its last item, and writes
the ``batch.completed`` webhook in that same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from core import heatmaps, webhooks
from core.clock import now
from core.settings import get_settings
from core.sources import FORBIDDEN_SOURCE, ForbiddenSource, check_s3_object
from core.status import TERMINAL, JobStatus
from core.tables import DEFAULT_TENANT, Batch, Job
from core.text import made_storable, storable

INGESTING, RUNNING, COMPLETED, CANCELED = "ingesting", "running", "completed", "canceled"
INVALID_ITEM = "invalid_item"
LIST_FAILED = "list_failed"  # an s3_prefix the service may read but could not list (no such bucket, no access)


class FailedEntry(dict):
    """A manifest entry that failed before it became an item (``code``, ``message``, ``uri``, ``ref``).

    A class of its own, not a key in the dict: a client's manifest line can hold any key, so it must not
    be able to dress itself up as one of these.
    """

    def __init__(self, code: str, message: str, uri: str | None, ref: str | None, source_kind: str = "url"):
        super().__init__(code=code, message=message, uri=uri, ref=ref, source_kind=source_kind)


def create_batch(session: Session, *, priority: str, dedup: bool, callback_url: str | None,
                 manifest_key: str | None, open_for_uploads: bool = False, tenant: str = DEFAULT_TENANT) -> Batch:
    batch = Batch(id=str(uuid.uuid4()), tenant=tenant, status=INGESTING, manifest_key=manifest_key,
                  open=open_for_uploads, ingested=0, total=0, priority=priority, dedup=dedup,
                  callback_url=callback_url, created_at=now())
    session.add(batch)
    session.commit()
    return batch


def lock_batch(session: Session, batch_id: str) -> Batch | None:
    return session.execute(select(Batch).where(Batch.id == batch_id).with_for_update()).scalar_one_or_none()


def _item_row(batch: Batch, item: dict) -> dict:
    """A jobs row for one manifest item; a malformed item becomes an already-failed row."""
    ref, url, s3_uri = (_text(item.get(name)) for name in ("ref", "url", "s3_uri"))
    row = {"id": str(uuid.uuid4()), "batch_id": batch.id, "tenant": batch.tenant, "ref": made_storable(ref),
           "priority": batch.priority,
           "dedup": batch.dedup, "progress": 0.0, "attempts": 0, "created_at": now(), "updated_at": now(),
           "status": JobStatus.QUEUED}
    if not all(storable(value) for value in (ref, url, s3_uri) if value):
        return _invalid(row, made_storable(url or s3_uri),
                        "an item's ref, url and s3_uri must be text without NUL characters")
    if url and url.startswith(("http://", "https://")) and not s3_uri:
        return {**row, "source_kind": "url", "source_uri": url}
    if s3_uri and s3_uri.startswith("s3://") and len(s3_uri) > 5 and not url:
        return _s3_item(row, s3_uri)
    if isinstance(item, FailedEntry):  # refused or unreadable as it was read (workers.batches)
        return _invalid(row, made_storable(item["uri"]), made_storable(item["message"]), item["code"],
                        item["source_kind"])
    return _invalid(row, url or s3_uri, f"an item needs exactly one http(s) url, s3_uri or s3_prefix; {_given(item)}")


def _given(item) -> str:
    """What a refused item held, in words (``this one has url ftp://x/y``), not a Python dict."""
    if not isinstance(item, dict) or not item:
        return "this one is empty" if not item else f"this one is {made_storable(str(item))[:200]}"
    held = ", ".join(f"{name} {made_storable(str(value))[:200]}" for name, value in item.items())
    return f"this one has {held}"


def _s3_item(row: dict, s3_uri: str) -> dict:
    """An S3 item, or a failed one when the object is outside the allow-list (it is never read)."""
    try:
        check_s3_object(s3_uri, get_settings())
    except ForbiddenSource as exc:
        return _invalid(row, s3_uri, str(exc), FORBIDDEN_SOURCE, "s3")
    except ValueError as exc:
        return _invalid(row, s3_uri, str(exc), source_kind="s3")
    return {**row, "source_kind": "s3", "source_uri": s3_uri}


def _invalid(row: dict, uri: str | None, message: str, code: str = INVALID_ITEM, source_kind: str = "url") -> dict:
    return {**row, "source_kind": source_kind, "source_uri": uri, "status": JobStatus.FAILED, "error_code": code,
            "error_message": message, "finished_at": now()}


def _text(value) -> str | None:
    return None if value is None or value == "" else str(value)


def add_items(session: Session, batch_id: str, items: Iterable[dict], consumed: int) -> list[str]:
    """Insert one chunk of items in bulk and record how far the manifest was read, in one transaction.

    Returns the IDs of the queued items; they wait undispatched for the caller to send them after the commit.
    """
    batch = lock_batch(session, batch_id)
    rows = [_item_row(batch, item) for item in items]
    if rows:
        session.execute(insert(Job), rows)
    batch.total += len(rows)
    batch.ingested += consumed
    session.commit()
    return [r["id"] for r in rows if r["status"] == JobStatus.QUEUED]


def lane_and_dedup(session: Session, batch_id: str) -> tuple[str, bool, str] | None:
    """The batch's priority, dedup setting and tenant, read as plain values (no object, no lock)."""
    row = session.execute(select(Batch.priority, Batch.dedup, Batch.tenant).where(Batch.id == batch_id)).first()
    return None if row is None else (row.priority, row.dedup, row.tenant)


def item_by_ref(session: Session, batch_id: str, ref: str) -> Job | None:
    query = select(Job).where(Job.batch_id == batch_id, Job.ref == ref).limit(1)
    return session.execute(query).scalar_one_or_none()


class NotOpen(Exception):
    """The batch does not exist, or takes no more uploads (closed, cancelled)."""


def join_upload(session: Session, batch_id: str, ref: str | None) -> tuple[int, Job | None]:
    """One more upload into an open batch: (its total counting this upload, None), the transaction left
    open for the caller to add the item and commit; or (0, the item this ref already has), rolled back:
    the same file again from a resumed client. Raises ``NotOpen``.

    The count is an UPDATE that checks the batch is open and comes before the ref is looked up. It holds
    the batch's row on Postgres, and the database's write lock on SQLite (which ignores FOR UPDATE), until
    the commit: uploads of one ref, and an upload and the batch's close, run one after the other on both.
    Counted in SQL, not in Python, so that no upload writes back a total it read before another's.
    """
    query = (update(Batch).where(Batch.id == batch_id, Batch.open.is_(True), Batch.status == INGESTING)
             .values(total=Batch.total + 1, ingested=Batch.ingested + 1).returning(Batch.total))
    total = session.execute(query, execution_options={"synchronize_session": False}).scalar_one_or_none()
    if total is None:
        session.rollback()
        raise NotOpen(batch_id)
    if ref and (earlier := item_by_ref(session, batch_id, ref)):
        session.rollback()
        return 0, earlier
    return total, None


def finish_ingest(session: Session, batch_id: str) -> None:
    batch = lock_batch(session, batch_id)
    if batch is not None and batch.status == INGESTING:
        batch.status, batch.open = RUNNING, False
        complete_if_done(session, batch_id)
    session.commit()


def fail_ingest(session: Session, batch_id: str, error: str) -> None:
    """The manifest could not be read past some point: keep what was created, say why."""
    batch = lock_batch(session, batch_id)
    if batch is not None:
        batch.error = error
    session.commit()
    finish_ingest(session, batch_id)


def counts(session: Session, batch_id: str) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).where(Job.batch_id == batch_id).group_by(Job.status))
    found = dict(rows.all())
    return {status.value: int(found.get(status.value, 0)) for status in JobStatus}


def reused_count(session: Session, batch_id: str) -> int:
    query = select(func.count()).where(Job.batch_id == batch_id, Job.reused_from.is_not(None))
    return int(session.execute(query).scalar_one())


def complete_if_done(session: Session, batch_id: str) -> None:
    """Mark the batch completed once it is fully ingested and no item is left to run (caller commits)."""
    # The lock comes first: two last items finishing at once must not each see the other still running.
    batch = lock_batch(session, batch_id)
    if batch is None or batch.status != RUNNING or _has_pending(session, batch_id):
        return
    batch.status, batch.finished_at = COMPLETED, now()
    webhooks.add_batch_event(session, batch, counts(session, batch_id), get_settings().public_url)


def _has_pending(session: Session, batch_id: str) -> bool:
    """An index lookup (batch_id, status), so finishing an item costs the same in a batch of any size."""
    query = select(Job.id).where(Job.batch_id == batch_id,
                                 Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])).limit(1)
    return session.execute(query).first() is not None


def cancel(session: Session, batch_id: str) -> int:
    """Cancel the batch's queued items (running ones finish). Returns how many were cancelled."""
    batch = lock_batch(session, batch_id)
    if batch is None or batch.status in (COMPLETED, CANCELED):
        session.rollback()
        return 0
    # Rows a worker holds are being started or finished right now: skipping them (instead of waiting)
    # avoids a deadlock with that worker, which locks its jobs first and this batch second.
    queued = (select(Job.id).where(Job.batch_id == batch_id, Job.status == JobStatus.QUEUED)
              .with_for_update(skip_locked=True))
    result = session.execute(
        update(Job).where(Job.id.in_(queued.scalar_subquery()), Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELED, error_code="canceled", error_message="the batch was cancelled",
                finished_at=now(), updated_at=now()))
    batch.status, batch.finished_at, batch.open = CANCELED, now(), False
    session.commit()
    return result.rowcount


def delete(session: Session, store, batch_id: str) -> None:
    """Remove a batch, its items and their stored media (uploads, the manifest). Queued items are cancelled
    first so that no worker starts them; a running one finishes into nothing (its row is gone). Media goes
    before rows, a page at a time: a crash leaves rows whose media is already gone, never orphaned media."""
    cancel(session, batch_id)
    after = ""
    while keys := _item_blobs(session, batch_id, after):
        for job_id, key, result in keys:
            for found in [key, *heatmaps.stored_keys(job_id, result)]:  # the upload, then its pictures
                if found:
                    store.delete(found)
            after = job_id
    batch = lock_batch(session, batch_id)
    if batch is None:
        session.rollback()
        return
    if batch.manifest_key:
        store.delete(batch.manifest_key)
    # Explicitly, not by the foreign key's cascade: SQLite enforces foreign keys only when told to.
    session.execute(sa_delete(Job).where(Job.batch_id == batch_id))
    session.delete(batch)
    session.commit()


def _item_blobs(session: Session, batch_id: str, after: str, limit: int = 500) -> list[tuple[str, str | None, dict]]:
    """Items with something stored: an upload, or a result that may link pictures (``core.heatmaps``)."""
    query = (select(Job.id, Job.blob_key, Job.result)
             .where(Job.batch_id == batch_id, or_(Job.blob_key.is_not(None), Job.result.is_not(None)), Job.id > after)
             .order_by(Job.id).limit(limit))
    return [(job_id, key, result) for job_id, key, result in session.execute(query)]


def result_rows(session: Session, batch_id: str, after: str | None, limit: int) -> Iterator[dict]:
    """One export row per item, in a stable order (by job ID) starting after the cursor ``after``."""
    query = select(Job).where(Job.batch_id == batch_id).order_by(Job.id).limit(limit)
    if after:
        query = query.where(Job.id > after)
    for job in session.execute(query).scalars():
        result = job.result or {}
        yield {"ref": job.ref, "job_id": job.id, "status": job.status, "verdict": result.get("verdict"),
               "score": result.get("score"), "error_code": job.error_code, "error_message": job.error_message,
               "reused": job.reused_from is not None, "sha256": job.sha256}


def is_terminal(status: str) -> bool:
    return JobStatus(status) in TERMINAL
