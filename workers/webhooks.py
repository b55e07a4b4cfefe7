"""Webhook delivery tasks: send one signed event; find deliveries whose retry is due.

Sending connects to the address that passed the SSRF check (the request goes
to that IP, with the original Host header and TLS server name), so a DNS
answer that changes between the check and the connection is never used.
Redirects are never followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import logging
import time

import httpx
from kombu.exceptions import KombuError

from core import metrics, webhooks
from core.db import session_scope
from core.netguard import ForbiddenURL, Unresolvable, check_url, pinned
from core.settings import Settings, get_settings
from core.signing import signature_header
from core.tables import WebhookDelivery, WebhookEndpoint
from workers.celery_app import DELIVER_WEBHOOK, DISPATCH_WEBHOOKS, WEBHOOK_QUEUE, app

log = logging.getLogger(__name__)
USER_AGENT = "deepfake-detect-webhooks/1"


def send(url: str, msg_id: str, body: str, secrets: list[str], settings: Settings) -> webhooks.Outcome:
    start = time.perf_counter()
    try:
        address = check_url(url, settings.webhook_allow_private)[0]
    except ForbiddenURL as exc:
        return webhooks.Outcome(None, 0.0, f"refused: {exc}")
    except Unresolvable as exc:  # retried like any failed attempt: DNS may answer later
        return webhooks.Outcome(None, 0.0, str(exc))
    raw = body.encode()
    timestamp = int(time.time())
    target, headers, extensions = pinned(url, address)
    headers.update({
        "content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp), "webhook-signature": signature_header(secrets, msg_id, timestamp, raw),
    })
    try:
        # Streamed and never read: only the status and headers count, and a receiver's body, however
        # large or slow, is not ours to hold.
        with httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False) as client, \
                client.stream("POST", target, content=raw, headers=headers, extensions=extensions) as resp:
            pass
    except httpx.HTTPError as exc:
        return webhooks.Outcome(None, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}")
    return webhooks.Outcome(resp.status_code, (time.perf_counter() - start) * 1000, None,
                            webhooks.parse_retry_after(resp.headers.get("retry-after")))


def _load(session, delivery_id: str) -> tuple[WebhookDelivery, WebhookEndpoint | None] | None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != webhooks.PENDING:
        return None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id) if delivery.endpoint_id else None
    return delivery, endpoint


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook(delivery_id: str) -> str | None:
    """One attempt of one delivery. Safe to run twice: receivers dedupe on webhook-id."""
    settings = get_settings()
    with session_scope() as session:
        loaded = _load(session, delivery_id)
        if loaded is None:
            return None
        delivery, endpoint = loaded
        if endpoint is not None and not endpoint.enabled:
            webhooks.record_attempt(session, delivery, webhooks.Outcome(None, 0.0, "endpoint disabled"), [],
                                    endpoint)
            return delivery.status
        secrets = webhooks.endpoint_secrets(endpoint) if endpoint else [webhooks.callback_secret(session, settings)]
        url, body = delivery.url, delivery.body
    outcome = send(url, delivery_id, body, secrets, settings)  # no transaction held open across the HTTP call
    with session_scope() as session:
        loaded = _load(session, delivery_id)
        if loaded is None:
            return None
        delivery, endpoint = loaded
        webhooks.record_attempt(session, delivery, outcome, settings.retry_delays, endpoint)
        metrics.record_webhook_attempt(delivery.status)
        log.info("webhook %s attempt %d: %s", delivery_id, delivery.attempts, outcome.status_code or outcome.error)
        return delivery.status


def enqueue_deliveries(delivery_ids: list[str]) -> int:
    """Send the deliveries' first attempt now; returns how many were sent.

    Best effort: each delivery is an outbox row committed with its job's move, so when the broker cannot
    be reached the beat's ``dispatch_webhooks`` sends it once its first-send lock lapses
    (``core.webhooks.FIRST_SEND_GRACE_S``). Raising here would turn a finished job (a reused result in the
    API, a worker's outcome) into a 500 or a failed task for the sake of a message that is not lost."""
    for sent, delivery_id in enumerate(delivery_ids):
        try:
            app.send_task(DELIVER_WEBHOOK, args=[delivery_id], queue=WEBHOOK_QUEUE)
        except (KombuError, OSError) as exc:
            log.warning("webhook deliveries not sent now (%s); the dispatcher will send %d of them",
                        type(exc).__name__, len(delivery_ids) - sent)
            return sent
    return len(delivery_ids)


@app.task(name=DISPATCH_WEBHOOKS)
def dispatch_webhooks(limit: int = 500) -> int:
    """Queue every delivery whose (re)try is due. Run periodically by the beat schedule."""
    settings = get_settings()
    with session_scope() as session:
        due = webhooks.due_deliveries(session, limit, lock_s=settings.webhook_timeout_s + 60)
    enqueue_deliveries(due)
    return len(due)
