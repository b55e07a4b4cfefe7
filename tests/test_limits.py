"""Request limits (413, 431, long URLs) and answers that leak nothing (readiness, 500s)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.api_client import auth, make_client, new_key

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture
def client(clean_db):
    with make_client() as c:
        yield c


def test_a_2_mib_json_body_is_413_by_its_declared_length(client):
    body = json.dumps({"url": "https://example.org/a.jpg", "pad": "x" * TWO_MIB})
    resp = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"


def test_a_2_mib_body_without_a_length_is_413_at_the_chunk_that_crosses_the_limit(client):
    chunks = (b"x" * 65536 for _ in range(TWO_MIB // 65536))
    for path in ("/v1/batches", "/v1/webhooks/endpoints"):
        resp = client.post(path, content=chunks, headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large", path
        chunks = (b"x" * 65536 for _ in range(TWO_MIB // 65536))


def test_small_json_bodies_still_pass(client):
    assert client.post("/v1/jobs", json={"url": "https://example.org/a.jpg"}).status_code == 202


def test_a_64_kib_header_is_431_from_the_real_server(api_server):
    headers = {**auth(new_key()), "x-padding": "y" * 64 * 1024}
    resp = httpx.get(f"{api_server}/v1/jobs/x", headers=headers)
    assert resp.status_code == 431 and resp.json()["error"]["code"] == "headers_too_large"
    assert httpx.get(f"{api_server}/v1/jobs/x", headers=auth(new_key())).status_code == 404


def test_urls_over_the_length_limit_are_422(client):
    long_url = "https://example.org/" + "a" * 3000
    resp = client.post("/v1/jobs", json={"url": long_url})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"
    resp = client.post("/v1/webhooks/endpoints", json={"url": long_url})
    assert resp.status_code == 422


def test_readiness_names_the_failing_check_but_no_host(clean_db, monkeypatch):
    from api import routes_health

    def unreachable():
        raise ConnectionError("connection to server at 10.9.8.7, port 6543 failed: secret-db-host")

    monkeypatch.setattr(routes_health.celery_app, "connection_for_write", unreachable)
    with make_client() as client:
        resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json()["checks"]["broker"] == "error"
    assert "10.9.8.7" not in resp.text and "secret-db-host" not in resp.text and "6543" not in resp.text


def test_a_crash_is_a_500_with_a_request_id_and_no_traceback(clean_db, monkeypatch, caplog):
    from fastapi.testclient import TestClient

    from api import routes_jobs
    from api.app import create_app

    def crash(*args, **kwargs):
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr(routes_jobs.tenancy, "owned", crash)
    with caplog.at_level(logging.ERROR), TestClient(create_app(), raise_server_exceptions=False,
                                                    headers=auth(new_key())) as client:
        resp = client.get("/v1/jobs/x")
    body = resp.json()
    assert resp.status_code == 500 and body["error"]["code"] == "internal_error"
    assert body["error"]["request_id"] == resp.headers["x-request-id"]
    assert "secret" not in resp.text and "Traceback" not in resp.text
    assert body["error"]["request_id"] in caplog.text and "/srv/secret/path" in caplog.text
