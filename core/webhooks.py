"""Webhook endpoints, the delivery outbox and its retry bookkeeping.

Delivery lifecycle: ``pending`` → ``succeeded`` | ``failed``. A delivery row is
added in the same transaction as its job's final state (``add_job_events``),
so an event can't be lost between the two. Workers send it (``workers.webhooks``)
and record each attempt here, in one transaction per attempt.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import now
from core.settings import Settings
from core.signing import generate_secret
from core.tables import DEFAULT_TENANT, Job, ServiceSecret, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_TYPES = ("job.succeeded", "job.failed", "job.canceled", "batch.completed")
CALLBACK_SECRET = "callback_signing_secret"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
FIRST_SEND_GRACE_S = 60


# -- endpoints -----------------------------------------------------------------------------------

def create_endpoint(session: Session, *, url: str, event_types: list[str], description: str | None = None,
                    enabled: bool = True, tenant: str = DEFAULT_TENANT) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(id=str(uuid.uuid4()), tenant=tenant, url=url, secret=generate_secret(),
                               event_types=event_types, description=description, enabled=enabled, failing=False,
                               created_at=now(), updated_at=now())
    session.add(endpoint)
    session.commit()
    return endpoint


def rotate_secret(session: Session, endpoint: WebhookEndpoint, grace_s: int) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (alongside) for ``grace_s`` seconds."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now() + timedelta(seconds=grace_s)
    endpoint.secret = generate_secret()
    endpoint.updated_at = now()
    session.commit()
    return endpoint


def endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now():
        secrets.append(endpoint.previous_secret)
    return secrets


def callback_secret(session: Session, settings: Settings) -> str:
    """The secret that signs ``callback_url`` deliveries: from settings, else generated once and stored."""
    if settings.webhook_secret:
        return settings.webhook_secret
    row = session.get(ServiceSecret, CALLBACK_SECRET)
    if row is None:
        session.add(ServiceSecret(name=CALLBACK_SECRET, value=generate_secret(), created_at=now()))
        try:
            session.commit()
        except Exception:  # another process stored it first: use theirs
            session.rollback()
        row = session.get(ServiceSecret, CALLBACK_SECRET)
    return row.value


# -- the outbox ----------------------------------------------------------------------------------

def event_body(job: Job, event_type: str, public_url: str) -> str:
    """A small payload: the job's outcome and a link to the full result, never media or timelines."""
    result = job.result or {}
    data = {
        "id": job.id, "status": job.status, "verdict": result.get("verdict"), "score": result.get("score"),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "url": f"{public_url.rstrip('/')}/v1/jobs/{job.id}",
    }
    return json.dumps({"type": event_type, "timestamp": now().isoformat(), "data": data}, separators=(",", ":"))


def enabled_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.execute(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))).scalars())


def _targets(endpoints: list[WebhookEndpoint], event_type: str, callback_url: str | None,
             tenant: str) -> list[tuple[str | None, str]]:
    """(endpoint ID or None, URL) for every receiver of an event: the callback, then the endpoints of the
    event's own tenant that subscribe to it (an endpoint never hears of another tenant's jobs)."""
    targets: list[tuple[str | None, str]] = [(None, callback_url)] if callback_url else []
    return targets + [(e.id, e.url) for e in endpoints if event_type in e.event_types and e.tenant == tenant]


def add_job_events(session: Session, job: Job, public_url: str,
                   endpoints: list[WebhookEndpoint] | None = None) -> list[WebhookDelivery]:
    """Outbox rows for a job that just finished; the caller's transaction commits them.

    ``endpoints`` (from ``enabled_endpoints``) saves the look-up when many jobs finish in one transaction.
    """
    event_type = f"job.{job.status}"
    endpoints = enabled_endpoints(session) if endpoints is None else endpoints
    targets = _targets(endpoints, event_type, job.callback_url, job.tenant)
    if not targets:
        return []
    body = event_body(job, event_type, public_url)
    deliveries = [
        WebhookDelivery(id=f"msg_{uuid.uuid4().hex}", tenant=job.tenant, job_id=job.id, endpoint_id=endpoint_id,
                        url=url,
                        event_type=event_type, body=body, status=PENDING, attempts=0, next_attempt_at=now(),
                        # The finishing worker sends these at once; the dispatcher steps in only if that send
                        # never happens (the worker died after the commit).
                        locked_until=now() + timedelta(seconds=FIRST_SEND_GRACE_S), created_at=now())
        for endpoint_id, url in targets
    ]
    session.add_all(deliveries)
    return deliveries


def unsent_deliveries(session: Session, job_ids: list[str]) -> list[str]:
    """Deliveries of jobs not yet attempted: what the finishing worker sends straight away."""
    query = select(WebhookDelivery.id).where(WebhookDelivery.job_id.in_(job_ids), WebhookDelivery.attempts == 0,
                                             WebhookDelivery.status == PENDING)
    return list(session.execute(query).scalars())


def add_batch_event(session: Session, batch, counts: dict[str, int], public_url: str) -> None:
    """``batch.completed`` to the batch's callback and subscribed endpoints (the caller commits)."""
    event_type = "batch.completed"
    targets = _targets(enabled_endpoints(session), event_type, batch.callback_url, batch.tenant)
    data = {"id": batch.id, "status": "completed", "total": batch.total, "counts": counts,
            "url": f"{public_url.rstrip('/')}/v1/batches/{batch.id}"}
    body = json.dumps({"type": event_type, "timestamp": now().isoformat(), "data": data}, separators=(",", ":"))
    # No worker sends these at once: the dispatcher picks them up on its next pass.
    session.add_all(WebhookDelivery(id=f"msg_{uuid.uuid4().hex}", tenant=batch.tenant, job_id=None,
                                    endpoint_id=endpoint_id, url=url, event_type=event_type, body=body,
                                    status=PENDING, attempts=0, next_attempt_at=now(), created_at=now())
                    for endpoint_id, url in targets)


def due_deliveries(session: Session, limit: int, lock_s: float) -> list[str]:
    """Claim pending deliveries whose time has come; each claim holds for ``lock_s`` seconds."""
    query = (select(WebhookDelivery)
             .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now(),
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now()))
             .order_by(WebhookDelivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    rows = session.execute(query).scalars().all()
    for row in rows:
        row.locked_until = now() + timedelta(seconds=lock_s)
    session.commit()
    return [row.id for row in rows]


# -- attempts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(delays: list[float], attempts_done: int, retry_after_s: float | None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is used up.

    ``delays[i]`` is the wait before attempt ``i + 1``; attempt 1 is immediate
    by definition. Jitter of ±10 % spreads retries from many deliveries, and a
    receiver's Retry-After is honoured when it asks for longer.
    """
    if attempts_done >= len(delays):
        return None
    delay = delays[attempts_done] * random.uniform(0.9, 1.1)
    return max(delay, retry_after_s or 0.0)


def record_attempt(session: Session, delivery: WebhookDelivery, outcome: Outcome, delays: list[float],
                   endpoint: WebhookEndpoint | None) -> float | None:
    """Log the attempt and move the delivery on, in one transaction. Returns the delay to the next try."""
    session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now(), status_code=outcome.status_code,
                               latency_ms=round(outcome.latency_ms, 2), error=outcome.error))
    delivery.attempts += 1
    delay = None
    if outcome.ok:
        delivery.status, delivery.finished_at, delivery.last_error = SUCCEEDED, now(), None
    elif outcome.status_code == 410:
        _finish_failed(delivery, "the receiver answered 410 Gone")
        if endpoint is not None:
            endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, "receiver answered 410", now()
    else:
        delivery.last_error = outcome.error or f"HTTP {outcome.status_code}"
        delay = next_delay(delays, delivery.attempts, outcome.retry_after_s)
        if delay is None:
            _finish_failed(delivery, delivery.last_error)
            if endpoint is not None:
                endpoint.failing, endpoint.updated_at = True, now()
        else:
            delivery.next_attempt_at = now() + timedelta(seconds=delay)
    delivery.locked_until = None if delay is None else delivery.next_attempt_at
    session.commit()
    return delay


def _finish_failed(delivery: WebhookDelivery, error: str) -> None:
    delivery.status, delivery.finished_at, delivery.last_error = FAILED, now(), error
    delivery.next_attempt_at = None


def redeliver(session: Session, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send again from the start of the schedule (same webhook-id, same body)."""
    delivery.status, delivery.next_attempt_at, delivery.finished_at = PENDING, now(), None
    delivery.locked_until, delivery.attempts = None, 0
    session.commit()
    return delivery


def job_deliveries(session: Session, job_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    deliveries = session.execute(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
                                 .order_by(WebhookDelivery.created_at)).scalars().all()
    out = []
    for d in deliveries:
        attempts = session.execute(select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id)
                                   .order_by(WebhookAttempt.id)).scalars().all()
        out.append((d, list(attempts)))
    return out


def parse_retry_after(value: str | None, now_dt: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now_dt or now())).total_seconds())
