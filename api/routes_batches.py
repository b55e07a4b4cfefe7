"""``/v1/batches``: submit a backlog, list a tenant's batches, follow one, export its results, cancel it."""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from api.auth import JobsCaller
from api.deps import BlobStoreDep, SessionDep, SettingsDep
from api.errors import ApiError, invalid
from api.schemas import BatchOut, BatchPage, BatchRequest
from api.upload import check_fields, receive_upload
from api.urls import check_receiver_url
from core import batches, batchlist, sources, tenancy
from core.joblist import BadListRequest
from core.keys import Principal
from core.tables import Batch
from pipeline.classifier import model_identity
from workers.batches import dispatch_items, enqueue_ingest

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/batches", tags=["batches"])
# The text fields a manifest upload takes beside ``manifest`` (``items`` and ``open`` are JSON only).
MANIFEST_FIELDS = ("callback_url", "priority", "dedup", "model")
EXPORT_COLUMNS = ["ref", "job_id", "status", "verdict", "score", "error_code", "error_message", "reused", "sha256"]


def _batch(session, batch_id: str, caller: Principal) -> Batch:
    """The caller's batch, or 404 (also for another tenant's: existence is not revealed)."""
    batch = tenancy.owned(session, Batch, batch_id, caller)
    if batch is None:
        raise ApiError(404, "not_found", f"no batch {batch_id}")
    return batch


def _out(session, batch: Batch) -> BatchOut:
    return BatchOut.build(batch, batches.counts(session, batch.id), batches.reused_count(session, batch.id))


async def _json_request(request: Request, tmp_dir: Path) -> tuple[BatchRequest, Path]:
    try:
        spec = BatchRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise invalid("invalid batch request", exc.errors()) from exc
    if not spec.items and not spec.open:  # it would "complete" at once with nothing done
        raise ApiError(422, "invalid_request", "a batch needs at least one item in items (or \"open\": true, "
                       "to upload files into it with POST /v1/jobs?batch_id=...)")
    fd, name = tempfile.mkstemp(prefix="manifest-", dir=tmp_dir)
    with open(fd, "w") as f:
        for item in spec.items:
            f.write(json.dumps(item) + "\n")
    return spec, Path(name)


async def _manifest_upload(request: Request, tmp_dir: Path, settings) -> tuple[BatchRequest, Path]:
    received, fields = await receive_upload(request.headers["content-type"], request.stream(), tmp_dir,
                                            settings.max_upload_bytes, file_field="manifest")
    try:
        check_fields(fields, MANIFEST_FIELDS, file_field="manifest")
        return BatchRequest.model_validate(fields), received.path
    except ValidationError as exc:
        received.path.unlink(missing_ok=True)
        raise invalid("invalid batch options", exc.errors()) from exc
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise


MANIFEST_FORM = {"type": "object", "required": ["manifest"], "properties": {
    "manifest": {"type": "string", "format": "binary",
                 "description": "JSON lines or CSV: one url, s3_uri or s3_prefix per line, with an optional ref"},
    "callback_url": {"type": "string"}, "priority": {"enum": ["interactive", "bulk"]},
    "dedup": {"type": "boolean"}, "model": {"type": "string"}}}


@router.post("", status_code=202, response_model=BatchOut, summary="Submit a backlog",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": BatchRequest.model_json_schema()},
                 "multipart/form-data": {"schema": MANIFEST_FORM}}}})
async def create_batch(request: Request, response: Response, session: SessionDep, store: BlobStoreDep,
                       settings: SettingsDep, caller: JobsCaller) -> BatchOut:
    """JSON ``{"items": [{"url"|"s3_uri"|"s3_prefix": ..., "ref": ...}], ...}``, or a multipart upload of a
    JSON-lines or CSV manifest (field ``manifest``, columns ``url``, ``s3_uri``, ``s3_prefix``, ``ref``).
    Options: ``callback_url`` (gets ``batch.completed``), ``priority`` (``bulk`` by default), ``dedup``,
    ``model`` (``name`` or ``name:version``: refused with 422 unless it is the model this service runs),
    and ``open`` (JSON only: the client will upload items with ``POST /v1/jobs`` and ``batch_id``)."""
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        spec, manifest = await _manifest_upload(request, tmp_dir, settings)
    elif content_type.startswith("application/json"):
        spec, manifest = await _json_request(request, tmp_dir)
    else:
        raise ApiError(422, "invalid_request", "send JSON with items (content-type: application/json), or a "
                       "multipart upload with the manifest in the field 'manifest' (curl -F manifest=@PATH)")
    try:
        _check_model(spec.model, settings)
        _check_sources(spec, settings)
        if spec.callback_url:
            await run_in_threadpool(check_receiver_url, str(spec.callback_url), settings)
        batch = await run_in_threadpool(_store_batch, session, store, spec, manifest, caller.tenant)
    finally:
        manifest.unlink(missing_ok=True)
    response.headers["Location"] = f"/v1/batches/{batch.id}"
    return _out(session, batch)


def _check_model(wanted: str | None, settings) -> None:
    """A batch that names a model runs on it or not at all: results from another model would not be what
    the client asked for. One model serves a deployment; a new version is a new deployment."""
    if wanted is None:
        return
    name, version = model_identity(settings.model_path, settings.inference_runtime)
    if wanted not in (name, f"{name}:{version}"):
        raise ApiError(422, "unknown_model", f"this service runs {name}:{version}, not {wanted}")


def _check_sources(spec: BatchRequest, settings) -> None:
    """Items given in the request are checked at once: an S3 object or prefix outside the allow-list
    refuses the whole batch with 422 ``forbidden_source``. (Items of an uploaded manifest are checked as
    it is read, and fail alone with that code.)"""
    for item in spec.items:
        try:
            if isinstance(item.get("s3_uri"), str) and item["s3_uri"].startswith("s3://"):
                sources.check_s3_object(item["s3_uri"], settings)
            if isinstance(item.get("s3_prefix"), str):
                sources.check_s3_prefix_uri(item["s3_prefix"], settings)
        except sources.ForbiddenSource as exc:
            raise ApiError(422, sources.FORBIDDEN_SOURCE, str(exc)) from exc
        except ValueError:
            continue  # malformed: the item fails alone with invalid_item, as before


def _store_batch(session, store, spec: BatchRequest, manifest: Path, tenant: str) -> Batch:
    batch = batches.create_batch(session, priority=spec.priority, dedup=spec.dedup, manifest_key=None,
                                 callback_url=str(spec.callback_url) if spec.callback_url else None,
                                 open_for_uploads=spec.open, tenant=tenant)
    if not spec.open:
        batch.manifest_key = f"manifests/{batch.id}"
        store.put_file(batch.manifest_key, manifest)
        session.commit()
        enqueue_ingest(batch.id)
    return batch


@router.get("", response_model=BatchPage, summary="List batches, newest first")
def list_batches(session: SessionDep, caller: JobsCaller, status: str | None = None, cursor: str | None = None,
                 limit: int = Query(50, ge=1, le=batchlist.MAX_LIMIT)) -> BatchPage:
    """The caller's tenant's batches (an admin key: every tenant's), each with the status, counts, progress,
    throughput and ETA of ``GET /v1/batches/{id}``. ``status``: ``ingesting``, ``running``, ``completed`` or
    ``canceled``; ``next_cursor`` (also ``links.next``) fetches the following page, as for ``GET /v1/jobs``."""
    try:
        page = batchlist.list_batches(session, caller, status=status, cursor=cursor, limit=limit)
    except BadListRequest as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    links = {"self": "/v1/batches"}
    if page.next_cursor:
        links["next"] = "/v1/batches?" + urlencode({**({"status": status} if status else {}), "limit": limit,
                                                    "cursor": page.next_cursor})
    return BatchPage(items=[BatchOut.build(b.batch, b.counts, b.reused) for b in page.batches],
                     next_cursor=page.next_cursor, links=links)


@router.get("/{batch_id}", response_model=BatchOut, summary="Counts, progress, throughput and ETA")
def get_batch(batch_id: str, session: SessionDep, caller: JobsCaller) -> BatchOut:
    return _out(session, _batch(session, batch_id, caller))


@router.post("/{batch_id}/close", response_model=BatchOut, summary="No more uploads into this open batch")
def close_batch(batch_id: str, session: SessionDep, caller: JobsCaller) -> BatchOut:
    batch = _batch(session, batch_id, caller)
    if not batch.open:
        raise ApiError(409, "not_open", "this batch is not open for uploads")
    batches.finish_ingest(session, batch_id)
    try:
        dispatch_items(batch_id)  # the uploads still waiting for a full group
    except Exception:
        log.exception("dispatching the last uploads of batch %s failed; the dispatcher will send them", batch_id)
    return _out(session, _batch(session, batch_id, caller))


@router.post("/{batch_id}/cancel", response_model=BatchOut, summary="Cancel the items still queued")
def cancel_batch(batch_id: str, session: SessionDep, caller: JobsCaller) -> BatchOut:
    _batch(session, batch_id, caller)
    batches.cancel(session, batch_id)
    return _out(session, _batch(session, batch_id, caller))


@router.delete("/{batch_id}", status_code=204, summary="Delete a batch, its items and their stored media")
def delete_batch(batch_id: str, session: SessionDep, store: BlobStoreDep, caller: JobsCaller) -> Response:
    _batch(session, batch_id, caller)
    batches.delete(session, store, batch_id)
    return Response(status_code=204)


def _export(rows: list[dict], fmt: str) -> Iterator[str]:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        yield buf.getvalue()
        return
    for row in rows:
        yield json.dumps(row) + "\n"


@router.get("/{batch_id}/results", summary="One row per item, as JSON lines or CSV, a page at a time")
def batch_results(batch_id: str, session: SessionDep, format: str = Query("jsonl", pattern="^(jsonl|csv)$"),
                  after: str | None = None, limit: int = Query(10_000, ge=1, le=100_000),
                  *, caller: JobsCaller) -> StreamingResponse:
    """Rows ordered by job ID. When more rows remain, ``X-Next-Cursor`` is the ``after`` of the next page."""
    _batch(session, batch_id, caller)
    rows = list(batches.result_rows(session, batch_id, after, limit))
    headers = {"X-Next-Cursor": rows[-1]["job_id"]} if len(rows) == limit else {}
    media_type = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(_export(rows, format), media_type=media_type, headers=headers)
