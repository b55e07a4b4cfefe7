"""Helpers for driving the API in tests: every client sends an API key, as every real client must."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

TERMINAL = {"succeeded", "failed"}


DEFAULT_SCOPES = ("jobs", "webhooks")


def new_key(scopes=DEFAULT_SCOPES, tenant: str = "default", name: str = "test") -> str:
    """A key stored in the test database (migrated, as ``clean_db`` leaves it); returns the key itself."""
    from core import keys
    from core.db import session_scope

    with session_scope() as session:
        return keys.create(session, name=name, scopes=list(scopes), tenant=tenant).secret


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_client(scopes=DEFAULT_SCOPES, tenant: str = "default", key: str | None = None) -> TestClient:
    """A client of the app holding a fresh key of ``tenant`` with ``scopes`` (or ``key``, when given).

    The default is an ordinary tenant's key, not an admin's, so that the whole suite runs through the
    tenant checks."""
    from api.app import create_app

    return TestClient(create_app(), headers=auth(key or new_key(scopes, tenant)))


def submit_bytes(client: TestClient, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"):
    return client.post("/v1/jobs", files={"file": (filename, data, content_type)})


def wait_for_job(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}").json()
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {body}")


def wait_for_batch(client, batch_id: str, status: str = "completed", timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (batch := client.get(f"/v1/batches/{batch_id}").json())["status"] != status:
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
    return batch
