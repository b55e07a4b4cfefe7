from __future__ import annotations

import pytest

from core.blobs import BlobNotFound, LocalBlobStore, S3BlobStore, default_blob_store, parse_s3_uri


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
