"""Batch ingestion: read a manifest as a stream, expand S3 prefixes page by page, create items in bulk;
and the dispatcher that sends batch items to the workers.

Items are inserted 500 at a time and dispatched after each commit (bulk items
in groups, see ``enqueue_jobs``), at no more than ``DEEPFAKE_INGEST_RATE``
items per second, so a million-line manifest never sits in memory and never
floods Redis or Postgres. The batch records how
many items it has created; a task that dies mid-way resumes after them.

An item is created undispatched and marked dispatched only after its message is
sent (``dispatch_items``). Whatever stops in between (a worker or API process
killed, Redis unreachable), the beat's ``dispatch_stragglers`` sends what has
waited longer than ``DEEPFAKE_DISPATCH_GRACE_S``: no item is left queued with no
message. Files uploaded into an open batch wait the same way until a group's
worth has arrived, so they travel in groups too.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from core import batches, jobs
from core.blobs import default_blob_store, s3_client
from core.clock import now
from core.db import session_scope
from core.settings import Settings, get_settings
from core.sources import FORBIDDEN_SOURCE, ForbiddenSource, check_s3_prefix_uri
from core.tables import Batch
from workers.celery_app import DISPATCH_ITEMS, INGEST_BATCH, INTERACTIVE_QUEUE, app, enqueue_jobs

log = logging.getLogger(__name__)
CHUNK = 500


def manifest_entries(path: Path) -> Iterator[dict]:
    """Entries of a JSON-lines or CSV manifest, one at a time. A line that is not valid is an entry
    of its own (``{"invalid": line}``) so that it becomes a failed item rather than stopping the batch."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.lstrip().startswith("{"):
            for line in f:
                if line.strip():
                    yield _json_entry(line)
        else:
            yield from csv.DictReader(f)


def _json_entry(line: str) -> dict:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        entry = None
    if isinstance(entry, dict):
        return entry
    text = line.strip()[:200]
    return batches.FailedEntry(batches.INVALID_ITEM, f"not a JSON object: {text}", None, None)


def expand(entries: Iterator[dict], settings: Settings) -> Iterator[dict]:
    """Items with an ``s3_prefix`` become one item per object, listed page by page."""
    for entry in entries:
        prefix = entry.get("s3_prefix")
        if not prefix:
            yield entry
            continue
        ref = entry.get("ref") or prefix
        try:
            bucket, key_prefix = check_s3_prefix_uri(prefix, settings)
        except ForbiddenSource as exc:  # refused before any request: one failed item, the bucket never asked
            yield batches.FailedEntry(FORBIDDEN_SOURCE, str(exc), prefix, ref, "s3")
            continue
        except ValueError as exc:
            yield batches.FailedEntry(batches.INVALID_ITEM, str(exc), prefix, ref, "s3")
            continue
        try:
            pages = s3_client(settings).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    if not obj["Key"].endswith("/"):
                        yield {"s3_uri": f"s3://{bucket}/{obj['Key']}", "ref": obj["Key"]}
        except Exception as exc:  # a prefix that cannot be listed is one failed item, not a failed batch
            yield batches.FailedEntry(batches.LIST_FAILED, f"cannot list {prefix}: {exc}", prefix, ref, "s3")


class _RateLimit:
    def __init__(self, per_second: float):
        self.interval, self.next = 1.0 / per_second, time.monotonic()

    def wait(self, items: int = 1) -> None:
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + items * self.interval


@app.task(name=INGEST_BATCH)
def ingest_batch(batch_id: str) -> int:
    """Create and queue the batch's items from its manifest. Safe to run again: it resumes."""
    settings = get_settings()
    with session_scope() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.status != batches.INGESTING or batch.open:
            return 0
        skip, key = batch.ingested, batch.manifest_key
    created = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest"
        default_blob_store().download_to(key, path)
        items = expand(manifest_entries(path), settings)
        for _ in range(skip):
            next(items, None)
        limit = _RateLimit(settings.ingest_rate)
        while chunk := [item for _, item in zip(range(CHUNK), items, strict=False)]:
            with session_scope() as session:
                queued = batches.add_items(session, batch_id, chunk, consumed=len(chunk))
            limit.wait(len(queued))
            dispatch_items(batch_id)
            created += len(chunk)
    with session_scope() as session:
        batches.finish_ingest(session, batch_id)
    log.info("batch %s: %d items created", batch_id, created)
    return created


def enqueue_ingest(batch_id: str) -> None:
    app.send_task(INGEST_BATCH, args=[batch_id], queue=INTERACTIVE_QUEUE)


def dispatch_items(batch_id: str | None = None, *, at_least: int = 1, created_before: datetime | None = None,
                   limit: int = 500) -> int:
    """Send undispatched queued items (of one batch, or any), ``limit`` at a time, bulk ones in groups;
    stop when fewer than ``at_least`` are waiting. Each round is one transaction: send, then mark.
    Returns how many items were sent."""
    sent = 0
    while True:
        with session_scope() as session:
            waiting = jobs.undispatched(session, limit=limit, batch_id=batch_id, created_before=created_before)
            if len(waiting) < at_least or not waiting:
                return sent
            for priority in {priority for _, priority in waiting}:
                enqueue_jobs([job_id for job_id, p in waiting if p == priority], priority)
            jobs.mark_dispatched(session, [job_id for job_id, _ in waiting])
        sent += len(waiting)
        if len(waiting) < limit:
            return sent


@app.task(name=DISPATCH_ITEMS)
def dispatch_stragglers() -> int:
    """Run by the beat: items left undispatched past the grace period, whatever left them."""
    settings = get_settings()
    sent = dispatch_items(created_before=now() - timedelta(seconds=settings.dispatch_grace_s))
    if sent:
        log.info("dispatched %d waiting batch items", sent)
    return sent
