"""Which S3 objects a job may read: the deployment's allow-list (``DEEPFAKE_S3_ALLOWED``).

Checked at submission (a 422 ``forbidden_source``), when a manifest item is created, before a
prefix is listed and again by the worker before it reads: a refused source is never contacted.

``DEEPFAKE_S3_ALLOWED`` is a comma-separated list of ``bucket`` or ``bucket/prefix`` entries.
Unset, it is the configured ``S3_BUCKET`` (no S3 configured: nothing is allowed, and boto3 is
never asked to find credentials). The service's own storage area (``S3_PREFIX`` in ``S3_BUCKET``,
where every tenant's uploads and manifests live) is refused whatever the list says: reading it
through an ``s3_uri`` would hand one tenant another's uploads.
"""

from __future__ import annotations

from core.blobs import parse_s3_uri
from core.settings import Settings

FORBIDDEN_SOURCE = "forbidden_source"


class ForbiddenSource(ValueError):
    """The object or prefix lies outside what this deployment lets jobs read."""


def allowed_areas(settings: Settings) -> list[tuple[str, str]]:
    """(bucket, key prefix) pairs jobs may read; an empty prefix is the whole bucket."""
    if settings.s3_allowed is None:
        return [(settings.s3_bucket, "")] if settings.s3_bucket else []
    areas = []
    for entry in settings.s3_allowed.split(","):
        bucket, _, prefix = entry.strip().removeprefix("s3://").partition("/")
        if bucket:
            areas.append((bucket, prefix))
    return areas


def _own_storage(settings: Settings, bucket: str, key: str) -> bool:
    return bool(settings.s3_bucket) and bucket == settings.s3_bucket and key.startswith(settings.s3_prefix)


def _inside(areas: list[tuple[str, str]], bucket: str, key: str) -> bool:
    return any(bucket == b and key.startswith(p) for b, p in areas)


def check_s3_object(uri: str, settings: Settings) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` a job may read. Raises ``ForbiddenSource`` (the message
    names the URI only, never the allow-list) or ``ValueError`` for a malformed URI."""
    bucket, key = parse_s3_uri(uri)
    if _own_storage(settings, bucket, key) or not _inside(allowed_areas(settings), bucket, key):
        raise ForbiddenSource(f"{uri} is outside the S3 locations this service may read")
    return bucket, key


def split_s3_prefix(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → (bucket, ``some/prefix/``); ``s3://bucket`` → (bucket, "").
    ValueError when it is not an s3:// URI."""
    if not uri.startswith("s3://") or not uri[5:].strip("/"):
        raise ValueError(f"not an s3://bucket/prefix URI: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def check_s3_prefix_uri(uri: str, settings: Settings) -> tuple[str, str]:
    """(bucket, prefix) of an ``s3_prefix`` that may be listed; raises ``ForbiddenSource`` or ValueError."""
    bucket, prefix = split_s3_prefix(uri)
    check_s3_prefix(bucket, prefix, settings)
    return bucket, prefix


def check_s3_prefix(bucket: str, prefix: str, settings: Settings) -> None:
    """A prefix may be listed only when everything under it is allowed: it lies inside an allowed
    area (a prefix that merely overlaps one would list keys outside it). Raises ``ForbiddenSource``."""
    inside = any(bucket == b and prefix.startswith(p) for b, p in allowed_areas(settings))
    own = bool(settings.s3_bucket) and bucket == settings.s3_bucket and (
        prefix.startswith(settings.s3_prefix) or settings.s3_prefix.startswith(prefix))
    if own or not inside:
        raise ForbiddenSource(f"s3://{bucket}/{prefix} is outside the S3 locations this service may read")
