"""S3 confinement: sources outside DEEPFAKE_S3_ALLOWED are refused and never contacted; no metadata calls."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from core import db
from core.settings import Settings
from core.sources import ForbiddenSource, allowed_areas, check_s3_object, check_s3_prefix_uri
from tests.api_client import make_client, wait_for_batch
from tests.receiver import Receiver


def test_by_default_only_the_configured_bucket_and_never_the_services_own_media():
    settings = Settings(s3_bucket="media", s3_prefix="store/")
    assert allowed_areas(settings) == [("media", "")]
    assert check_s3_object("s3://media/inbox/a.jpg", settings) == ("media", "inbox/a.jpg")
    for uri in ("s3://other/a.jpg", "s3://media/store/uploads/some-job"):
        with pytest.raises(ForbiddenSource):
            check_s3_object(uri, settings)
    for prefix in ("s3://media/", "s3://media/store/", "s3://media/sto"):  # each would list the service's media
        with pytest.raises(ForbiddenSource):
            check_s3_prefix_uri(prefix, settings)
    assert check_s3_prefix_uri("s3://media/inbox/", settings) == ("media", "inbox/")


def test_without_s3_configured_nothing_is_allowed():
    with pytest.raises(ForbiddenSource):
        check_s3_object("s3://bucket/key.jpg", Settings())


def test_the_allow_list_names_buckets_and_prefixes():
    settings = Settings(s3_allowed="team-a/inbox/, s3://team-b")
    assert allowed_areas(settings) == [("team-a", "inbox/"), ("team-b", "")]
    check_s3_object("s3://team-a/inbox/x.jpg", settings)
    check_s3_object("s3://team-b/any/x.jpg", settings)
    check_s3_prefix_uri("s3://team-a/inbox/2026/", settings)
    with pytest.raises(ForbiddenSource):
        check_s3_object("s3://team-a/hr/x.jpg", settings)
    with pytest.raises(ForbiddenSource):
        check_s3_prefix_uri("s3://team-a/", settings)  # wider than the allowed prefix


@pytest.fixture
def s3_stand_in(clean_db, monkeypatch):
    """An S3 endpoint that records every request; only ``allowed/inbox/`` may be read."""
    with Receiver([]) as receiver:
        monkeypatch.setenv("S3_ENDPOINT_URL", receiver.url.removesuffix("/hook"))
        monkeypatch.setenv("DEEPFAKE_S3_ALLOWED", "allowed/inbox/")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        db.reset()
        yield receiver
    db.reset()


FORBIDDEN = [{"s3_uri": "s3://other-team-private/hr/secret-face.jpg"},
             {"s3_prefix": "s3://other-team-private/hr/"}, {"s3_prefix": "s3://allowed/"}]


@pytest.mark.parametrize("item", FORBIDDEN)
def test_submissions_outside_the_allow_list_are_422_and_never_contacted(s3_stand_in, item):
    with make_client() as client:
        if "s3_uri" in item:
            resp = client.post("/v1/jobs", json=item)
        else:
            resp = client.post("/v1/batches", json={"items": [item]})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "forbidden_source"
    assert "allowed/inbox" not in resp.json()["error"]["message"]  # the allow-list itself is not told
    assert s3_stand_in.requests == []


def test_manifest_items_outside_the_allow_list_fail_alone_uncontacted(s3_stand_in, worker):
    items = [*({**item, "ref": f"forbidden-{i}"} for i, item in enumerate(FORBIDDEN)),
             {"s3_uri": "s3://allowed/inbox/a.jpg", "ref": "allowed"}]
    manifest = "".join(json.dumps(item) + "\n" for item in items)
    with make_client() as client:
        resp = client.post("/v1/batches", files={"manifest": ("m.jsonl", manifest)})
        assert resp.status_code == 202
        batch = wait_for_batch(client, resp.json()["id"])
        rows = {json.loads(line)["ref"]: json.loads(line)
                for line in client.get(f"/v1/batches/{batch['id']}/results").text.splitlines()}
    assert {ref: rows[ref]["error_code"] for ref in rows if ref.startswith("forbidden")} == {
        f"forbidden-{i}": "forbidden_source" for i in range(len(FORBIDDEN))}
    # The allowed object was asked for (the stand-in counts), and nothing else ever was.
    assert s3_stand_in.requests and all(r.path.startswith("/allowed/inbox/a.jpg") for r in s3_stand_in.requests)


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def _count(self):
        self.hits.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = _count

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("instance_metadata", [False, True])
def test_no_instance_metadata_requests_unless_asked(monkeypatch, tmp_path, instance_metadata):
    """With no credentials anywhere, boto3 would ask the metadata address; only when the deployment says so."""
    from botocore.exceptions import NoCredentialsError

    from core.blobs import _s3_client

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Counting.hits = []
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        client = _s3_client.__wrapped__("http://127.0.0.1:9", "us-east-1", instance_metadata)
        with pytest.raises(NoCredentialsError):
            client.head_object(Bucket="b", Key="k")
    finally:
        server.shutdown()
        server.server_close()
    assert bool(_Counting.hits) == instance_metadata, _Counting.hits
