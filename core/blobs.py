"""Blob store for uploaded media: a local folder (embedded default) or S3.

Keys are relative paths such as ``uploads/<job id>``. Both stores move whole
files between disk and storage in chunks, so no media is held in memory.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from core.settings import Settings, get_settings


class BlobNotFound(Exception):
    pass


class BlobStore(Protocol):
    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``; the store may move it (the caller gives it up)."""
    def download_to(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def put_file(self, key: str, path: Path) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, dest)  # same file system: a rename, atomic and free
        except OSError:
            tmp = dest.with_suffix(".part")
            shutil.copyfile(path, tmp)
            tmp.replace(dest)  # readers never see half a file

    def download_to(self, key: str, path: Path) -> None:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


def s3_client(settings: Settings):
    return _s3_client(settings.s3_endpoint_url, settings.s3_region)


@lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, region: str | None):
    """One client per process and endpoint: making one costs tens of milliseconds; they are thread-safe."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); ValueError when it is not one."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def download_s3_object(client, bucket: str, key: str, path: Path) -> None:
    from botocore.exceptions import ClientError

    try:
        client.download_file(bucket, key, str(path))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise BlobNotFound(f"s3://{bucket}/{key}") from exc
        raise


class S3BlobStore:
    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self.prefix + key)  # multipart past 8 MB

    def download_to(self, key: str, path: Path) -> None:
        download_s3_object(self.client, self.bucket, self.prefix + key, path)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError:
            return False
        return True


def blob_store(settings: Settings) -> BlobStore:
    if settings.s3_bucket:
        return S3BlobStore(s3_client(settings), settings.s3_bucket, settings.s3_prefix)
    return LocalBlobStore(settings.media_dir)


@lru_cache(maxsize=1)
def default_blob_store() -> BlobStore:
    """The configured store, built once per process (an S3 client is costly to make)."""
    return blob_store(get_settings())
