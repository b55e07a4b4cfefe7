"""Webhook endpoints (``/v1/webhooks/endpoints``) and a job's delivery log (``/v1/jobs/{id}/deliveries``)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from api.auth import JobsCaller, WebhooksCaller
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import DeliveryOut, EndpointIn, EndpointOut, EndpointPatch
from api.urls import check_receiver_url
from core import tenancy, webhooks
from core.clock import now
from core.keys import Principal
from core.tables import Job, WebhookDelivery, WebhookEndpoint
from workers.webhooks import enqueue_deliveries

router = APIRouter(tags=["webhooks"])


def _endpoint(session, endpoint_id: str, caller: Principal) -> WebhookEndpoint:
    """The caller's endpoint, or 404 (also for another tenant's: existence is not revealed)."""
    endpoint = tenancy.owned(session, WebhookEndpoint, endpoint_id, caller)
    if endpoint is None:
        raise ApiError(404, "not_found", f"no webhook endpoint {endpoint_id}")
    return endpoint


@router.post("/v1/webhooks/endpoints", status_code=201, response_model=EndpointOut)
def create_endpoint(body: EndpointIn, session: SessionDep, settings: SettingsDep,
                    caller: WebhooksCaller) -> EndpointOut:
    """Register a receiver of the caller's tenant's events. The response carries its signing secret; store
    it, it is not shown again."""
    url = check_receiver_url(str(body.url), settings)
    endpoint = webhooks.create_endpoint(session, url=url, event_types=list(dict.fromkeys(body.event_types)),
                                        description=body.description, enabled=body.enabled, tenant=caller.tenant)
    return EndpointOut.from_row(endpoint, with_secret=True)


@router.get("/v1/webhooks/endpoints", response_model=list[EndpointOut])
def list_endpoints(session: SessionDep, caller: WebhooksCaller) -> list[EndpointOut]:
    query = tenancy.scoped(select(WebhookEndpoint), WebhookEndpoint, caller)
    rows = session.execute(query.order_by(WebhookEndpoint.created_at)).scalars()
    return [EndpointOut.from_row(e) for e in rows]


@router.get("/v1/webhooks/endpoints/{endpoint_id}", response_model=EndpointOut)
def get_endpoint(endpoint_id: str, session: SessionDep, caller: WebhooksCaller) -> EndpointOut:
    return EndpointOut.from_row(_endpoint(session, endpoint_id, caller))


@router.patch("/v1/webhooks/endpoints/{endpoint_id}", response_model=EndpointOut)
def update_endpoint(endpoint_id: str, body: EndpointPatch, session: SessionDep, settings: SettingsDep,
                    caller: WebhooksCaller) -> EndpointOut:
    """Change an endpoint; enabling it again clears its disabled and failing flags."""
    endpoint = _endpoint(session, endpoint_id, caller)
    if body.url is not None:
        endpoint.url = check_receiver_url(str(body.url), settings)
    if body.event_types is not None:
        endpoint.event_types = list(dict.fromkeys(body.event_types))
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is not None:
        endpoint.enabled = body.enabled
        if body.enabled:
            endpoint.disabled_reason, endpoint.failing = None, False
    endpoint.updated_at = now()
    session.commit()
    return EndpointOut.from_row(endpoint)


@router.post("/v1/webhooks/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointOut)
def rotate_endpoint_secret(endpoint_id: str, session: SessionDep, settings: SettingsDep,
                           caller: WebhooksCaller) -> EndpointOut:
    """A new secret; events are signed with both old and new until the old one expires."""
    endpoint = webhooks.rotate_secret(session, _endpoint(session, endpoint_id, caller),
                                      settings.webhook_secret_grace_s)
    return EndpointOut.from_row(endpoint, with_secret=True)


@router.delete("/v1/webhooks/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, session: SessionDep, caller: WebhooksCaller) -> Response:
    session.delete(_endpoint(session, endpoint_id, caller))
    session.commit()
    return Response(status_code=204)


@router.get("/v1/jobs/{job_id}/deliveries", response_model=list[DeliveryOut])
def job_deliveries(job_id: str, session: SessionDep, caller: JobsCaller) -> list[DeliveryOut]:
    """Every webhook delivery of a job with the log of its attempts."""
    if tenancy.owned(session, Job, job_id, caller) is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return [DeliveryOut.from_rows(d, attempts) for d, attempts in webhooks.job_deliveries(session, job_id)]


@router.post("/v1/jobs/{job_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut)
def redeliver(job_id: str, delivery_id: str, session: SessionDep, caller: JobsCaller) -> DeliveryOut:
    """Send a delivery again (same webhook-id and body), with a fresh retry schedule."""
    delivery = tenancy.owned(session, WebhookDelivery, delivery_id, caller)
    if delivery is None or delivery.job_id != job_id:
        raise ApiError(404, "not_found", f"no delivery {delivery_id} for job {job_id}")
    webhooks.redeliver(session, delivery)
    enqueue_deliveries([delivery.id])
    return DeliveryOut.from_rows(delivery, [])
