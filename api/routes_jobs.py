"""``/v1/jobs``: submit media, poll a job, delete it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.auth import JobsCaller
from api.deps import BlobStoreDep, SessionDep, SettingsDep
from api.errors import ApiError, invalid
from api.schemas import JobOut, JobRequest
from api.upload import ReceivedFile, check_fields, receive_upload
from api.urls import check_receiver_url
from core import batches, heatmaps, jobs, retention, sources, tenancy, webhooks
from core.blobs import BlobStore
from core.keys import Principal
from core.tables import Job
from core.text import storable
from pipeline.classifier import model_identity
from pipeline.errors import ErrorCode
from pipeline.sniff import accepted_formats, sniff
from workers.batches import dispatch_items
from workers.celery_app import enqueue_job, queue_depth
from workers.webhooks import enqueue_deliveries

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
# Multipart framing around the file: allowed on top of the size limit before refusing by header.
MULTIPART_SLACK = 64 * 1024
SUPPORTED_KINDS = {"image", "video"}


def _check_declared_length(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MULTIPART_SLACK:
        raise ApiError(413, "too_large", f"the upload is over the limit of {max_bytes} bytes")


def _media_type(received: ReceivedFile) -> str:
    if received.size == 0:
        raise ApiError(415, ErrorCode.EMPTY_FILE, "the file is empty")
    media = sniff(received.head)
    if media is None or media.kind not in SUPPORTED_KINDS:
        what = media.mime if media else "this file type"
        raise ApiError(415, "unsupported_media",
                       f"{what} is not supported; send an image ({accepted_formats('image')}) "
                       f"or a video ({accepted_formats('video')})")
    return media.mime


PRIORITIES = ("interactive", "bulk")
# The text fields an upload takes beside ``file``; any other is refused, never silently dropped.
FORM_FIELDS = ("callback_url", "priority", "dedup", "retain_media", "explain", "batch_id", "ref")


def _check_form(fields: dict[str, str]) -> None:
    sources_given = sorted(set(fields) & {"url", "s3_uri"})
    if sources_given:
        raise ApiError(422, "invalid_request", f"send either a file (multipart, field 'file') or "
                       f"{' or '.join(sources_given)} (JSON), not both")
    check_fields(fields, FORM_FIELDS)


def _options(fields: dict[str, str]) -> dict:
    """``priority``, ``dedup`` and ``retain_media`` from upload form fields."""
    priority = fields.get("priority", "interactive")
    if priority not in PRIORITIES:
        raise ApiError(422, "invalid_request", f"priority must be one of {PRIORITIES}")
    explain = _flag(fields, "explain", "false")
    # A reused result has no heatmaps: a job that asks for them is analysed afresh.
    return {"priority": priority, "dedup": _flag(fields, "dedup") and not explain,
            "retain_media": _flag(fields, "retain_media"), "explain": explain}


def _flag(fields: dict[str, str], name: str, default: str = "true") -> bool:
    value = fields.get(name, default).lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_request", f"{name} must be true or false")
    return value in ("true", "1")


def _check_capacity(priority: str, settings) -> None:
    """Back-pressure: refuse new work while the lane's queue is past its limit, or cannot be reached."""
    try:
        depth = queue_depth(priority)
    except Exception as exc:
        log.warning("queue depth unavailable: %s", exc)
        raise ApiError(503, "broker_unavailable", "the job queue is unavailable; try again",
                       headers={"Retry-After": "5"}) from exc
    if depth >= settings.max_queue_depth:
        raise ApiError(429, "queue_full", f"the {priority} queue is full; retry later",
                       headers={"Retry-After": "30"})


def _check_text(values: dict[str, str]) -> None:
    """Refused here, with the field's name, rather than by Postgres at the insert."""
    bad = sorted(name for name, value in values.items() if not storable(value))
    if bad:
        raise ApiError(422, "invalid_request", f"{', '.join(bad)} must be text without NUL characters")


async def _accept_upload(request: Request, session, store: BlobStore, settings, caller: Principal) -> Job:
    in_url = {k: request.query_params[k] for k in ("batch_id", "ref") if k in request.query_params}
    _check_text(in_url)
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    try:
        _check_declared_length(request, settings.max_upload_bytes)
        received, fields = await receive_upload(
            request.headers["content-type"], request.stream(), tmp_dir, settings.max_upload_bytes
        )
    except ApiError as exc:
        if exc.status != 413 or "batch_id" not in in_url:
            raise
        # Into a batch named in the URL, a file over the size limit is one failed item too, its body unread.
        return await run_in_threadpool(_record_refused, session, exc,
                                       {**_options({}), **in_url, "tenant": caller.tenant}, caller)
    try:
        _check_form(fields)
        _check_text(fields)
        options = {**_options(fields), "tenant": caller.tenant}
        batch_fields = {k: fields[k] for k in ("batch_id", "ref") if fields.get(k)} or in_url
        if batch_fields.get("batch_id"):
            options.update(batch_id=batch_fields["batch_id"], ref=batch_fields.get("ref"))
        try:
            mime = _media_type(received)
        except ApiError as exc:
            if not options.get("batch_id"):
                raise
            # Into a batch, a file that is not media is one failed item, in the export with its code:
            # the rest of the backlog goes on.
            return await run_in_threadpool(_record_refused, session, exc, options, caller, received)
        callback_url = fields.get("callback_url") or None
        # Checks, storing, recording and queueing block: one trip to a thread keeps the event loop serving.
        return await run_in_threadpool(_store_and_queue, session, store, received, mime, callback_url, options,
                                       settings, caller)
    finally:
        received.path.unlink(missing_ok=True)


def _not_open(batch_id: str) -> ApiError:
    return ApiError(409, "not_open", f"batch {batch_id} does not exist or is not open for uploads")


def _take_batch_options(session, options: dict, caller: Principal) -> None:
    """An upload into a batch runs on the batch's lane with its dedup setting (set at creation, so read
    without a lock) and belongs to the batch's tenant. Another tenant's batch is answered as a missing one."""
    if options.get("batch_id"):
        found = batches.lane_and_dedup(session, options["batch_id"])
        if found is None or not tenancy.may_see(caller, found[2]):
            raise _not_open(options["batch_id"])
        options.update(priority=found[0], dedup=found[1], tenant=found[2])


def _join_batch(session, options: dict) -> tuple[int, Job | None]:
    """For an upload into an open batch: (its items counting this one, None), the batch held until the
    commit; or (0, the item this ref already has: the same upload again from a resumed client).
    (0, None) for an upload outside any batch."""
    if not options.get("batch_id"):
        return 0, None
    try:
        return batches.join_upload(session, options["batch_id"], options.get("ref"))
    except batches.NotOpen:
        raise _not_open(options["batch_id"]) from None


def _record_refused(session, refusal: ApiError, options: dict, caller: Principal,
                    received: ReceivedFile | None = None) -> Job:
    """A batch item whose file the service will not analyse: created failed, with the refusal's code."""
    _take_batch_options(session, options, caller)
    _, earlier = _join_batch(session, options)
    if earlier is not None:
        return earlier
    seen = {"filename": received.filename, "size_bytes": received.size, "sha256": received.sha256} if received else {}
    job = jobs.create_job(session, source_kind="upload", dispatched=False, **seen, **options)
    session.flush()
    failed = jobs.fail(session, job.id, refusal.code, refusal.message)
    enqueue_deliveries(webhooks.unsent_deliveries(session, [job.id]))
    return failed


@dataclass(frozen=True)
class _Recorded:
    job: Job
    uploaded: int = 0  # uploads into its batch so far, this one counted
    ref_seen: bool = False  # the batch had this ref already: ``job`` is that earlier item
    reused: bool = False  # finished in this request with an earlier analysis of the same bytes


def _store_and_queue(session, store: BlobStore, received: ReceivedFile, mime: str, callback_url: str | None,
                     options: dict, settings, caller: Principal) -> Job:
    if callback_url:
        check_receiver_url(callback_url, settings)
    job_id = jobs.new_job_id()
    blob_key = f"uploads/{job_id}"
    # Stored before the batch is held: parallel uploads into one batch must not queue behind each other's
    # trip to the store.
    store.put_file(blob_key, received.path)
    try:
        recorded = _record_upload(session, job_id, blob_key, received, mime, callback_url, options, settings,
                                  caller)
    except BaseException:
        _forget_blob(store, blob_key)  # nothing was recorded: no row will point at this blob
        raise
    if recorded.ref_seen:
        _forget_blob(store, blob_key)
        return recorded.job
    if recorded.reused:
        enqueue_deliveries(webhooks.unsent_deliveries(session, [job_id]))
        if not options["retain_media"]:  # finished already: its media goes now, as a worker's job would
            retention.drop_media(session, store, [job_id])
    if options.get("batch_id"):
        # Even a reused upload may be the one that completes a group of the items waiting before it.
        _dispatch_when_grouped(options["batch_id"], recorded.uploaded, options["priority"], settings)
    elif not recorded.reused:
        _enqueue(session, job_id, options["priority"])
    return recorded.job


def _record_upload(session, job_id: str, blob_key: str, received: ReceivedFile, mime: str,
                   callback_url: str | None, options: dict, settings, caller: Principal) -> _Recorded:
    """The upload's job, committed: queued, or succeeded with an earlier result; or its ref's earlier item."""
    _take_batch_options(session, options, caller)
    _check_capacity(options["priority"], settings)
    earlier = (_earlier_result(session, received.sha256, job_id, options["tenant"], settings)
               if options["dedup"] else None)
    # Only now the batch is held, until the commit: the other uploads into it wait that long.
    uploaded, earlier_item = _join_batch(session, options)
    if earlier_item is not None:
        return _Recorded(earlier_item, ref_seen=True)
    job = jobs.create_job(session, job_id=job_id, source_kind="upload", blob_key=blob_key,
                          filename=received.filename, media_type=mime, size_bytes=received.size,
                          sha256=received.sha256, callback_url=callback_url,
                          dispatched=not options.get("batch_id"), **options)
    if earlier is not None:
        # Seen before by this model version: no queue, no worker; done in this request.
        jobs.reuse_result(session, job, earlier)
        return _Recorded(job, uploaded, reused=True)
    session.commit()
    return _Recorded(job, uploaded)


def _forget_blob(store: BlobStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # the request's own outcome matters more than a stray object
        log.exception("could not delete %s; it is referenced by no job", key)


def _dispatch_when_grouped(batch_id: str, uploaded: int, priority: str, settings) -> None:
    """Uploads into an open batch travel as bulk items do, in groups: the upload that completes a group
    sends it; closing the batch sends the rest. The job is stored either way: if Redis cannot be reached
    now, the beat's dispatcher sends it later, so the upload still succeeds."""
    size = settings.bulk_group_size if priority == "bulk" else 1
    if uploaded % size:
        return
    try:
        dispatch_items(batch_id, at_least=size)
    except Exception:
        log.exception("dispatching uploads of batch %s failed; the dispatcher will send them", batch_id)


def _earlier_result(session, sha256: str, job_id: str, tenant: str, settings) -> Job | None:
    name, version = model_identity(settings.model_path, settings.inference_runtime)
    return jobs.find_reusable(session, sha256=sha256, key=jobs.model_key(name, version), exclude_id=job_id,
                              tenant=tenant)


async def _accept_reference(request: Request, session, settings, caller: Principal) -> Job:
    try:
        spec = JobRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise invalid("invalid job request", exc.errors()) from exc
    kind, uri = ("url", str(spec.url)) if spec.url else ("s3", spec.s3_uri)
    callback_url = str(spec.callback_url) if spec.callback_url else None
    _check_source(kind, uri, settings)
    options = {"priority": spec.priority, "dedup": spec.dedup and not spec.explain, "retain_media": spec.retain_media,
               "explain": spec.explain, "tenant": caller.tenant}
    return await run_in_threadpool(_record_and_queue, session, kind, uri, callback_url, options, settings)


def _check_source(kind: str, uri: str, settings) -> None:
    """A URL over the length limit, or an S3 object outside the allow-list, is refused before anything
    is recorded or contacted."""
    if len(uri) > settings.max_url_length:
        raise ApiError(422, "invalid_request", f"the {kind} is longer than {settings.max_url_length} characters")
    if kind == "s3":
        try:
            sources.check_s3_object(uri, settings)
        except sources.ForbiddenSource as exc:
            raise ApiError(422, sources.FORBIDDEN_SOURCE, str(exc)) from exc


def _record_and_queue(session, kind: str, uri: str, callback_url: str | None, options: dict, settings) -> Job:
    _check_capacity(options["priority"], settings)
    if callback_url:
        check_receiver_url(callback_url, settings)
    job = jobs.create_job(session, source_kind=kind, source_uri=uri, callback_url=callback_url, **options)
    session.commit()
    _enqueue(session, job.id, options["priority"])
    return job


def _enqueue(session, job_id: str, priority: str) -> None:
    try:
        enqueue_job(job_id, priority)
    except Exception as exc:
        log.exception("enqueue of job %s failed", job_id)
        jobs.fail(session, job_id, "broker_unavailable", "the job could not be queued; submit it again")
        raise ApiError(503, "broker_unavailable", "the job queue is unavailable; try again",
                       headers={"Retry-After": "5"}) from exc


@router.post("", status_code=202, response_model=JobOut, summary="Submit media for analysis",
             openapi_extra={"requestBody": {"content": {
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {"file": {"type": "string", "format": "binary"},
                                                                   "callback_url": {"type": "string"},
                                                                   "priority": {"enum": ["interactive", "bulk"]},
                                                                   "dedup": {"type": "boolean"},
                                                                   "retain_media": {"type": "boolean"},
                                                                   "explain": {"type": "boolean"}}}},
                 "application/json": {"schema": JobRequest.model_json_schema()},
             }}})
async def submit_job(request: Request, response: Response, session: SessionDep, store: BlobStoreDep,
                     settings: SettingsDep, caller: JobsCaller) -> JobOut:
    """Upload a file (multipart field ``file``) or send JSON ``{"url": ...}`` / ``{"s3_uri": ...}``.

    ``callback_url`` (a form field, or a JSON key) receives a signed ``job.succeeded`` / ``job.failed`` event.
    ``priority``: ``interactive`` (default) or ``bulk``, a lane workers serve only when no interactive job waits.
    ``dedup`` (default true): media already analysed by the same model version for this tenant reuses that result.
    ``retain_media`` (default true): false deletes the stored upload as soon as the job ends.
    ``explain`` (default false): each face of a photo gets a Grad-CAM heatmap (``faces[n].heatmap``); such a job
    is never deduplicated.
    ``batch_id`` and ``ref`` (in the URL, or as form fields): an upload into an open batch, on its lane; there a
    file the service will not analyse (not media, empty, too large) becomes a failed item, not a refusal.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        job = await _accept_upload(request, session, store, settings, caller)
    elif content_type.startswith("application/json"):
        job = await _accept_reference(request, session, settings, caller)
    else:
        raise ApiError(422, "invalid_request", "send multipart/form-data with the media in the field 'file' "
                       "(curl -F file=@PATH), or JSON with url or s3_uri (content-type: application/json)")
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobOut.from_job(job)


@router.get("/{job_id}", response_model=JobOut, summary="A job's status and result")
def get_job(job_id: str, session: SessionDep, caller: JobsCaller) -> JobOut:
    job = tenancy.owned(session, Job, job_id, caller)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return JobOut.from_job(job)


@router.delete("/{job_id}", status_code=204, summary="Delete a job, its stored media and its result")
def delete_job(job_id: str, session: SessionDep, store: BlobStoreDep, caller: JobsCaller) -> Response:
    job = jobs.delete(session, job_id) if tenancy.owned(session, Job, job_id, caller) else None
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    for key in [job.blob_key, *heatmaps.stored_keys(job.id, job.result)]:
        if key:
            store.delete(key)
    return Response(status_code=204)
