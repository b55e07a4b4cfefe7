"""Bring a job's media to a local temporary file, whatever its source."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import httpx

from core.blobs import BlobNotFound, BlobTooLarge, blob_store, download_s3_object, s3_client
from core.netguard import BadScheme, ForbiddenURL, Resolver, Unresolvable, check_url, pinned
from core.settings import Settings
from core.sources import FORBIDDEN_SOURCE, ForbiddenSource, check_s3_object
from core.tables import Job
from pipeline import ErrorCode, MediaError

REDIRECTS = (301, 302, 303, 307, 308)


def _fetch_url(url: str, dest: Path, settings: Settings, resolve: Resolver | None = None) -> None:
    """Stream a URL to disk. Every hop (the URL, then each redirect, at most ``url_max_redirects``) is
    checked and connected to at the address the check saw, never resolved again. Raises ``MediaError``:
    ``forbidden_url`` ("refused", nothing more), ``source_not_found``, ``fetch_failed`` (also for a host that
    does not resolve) or ``too_large``."""
    with httpx.Client(timeout=settings.url_fetch_timeout_s, follow_redirects=False) as client:
        for _ in range(settings.url_max_redirects + 1):
            with _pinned_get(client, url, settings, resolve) as resp:
                if resp.status_code in REDIRECTS and resp.headers.get("location"):
                    url = urljoin(url, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    code = ErrorCode.SOURCE_NOT_FOUND if resp.status_code in (404, 410) else ErrorCode.FETCH_FAILED
                    raise MediaError(code, f"GET {url} answered {resp.status_code}")
                _write_body(resp, dest, settings.max_upload_bytes, time.monotonic() + settings.url_fetch_max_s)
                return
    raise MediaError(ErrorCode.FETCH_FAILED, f"more than {settings.url_max_redirects} redirects")


@contextmanager
def _pinned_get(client: httpx.Client, url: str, settings: Settings, resolve: Resolver | None) -> Iterator:
    """One GET of ``url``, sent to the address that passed the check (a streamed response)."""
    try:
        address = check_url(url, settings.allow_private_urls, resolve)[0]
    except BadScheme as exc:  # a redirect to ftp:// or file://: no setting lets it in
        raise MediaError(ErrorCode.FORBIDDEN_URL, f"{url}: {exc}") from exc
    except ForbiddenURL as exc:
        raise MediaError(ErrorCode.FORBIDDEN_URL, f"{url}: {exc}: media URLs must be public http(s) addresses; "
                         "DEEPFAKE_ALLOW_PRIVATE_URLS=true lets loopback and private ones in (local testing)") from exc
    except Unresolvable as exc:
        raise MediaError(ErrorCode.FETCH_FAILED, f"{url}: {exc}") from exc
    target, headers, extensions = pinned(url, address)
    try:
        with client.stream("GET", target, headers=headers, extensions=extensions) as resp:
            yield resp
    except httpx.HTTPError as exc:
        raise MediaError(ErrorCode.FETCH_FAILED, f"GET {url} failed: {type(exc).__name__}") from exc


def _write_body(resp: httpx.Response, dest: Path, max_bytes: int, deadline: float) -> None:
    """The body to ``dest``, refused past ``max_bytes`` or past ``deadline`` (a monotonic time): the
    per-read timeout alone would let a server that drips a byte at a time hold a worker for ever."""
    size = 0
    with open(dest, "wb") as out:
        for chunk in resp.iter_bytes():  # as the bytes arrive: a fixed chunk size would wait to fill it
            size += len(chunk)
            if size > max_bytes:
                raise MediaError(ErrorCode.TOO_LARGE, f"over the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise MediaError(ErrorCode.FETCH_FAILED, "the download took too long")
            out.write(chunk)


def _fetch_s3(uri: str, dest: Path, settings: Settings) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:  # checked at submission too; again here, in case the allow-list has narrowed since
        bucket, key = check_s3_object(uri, settings)
    except ForbiddenSource as exc:
        raise MediaError(FORBIDDEN_SOURCE, str(exc)) from exc
    try:
        download_s3_object(s3_client(settings), bucket, key, dest, settings.max_upload_bytes)
    except BlobNotFound as exc:
        raise MediaError(ErrorCode.SOURCE_NOT_FOUND, f"{uri} does not exist") from exc
    except BlobTooLarge as exc:
        raise MediaError(ErrorCode.TOO_LARGE, str(exc)) from exc
    except (ClientError, BotoCoreError) as exc:
        raise MediaError(ErrorCode.FETCH_FAILED, f"reading {uri} failed: {exc}") from exc


def fetch_media(job: Job, settings: Settings, dest: Path) -> None:
    """Write the job's media to ``dest``. Raises ``MediaError`` when the source cannot be read."""
    if job.source_kind == "upload":
        try:
            blob_store(settings).download_to(job.blob_key, dest)
        except BlobNotFound as exc:
            raise MediaError(ErrorCode.SOURCE_NOT_FOUND, "the uploaded media is gone") from exc
    elif job.source_kind == "url":
        _fetch_url(job.source_uri, dest, settings)
    else:
        _fetch_s3(job.source_uri, dest, settings)


@contextmanager
def local_media(job: Job, settings: Settings) -> Iterator[Path]:
    """The job's media as a temporary file, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="deepfake-") as tmp:
        dest = Path(tmp) / "media"
        fetch_media(job, settings, dest)
        yield dest
