"""The bulk lane: a message carries a group of job IDs and the worker runs them together.

Per small image the fixed costs of a job (a message, a start and a finish
transaction, a download, a model call) outweigh the analysis itself, so a group
shares them: one transaction starts every job, downloads run on threads while
the worker analyses what has arrived, the faces of all images go through the
model in one call, and one transaction finishes every job. Each job still ends
on its own terms: one bad file fails alone, with its own code.

A group delivered again (its worker died) runs job by job through ``run_job``,
each finished in its own transaction, so a file that kills its worker fails
alone as ``worker_lost`` instead of taking the group with it.
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from celery import Task

from core import db, jobs
from core.analysis import limits
from core.db import session_scope
from core.settings import Settings, get_settings
from core.tables import Job
from pipeline import ErrorCode, ImageBatch, MediaError, file_sha256, media_type
from workers import heartbeat, runtime
from workers.celery_app import PROCESS_JOBS, app
from workers.media import fetch_media
from workers.outcome import finish_group
from workers.retry import retry_on_database_error
from workers.tasks import analyze_local, run_job

log = logging.getLogger(__name__)
CRASHED = (ErrorCode.INTERNAL_ERROR, "an internal error stopped this job")
# A look-up (~1-3 ms) finishes while the item before it is analysed (~10 ms per small image).
LOOKUP_AHEAD = 2


@app.task(name=PROCESS_JOBS, bind=True)
def process_jobs(self: Task, job_ids: list[str]) -> None:
    with retry_on_database_error(self):
        run_jobs(job_ids)


@dataclass
class _Fetched:
    """One job's media on disk (``path``, ``sha256``), or why it could not be read."""

    job: Job
    path: Path | None = None
    sha256: str | None = None
    error: tuple[str, str] | None = None


def run_jobs(job_ids: list[str]) -> None:
    """Run a group of jobs to their terminal states (a long video may go on in segments)."""
    with session_scope() as session:
        started = jobs.start_group(session, job_ids, worker=heartbeat.worker_id())
    if started is None:
        log.info("group of %d delivered again: running its jobs one by one", len(job_ids))
        for job_id in job_ids:
            run_job(job_id)
        return
    if started:
        with heartbeat.beating([job.id for job in started]):
            outcomes = _outcomes(started, get_settings())
        finish_group(outcomes)


def _outcomes(started: list[Job], settings: Settings) -> list[jobs.Outcome]:
    key, group = _model_key(), _Group(settings, [job.id for job in started])
    # Uploads were hashed at submission: a repeat among them needs no download at all.
    known = _stored_results({job: job.sha256 for job in started if job.sha256 and job.dedup}, key)
    for job, result in known.items():
        group.reuse(job, result)
    with tempfile.TemporaryDirectory(prefix="deepfake-group-") as folder:
        for item, stored in _arrivals([job for job in started if job not in known], settings, Path(folder), key):
            group.take(item, stored)
            if item.path is not None:
                item.path.unlink(missing_ok=True)  # images keep only their face crops: disk stays bounded
    return group.finish()


def _model_key() -> str:
    spec = runtime.classifier().spec
    return jobs.model_key(spec.name, spec.version)


def _stored_results(hashes: dict[Job, str], key: str) -> dict[Job, dict]:
    """Jobs whose bytes this model version already analysed for their tenant → that result, marked as
    reused (one query)."""
    if not hashes:
        return {}
    with session_scope() as session:
        found = jobs.find_reusable_many(session, wanted={(job.tenant, sha) for job, sha in hashes.items()}, key=key)
        return {job: jobs.reused_result(found[(job.tenant, sha)])
                for job, sha in hashes.items() if (job.tenant, sha) in found}


class _Group:
    """One group while its media arrives: the outcomes so far, and the images waiting for the model."""

    def __init__(self, settings: Settings, job_ids: list[str]):
        self.settings = settings
        self.position = {job_id: i for i, job_id in enumerate(job_ids)}
        self.outcomes: list[jobs.Outcome] = []
        self.images = ImageBatch(runtime.classifier(), limits(settings))
        self.in_batch: list[_Fetched] = []  # the items added to ``images``, in order
        # (tenant, sha256) of an image in the batch → later jobs of that tenant with those bytes. A group may
        # mix tenants (the dispatcher groups by lane): one tenant's job never reuses another's analysis.
        self.repeats: dict[tuple[str, str], list[Job]] = {}

    def reuse(self, job: Job, result: dict) -> None:
        self.outcomes.append(jobs.Outcome(job.id, result, reused_from=result["reused_from"]))

    def take(self, item: _Fetched, stored: dict | None) -> None:
        """One arrived item: failed, reused, a repeat of an image in the batch, or analysed."""
        if item.error:
            self.outcomes.append(jobs.Outcome(item.job.id, error=item.error))
        elif stored is not None:
            self.reuse(item.job, stored)
        elif _same_bytes(item) in self.repeats and item.job.dedup:
            self.repeats[_same_bytes(item)].append(item.job)
        else:
            self._analyze(item)

    def _analyze(self, item: _Fetched) -> None:
        """Add an image to the batch, or analyse a video now; a MediaError is the job's outcome."""
        try:
            found = media_type(item.path)
            if found.kind == "image":
                self.images.add(item.path, found, item.sha256)
                self.in_batch.append(item)
                self.repeats[_same_bytes(item)] = []
                return
            result = analyze_local(item.job, item.path, self.settings)
            if result is not None:  # None: a long video handed out in segments; the last one finishes it
                self.outcomes.append(jobs.Outcome(item.job.id, {"reused": False, **result}))
        except MediaError as exc:
            self.outcomes.append(jobs.Outcome(item.job.id, error=(exc.code, exc.message)))
        except Exception as exc:
            if db.unavailable(exc):
                raise  # the group is retried (workers.retry), not failed
            log.exception("job %s crashed", item.job.id)
            self.outcomes.append(jobs.Outcome(item.job.id, error=CRASHED))

    def finish(self) -> list[jobs.Outcome]:
        """Every face of the batch through the model at once; repeats share their first's result."""
        return self.outcomes + self._classified()

    def _classified(self) -> list[jobs.Outcome]:
        if not self.in_batch:
            return []
        try:
            with runtime.inference_lock():
                results = self.images.results()
        except Exception:
            log.exception("classifying a group of %d images crashed", len(self.in_batch))
            return [jobs.Outcome(job.id, error=CRASHED)
                    for item in self.in_batch for job in (item.job, *self.repeats[_same_bytes(item)])]
        outcomes = []
        for item, result in zip(self.in_batch, results, strict=True):
            # Downloads finish in any order: of the jobs with these bytes, the first in the group is the
            # analysis and the others reuse it, whichever arrived first. A job with dedup off never reuses:
            # when it was the one analysed, it stays the analysis.
            first, *repeats = (item.job, *self.repeats[_same_bytes(item)])
            if item.job.dedup:
                first, *repeats = sorted((first, *repeats), key=lambda job: self.position[job.id])
            outcomes.append(jobs.Outcome(first.id, {"reused": False, **result}))
            outcomes += [jobs.Outcome(repeat.id, {**result, "reused": True, "reused_from": first.id},
                                      reused_from=first.id) for repeat in repeats]
        return outcomes


def _same_bytes(item: _Fetched) -> tuple[str, str]:
    """What makes two items of a group repeats of each other: the same tenant and the same bytes."""
    return item.job.tenant, item.sha256


def _arrivals(started: list[Job], settings: Settings, folder: Path, key: str) -> Iterator[tuple[_Fetched, dict | None]]:
    """The jobs' media as it arrives, each with the stored result its bytes already have (dedup), or None.

    Downloads run on ``fetch_threads`` threads and the dedup look-ups on one more. A look-up starts only
    when fewer than ``LOOKUP_AHEAD`` items are ready to analyse, and takes every download finished by then:
    the analysing thread waits only when nothing is ready, and a group costs a few queries, not one per
    file (downloads finish one per analysed item once a group is under way). At most ``fetch_threads``
    files are downloading or waiting on disk to be taken.
    """
    downloads, lookups = _pool(settings.fetch_threads), _lookup_thread()
    waiting, running, unchecked, ready = deque(started), set(), [], deque()
    lookup: Future | None = None
    untaken = 0  # files downloading, downloaded, or looked up, not yet yielded
    while waiting or untaken:
        while waiting and untaken < settings.fetch_threads:
            running.add(downloads.submit(_fetch_one, waiting.popleft(), settings, folder))
            untaken += 1
        if lookup is None and unchecked and len(ready) < LOOKUP_AHEAD:
            lookup, unchecked = lookups.submit(_looked_up, unchecked, key), []
        pending = running | ({lookup} if lookup else set())
        for future in wait(pending, timeout=0 if ready else None, return_when=FIRST_COMPLETED).done:
            if future is lookup:
                ready.extend(future.result())
                lookup = None
                continue
            running.discard(future)
            item = future.result()
            if item.sha256 and item.job.dedup:
                unchecked.append(item)
            else:
                ready.append((item, None))
        if ready:
            untaken -= 1
            yield ready.popleft()


def _looked_up(items: list[_Fetched], key: str) -> list[tuple[_Fetched, dict | None]]:
    """Runs on the look-up thread: each item with its stored result, or None."""
    stored = _stored_results({item.job: item.sha256 for item in items}, key)
    return [(item, stored.get(item.job)) for item in items]


def _fetch_one(job: Job, settings: Settings, folder: Path) -> _Fetched:
    """Runs on a download thread: the file and its hash, or why it could not be read."""
    try:
        path = folder / job.id
        fetch_media(job, settings, path)
        return _Fetched(job, path=path, sha256=file_sha256(path))
    except MediaError as exc:
        return _Fetched(job, error=(exc.code, exc.message))
    except Exception:
        log.exception("fetching job %s crashed", job.id)
        return _Fetched(job, error=CRASHED)


@lru_cache(maxsize=1)
def _pool(threads: int) -> ThreadPoolExecutor:
    # Created on first use, so in the worker child after the fork, never in the parent.
    return ThreadPoolExecutor(threads, thread_name_prefix="fetch")


@lru_cache(maxsize=1)
def _lookup_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="dedup")
