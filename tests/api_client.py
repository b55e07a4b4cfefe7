"""Helpers for driving the API in tests."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

TERMINAL = {"succeeded", "failed"}


def make_client() -> TestClient:
    from api.app import create_app

    return TestClient(create_app())


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
