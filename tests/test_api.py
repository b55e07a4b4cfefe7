"""The HTTP contract: status codes, error codes, headers. Jobs are queued, not run."""

from __future__ import annotations

import pytest

from core import db
from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job


@pytest.fixture
def client(clean_db):
    with make_client() as c:
        yield c


def _stored_blobs(state) -> list:
    root = state.data_dir / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_is_accepted_with_location(client, clean_db):
    data = media.jpeg_bytes(media.astronaut())
    resp = submit_bytes(client, data, filename="astronaut.png", content_type="text/plain")
    assert resp.status_code == 202
    body = resp.json()
    assert resp.headers["location"] == f"/v1/jobs/{body['id']}"
    assert body["status"] == "queued"
    # The type comes from the bytes, not from the name or the declared type.
    assert body["media_type"] == "image/jpeg"
    assert body["size_bytes"] == len(data)
    import hashlib

    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert client.get(f"/v1/jobs/{body['id']}").json()["id"] == body["id"]


def test_wrong_type_is_415_and_nothing_is_stored(client, clean_db):
    resp = submit_bytes(client, b"%PDF-1.7\n" + b"x" * 1000, filename="photo.jpg")
    assert resp.status_code == 415
    assert resp.json()["error"]["code"] == "unsupported_media"
    assert _stored_blobs(clean_db) == []


def test_empty_upload_is_415(client):
    resp = submit_bytes(client, b"")
    assert resp.status_code == 415
    assert resp.json()["error"]["code"] == "empty_file"


def test_body_that_is_neither_multipart_nor_json_is_422_saying_what_to_send(client):
    resp = client.post("/v1/jobs", content=b"\xff\xd8\xff", headers={"content-type": "image/jpeg"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"
    assert "-F file=@" in resp.json()["error"]["message"]


def test_a_url_job_learns_its_media_type_when_fetched(worker, media_server):
    base, folder = media_server
    (folder / "a.jpg").write_bytes(media.jpeg_bytes(media.astronaut()))
    media.write_clip(folder / "clip.mp4", [((20, 40), (400, 100))], frames=16)
    found = {}
    with make_client() as client:
        for name in ("a.jpg", "clip.mp4"):
            answer = client.post("/v1/jobs", json={"url": f"{base}/{name}", "dedup": False})
            assert answer.status_code == 202 and answer.json()["media_type"] is None
            job = wait_for_job(client, answer.json()["id"], timeout=120)
            assert job["status"] == "succeeded", job
            found[name] = job["media_type"]
    assert found == {"a.jpg": "image/jpeg", "clip.mp4": "video/mp4"}


@pytest.fixture
def small_limit(clean_db, monkeypatch):
    monkeypatch.setenv("DEEPFAKE_MAX_UPLOAD_BYTES", "100000")
    db.reset()
    yield 100_000
    monkeypatch.delenv("DEEPFAKE_MAX_UPLOAD_BYTES")
    db.reset()


def test_declared_length_over_limit_is_413_before_reading(small_limit):
    with make_client() as client:
        resp = submit_bytes(client, b"\xff\xd8\xff" + b"\x00" * 300_000)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "too_large"


def test_streamed_body_over_limit_is_413_while_streaming(small_limit, clean_db):
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    sent = []

    def body():  # no Content-Length: chunked, so only the streaming check can catch it
        yield head + b"\xff\xd8\xff"
        for _ in range(40):
            sent.append(1)
            yield b"\x00" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    with make_client() as client:
        resp = client.post("/v1/jobs", content=body(),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 413
    assert _stored_blobs(clean_db) == []
    assert not list((clean_db.data_dir / "tmp").glob("upload-*"))


def test_json_reference_jobs(client, monkeypatch):
    resp = client.post("/v1/jobs", json={"url": "https://example.org/face.jpg"})
    assert resp.status_code == 202
    assert resp.json()["source"] == {"kind": "url", "uri": "https://example.org/face.jpg", "filename": None}
    monkeypatch.setenv("DEEPFAKE_S3_ALLOWED", "bucket")  # no S3 is configured: no bucket is allowed otherwise
    db.reset()
    resp = client.post("/v1/jobs", json={"s3_uri": "s3://bucket/key.jpg"})
    assert resp.status_code == 202 and resp.json()["source"]["kind"] == "s3"


@pytest.mark.parametrize("body", [{}, {"url": "ftp://x/y"}, {"s3_uri": "bucket/key"},
                                  {"url": "https://a/b", "s3_uri": "s3://b/k"}, {"other": 1}])
def test_bad_parameters_are_422(client, body):
    resp = client.post("/v1/jobs", json=body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_request"


def test_unknown_job_is_404(client):
    for method in ("get", "delete"):
        resp = getattr(client, method)("/v1/jobs/00000000-0000-0000-0000-000000000000")
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "not_found"


def test_delete_removes_media_and_job(client, clean_db):
    job_id = submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"]
    assert len(_stored_blobs(clean_db)) == 1
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert _stored_blobs(clean_db) == []
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "model": "ok"}


def test_readiness_reports_a_missing_model(client, monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFAKE_MODEL_PATH", str(tmp_path / "nowhere"))
    db.reset()
    try:
        resp = client.get("/readyz")
    finally:
        monkeypatch.delenv("DEEPFAKE_MODEL_PATH")
        db.reset()
    assert resp.status_code == 503
    assert resp.json()["checks"]["model"].startswith("error")


def test_openapi_is_served(client):
    spec = client.get("/openapi.json").json()
    assert "/v1/jobs" in spec["paths"] and "/v1/jobs/{job_id}" in spec["paths"]


def test_openapi_declares_the_bearer_key_so_the_docs_can_call_the_api(client):
    """Swagger UI shows Authorize and sends the header only for a declared scheme the operations name."""
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    name = next(iter(schemes))
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            wanted = [{name: []}] if path.startswith("/v1") or path == "/metrics" else None  # metrics: admin
            assert operation.get("security") == wanted, (method, path)
    body = spec["paths"]["/v1/batches"]["post"]["requestBody"]["content"]
    assert "items" in body["application/json"]["schema"]["properties"]
    assert body["multipart/form-data"]["schema"]["required"] == ["manifest"]


def test_upload_fields_a_text_column_cannot_hold_are_422_and_nothing_is_stored(client, clean_db):
    batch_id = client.post("/v1/batches", json={"open": True}).json()["id"]
    data = media.jpeg_bytes(media.astronaut())
    for where in ("params", "data"):
        resp = client.post("/v1/jobs", files={"file": ("a.jpg", data, "image/jpeg")},
                           **{where: {"batch_id": batch_id, "ref": "a\x00b"}})
        assert resp.status_code == 422 and "ref" in resp.json()["error"]["message"]
    resp = client.post("/v1/jobs", json={"s3_uri": "s3://bucket/a\x00.jpg"})
    assert resp.status_code == 422
    assert _stored_blobs(clean_db) == []
    assert client.get(f"/v1/batches/{batch_id}").json()["total"] == 0


def test_an_upload_that_fails_to_record_leaves_no_blob(clean_db, monkeypatch):
    from core import jobs

    def database_gone(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(jobs, "create_job", database_gone)
    with make_client() as client, pytest.raises(ConnectionError):
        submit_bytes(client, media.jpeg_bytes(media.astronaut()))
    assert _stored_blobs(clean_db) == []
