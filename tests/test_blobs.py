from __future__ import annotations

import gzip
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from core.blobs import (
    BlobNotFound,
    BlobTooLarge,
    LocalBlobStore,
    S3BlobStore,
    default_blob_store,
    download_s3_object,
    parse_s3_uri,
)


def _round_trip(store, tmp_path) -> None:
    src = tmp_path / "src.bin"
    payload = b"\x00\x01" * 100_000
    src.write_bytes(payload)
    store.put_file("uploads/abc", src)
    assert store.exists("uploads/abc")
    out = tmp_path / "out.bin"
    store.download_to("uploads/abc", out)
    assert out.read_bytes() == payload
    store.delete("uploads/abc")
    assert not store.exists("uploads/abc")
    with pytest.raises(BlobNotFound):
        store.download_to("uploads/abc", out)


def test_local_round_trip(tmp_path):
    _round_trip(LocalBlobStore(tmp_path / "store"), tmp_path)


def test_local_store_refuses_keys_outside_it(tmp_path):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path / "store").put_file("../escape", tmp_path / "x")


def test_s3_round_trip_against_a_real_endpoint(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    store = default_blob_store()
    assert isinstance(store, S3BlobStore) and store.bucket == bucket
    _round_trip(store, tmp_path)
    # Keys live under the configured prefix.
    (tmp_path / "f").write_bytes(b"x")
    store.put_file("k", tmp_path / "f")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["media/k"]


@pytest.mark.parametrize("uri", ["s3://bucket", "s3:///key", "http://bucket/key", "bucket/key"])
def test_bad_s3_uris(uri):
    with pytest.raises(ValueError):
        parse_s3_uri(uri)


def test_s3_uri():
    assert parse_s3_uri("s3://b/a/c.jpg") == ("b", "a/c.jpg")


def test_s3_download_keeps_stored_bytes_and_refuses_large_objects(s3_bucket, tmp_path):
    client, bucket = s3_bucket
    gzipped = gzip.compress(b"not decoded on the way")
    client.put_object(Bucket=bucket, Key="gz", Body=gzipped, ContentEncoding="gzip")
    client.put_object(Bucket=bucket, Key="big", Body=b"x" * 5000)
    out = tmp_path / "out"
    download_s3_object(client, bucket, "gz", out)
    assert out.read_bytes() == gzipped  # what S3 holds, so its hash is the file's hash
    with pytest.raises(BlobTooLarge):
        download_s3_object(client, bucket, "big", out, max_bytes=4999)
    download_s3_object(client, bucket, "big", out, max_bytes=5000)  # the pool recovers from the refused body
    assert out.read_bytes() == b"x" * 5000
    with pytest.raises(BlobNotFound):
        download_s3_object(client, bucket, "missing", out)


class _RefusesPresignedURLs(BaseHTTPRequestHandler):
    """In front of the S3 endpoint: GETs signed in the query string get 503, others pass through."""

    protocol_version = "HTTP/1.1"
    upstream = ""

    def do_GET(self):
        if "Signature" in urlsplit(self.path).query:
            self._answer(503, {}, b"<Error><Code>SlowDown</Code></Error>")
            return
        request = urllib.request.Request(self.upstream + self.path, headers=dict(self.headers.items()))
        try:
            with urllib.request.urlopen(request) as upstream:
                self._answer(upstream.status, dict(upstream.headers.items()), upstream.read())
        except urllib.error.HTTPError as exc:
            self._answer(exc.code, dict(exc.headers.items()), exc.read())

    def _answer(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_s3_download_falls_back_to_get_object_on_other_answers(s3_bucket, s3_endpoint, tmp_path):
    import boto3

    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="k", Body=b"payload")
    handler = type("Handler", (_RefusesPresignedURLs,), {"upstream": s3_endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxied = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{server.server_port}", region_name="us-east-1")
    try:
        out = tmp_path / "out"
        download_s3_object(proxied, bucket, "k", out)
        assert out.read_bytes() == b"payload"
        with pytest.raises(BlobNotFound):
            download_s3_object(proxied, bucket, "missing", out)
    finally:
        proxied.close()
        server.shutdown()
        server.server_close()


def test_s3_store_keeps_small_and_large_files_alike(s3_bucket, tmp_path, monkeypatch):
    """Small files go up in one PUT, large ones through boto3's transfer manager: the same bytes either way."""
    import core.blobs

    store = default_blob_store()
    monkeypatch.setattr(core.blobs, "MULTIPART_FROM", 4096)
    for size in (100, 50_000):
        data = os.urandom(size)
        (tmp_path / "in").write_bytes(data)
        store.put_file(f"f{size}", tmp_path / "in")
        store.download_to(f"f{size}", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == data
