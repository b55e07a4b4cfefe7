"""Webhooks end to end: real receivers on loopback, the real worker, Redis and Postgres."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from core import webhooks
from core.db import session_scope
from core.signing import InvalidSignature, generate_secret, signature_header, verify
from core.tables import WebhookEndpoint
from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job
from tests.receiver import Receiver, Reply

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_verify():
    """The verification snippet exactly as the README documents it."""
    block = re.search(r"```python\n(# verify-snippet.*?)```", README.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(block, namespace)
    return namespace["verify_webhook"]


def _callback_secret() -> str:
    from core.settings import get_settings

    with session_scope() as s:
        return webhooks.callback_secret(s, get_settings())


def _deliveries(client, job_id: str) -> list[dict]:
    return client.get(f"/v1/jobs/{job_id}/deliveries").json()


def _wait_delivery(client, job_id: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in _deliveries(client, job_id) if d["status"] == status]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {status} delivery: {_deliveries(client, job_id)}")


def test_signed_events_for_succeeded_and_failed_jobs(worker, webhook_settings):
    check = readme_verify()
    with Receiver() as receiver, make_client() as client:
        ok = client.post("/v1/jobs", files={"file": ("a.jpg", media.jpeg_bytes(media.astronaut()), "image/jpeg")},
                         data={"callback_url": receiver.url}).json()
        bad = client.post("/v1/jobs", files={"file": ("b.jpg", media.truncated_jpeg(), "image/jpeg")},
                          data={"callback_url": receiver.url}).json()
        requests = receiver.wait_for(2)
        wait_for_job(client, ok["id"])
    secret = _callback_secret()
    events = {}
    for req in requests:
        assert check(secret, req.headers, req.body), "the README snippet must accept a genuine request"
        verify(secret, req.headers, req.body)
        event = json.loads(req.body)
        events[event["data"]["id"]] = event
    assert events[ok["id"]]["type"] == "job.succeeded"
    assert events[ok["id"]]["data"]["verdict"] in {"fake", "real", "uncertain"}
    assert events[ok["id"]]["data"]["url"].endswith(f"/v1/jobs/{ok['id']}")
    assert events[bad["id"]]["type"] == "job.failed"
    assert events[bad["id"]]["data"]["error"]["code"] == "truncated_media"

    genuine = requests[0]
    tampered = genuine.body.replace(b'"status"', b'"statuz"')
    assert not check(secret, genuine.headers, tampered)
    with pytest.raises(InvalidSignature):
        verify(secret, genuine.headers, tampered)
    stale = {**genuine.headers, "webhook-timestamp": str(int(genuine.headers["webhook-timestamp"]) - 600)}
    assert not check(secret, stale, genuine.body)
    with pytest.raises(InvalidSignature):
        verify(secret, stale, genuine.body)


def _register(client, url: str) -> dict:
    resp = client.post("/v1/webhooks/endpoints", json={"url": url})
    assert resp.status_code == 201, resp.json()
    assert resp.json()["secret"].startswith("whsec_")
    return resp.json()


def test_retries_keep_the_webhook_id_and_are_logged(worker, dispatcher):
    replies = [Reply(500), Reply(503), Reply(200)]
    with Receiver(replies) as receiver, make_client() as client:
        endpoint = _register(client, receiver.url)
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
        requests = receiver.wait_for(3)
        delivery = _wait_delivery(client, job["id"], "succeeded")
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert delivery["id"] == requests[0].headers["webhook-id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert all(a["latency_ms"] is not None for a in delivery["attempts"])
    for req in requests:
        verify(endpoint["secret"], req.headers, req.body)
    assert len({r.body for r in requests}) == 1, "every retry sends the same body"


def test_410_disables_the_endpoint(worker, dispatcher):
    with Receiver([Reply(410)]) as receiver, make_client() as client:
        endpoint = _register(client, receiver.url)
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
        delivery = _wait_delivery(client, job["id"], "failed")
        after = client.get(f"/v1/webhooks/endpoints/{endpoint['id']}").json()
        time.sleep(0.5)
    assert len(receiver.requests) == 1 and len(delivery["attempts"]) == 1
    assert after["enabled"] is False and "410" in after["disabled_reason"]


def test_a_redirect_is_not_followed(worker, dispatcher):
    with Receiver([Reply(302, {"location": "/elsewhere"}), Reply(200)]) as receiver, make_client() as client:
        _register(client, receiver.url)
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
        delivery = _wait_delivery(client, job["id"], "succeeded")
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"], "the redirect target was requested"
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 200]


def test_last_failure_flags_the_endpoint(worker, dispatcher):
    with Receiver([Reply(500)]) as receiver, make_client() as client:
        endpoint = _register(client, receiver.url)
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
        delivery = _wait_delivery(client, job["id"], "failed")
        flagged = client.get(f"/v1/webhooks/endpoints/{endpoint['id']}").json()
        # Redelivery starts the schedule again with the same webhook-id.
        receiver.replies = [Reply(200)]
        again = client.post(f"/v1/jobs/{job['id']}/deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 202
        redelivered = _wait_delivery(client, job["id"], "succeeded")
    assert len(delivery["attempts"]) == 3  # the schedule has three entries
    assert flagged["failing"] is True and flagged["enabled"] is True
    assert redelivered["id"] == delivery["id"]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://[::1]/x",
                                 "http://10.1.2.3/x", "http://0x7f000001/x"])
def test_private_receivers_are_refused_by_default(clean_db, url):
    with make_client() as client:
        resp = client.post("/v1/webhooks/endpoints", json={"url": url})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "forbidden_url"
        resp = client.post("/v1/jobs", json={"url": "https://example.org/a.jpg", "callback_url": url})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "forbidden_url"


def test_endpoint_management(webhook_settings):
    with make_client() as client:
        created = _register(client, "http://127.0.0.1:9/hook")
        assert client.get("/v1/webhooks/endpoints").json()[0]["secret"] is None  # never shown again
        rotated = client.post(f"/v1/webhooks/endpoints/{created['id']}/rotate-secret").json()
        assert rotated["secret"] != created["secret"]
        patched = client.patch(f"/v1/webhooks/endpoints/{created['id']}",
                               json={"event_types": ["job.failed"], "enabled": False}).json()
        assert patched["event_types"] == ["job.failed"] and patched["enabled"] is False
        assert client.delete(f"/v1/webhooks/endpoints/{created['id']}").status_code == 204
        assert client.get(f"/v1/webhooks/endpoints/{created['id']}").status_code == 404
    with session_scope() as s:
        assert s.get(WebhookEndpoint, created["id"]) is None


def test_rotation_signs_with_both_secrets():
    old, new = generate_secret(), generate_secret()
    header = signature_header([new, old], "msg_1", int(time.time()), b"{}")
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())), "webhook-signature": header}
    verify(old, headers, b"{}")
    verify(new, headers, b"{}")
    with pytest.raises(InvalidSignature):
        verify(generate_secret(), headers, b"{}")


def test_retry_after_and_schedule():
    assert webhooks.next_delay([0, 5, 300], attempts_done=1, retry_after_s=None) == pytest.approx(5, rel=0.11)
    assert webhooks.next_delay([0, 5, 300], attempts_done=1, retry_after_s=120) == 120
    assert webhooks.next_delay([0, 5, 300], attempts_done=3, retry_after_s=None) is None
    assert webhooks.parse_retry_after("30") == 30
    assert webhooks.parse_retry_after("not a date") is None
