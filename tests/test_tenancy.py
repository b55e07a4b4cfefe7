"""Tenants cannot see each other: another tenant's rows answer 404, events and dedup stay within a tenant."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core import batches, jobs, webhooks
from core.db import session_scope
from core.tables import WebhookDelivery
from tests import media
from tests.api_client import make_client, submit_bytes
from tests.faults import dead_worker


@pytest.fixture
def acme_rows(clean_db):
    """Tenant acme's job (failed, with one delivery to its callback), endpoint and batch, made in the database."""
    with session_scope() as s:
        job = jobs.create_job(s, source_kind="url", source_uri="https://example.org/a.jpg", tenant="acme",
                              callback_url="https://example.org/acme-hook")
        s.commit()
        jobs.fail(s, job.id, "fetch_failed", "gone")
        delivery = s.execute(select(WebhookDelivery.id).where(WebhookDelivery.job_id == job.id)).scalar_one()
        endpoint = webhooks.create_endpoint(s, url="https://example.org/acme", event_types=["job.failed"],
                                            tenant="acme")
        batch = batches.create_batch(s, priority="bulk", dedup=True, callback_url=None, manifest_key=None,
                                     open_for_uploads=True, tenant="acme")
    return {"job": job.id, "delivery": delivery, "endpoint": endpoint.id, "batch": batch.id}


def _routes(ids: dict) -> list[tuple[str, str, dict]]:
    job, delivery, endpoint, batch = ids["job"], ids["delivery"], ids["endpoint"], ids["batch"]
    return [
        ("GET", f"/v1/jobs/{job}", {}),
        ("GET", f"/v1/jobs/{job}/deliveries", {}),
        ("POST", f"/v1/jobs/{job}/deliveries/{delivery}/redeliver", {}),
        ("GET", f"/v1/webhooks/endpoints/{endpoint}", {}),
        ("PATCH", f"/v1/webhooks/endpoints/{endpoint}", {"json": {"url": "https://example.org/mine"}}),
        ("POST", f"/v1/webhooks/endpoints/{endpoint}/rotate-secret", {}),
        ("GET", f"/v1/batches/{batch}", {}),
        ("GET", f"/v1/batches/{batch}/results", {}),
        ("POST", f"/v1/batches/{batch}/close", {}),
        ("POST", f"/v1/batches/{batch}/cancel", {}),
        ("DELETE", f"/v1/webhooks/endpoints/{endpoint}", {}),
        ("DELETE", f"/v1/jobs/{job}", {}),
    ]


def test_another_tenant_gets_404_everywhere_and_changes_nothing(acme_rows):
    with make_client(tenant="globex") as client:
        for method, path, kwargs in _routes(acme_rows):
            resp = client.request(method, path, **kwargs)
            assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found"), (method, path)
        assert client.get("/v1/webhooks/endpoints").json() == []
    with make_client(tenant="acme") as owner:  # all still there, unchanged
        assert owner.get(f"/v1/jobs/{acme_rows['job']}").status_code == 200
        endpoint = owner.get(f"/v1/webhooks/endpoints/{acme_rows['endpoint']}").json()
        assert endpoint["url"] == "https://example.org/acme"
        assert owner.get(f"/v1/batches/{acme_rows['batch']}").json()["status"] == "ingesting"
        assert len(owner.get(f"/v1/jobs/{acme_rows['job']}/deliveries").json()) == 1


def test_the_owner_and_an_admin_see_the_rows(acme_rows):
    for client in (make_client(tenant="acme"), make_client(scopes=["admin"], tenant="ops")):
        with client:
            for method, path, kwargs in _routes(acme_rows):
                if method in ("GET",):
                    assert client.request(method, path, **kwargs).status_code == 200, (method, path)
            assert [e["id"] for e in client.get("/v1/webhooks/endpoints").json()] == [acme_rows["endpoint"]]


def test_an_upload_into_another_tenants_batch_is_refused_as_if_it_did_not_exist(acme_rows):
    photo = media.jpeg_bytes(media.astronaut())
    with make_client(tenant="globex") as client:
        resp = client.post(f"/v1/jobs?batch_id={acme_rows['batch']}&ref=x.jpg", files={"file": ("x.jpg", photo)})
        missing = client.post("/v1/jobs?batch_id=no-such-batch&ref=x.jpg", files={"file": ("x.jpg", photo)})
    assert (resp.status_code, resp.json()["error"]) == (missing.status_code, {
        **missing.json()["error"], "message": missing.json()["error"]["message"].replace("no-such-batch",
                                                                                          acme_rows["batch"])})
    assert resp.status_code == 409
    with session_scope() as s:
        assert s.get(batches.Batch, acme_rows["batch"]).total == 0


def test_endpoints_hear_only_their_own_tenants_events(clean_db):
    with session_scope() as s:
        mine = webhooks.create_endpoint(s, url="https://example.org/acme", event_types=["job.failed"], tenant="acme")
        webhooks.create_endpoint(s, url="https://example.org/globex", event_types=["job.failed"], tenant="globex")
        job = jobs.create_job(s, source_kind="url", source_uri="https://example.org/a.jpg", tenant="acme")
        s.commit()
        jobs.fail(s, job.id, "fetch_failed", "gone")
        sent = s.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.tenant)).all()
    assert sent == [(mine.id, "acme")]


def test_a_batch_and_its_items_belong_to_the_tenant_that_made_it(clean_db, monkeypatch):
    import api.routes_batches

    monkeypatch.setattr(api.routes_batches, "enqueue_ingest", lambda batch_id: None)  # ingested by hand below
    with make_client(tenant="acme") as client:
        batch_id = client.post("/v1/batches", json={"items": [{"url": "https://example.org/a.jpg"}]}).json()["id"]
    with session_scope() as s:
        batch = s.get(batches.Batch, batch_id)
        batches.add_items(s, batch_id, [{"url": "https://example.org/a.jpg", "ref": "a"}], consumed=1)
        item = batches.item_by_ref(s, batch_id, "a")
        assert (batch.tenant, item.tenant) == ("acme", "acme")


def _analysed(tenant: str, sha256: str) -> str:
    """A succeeded job of ``tenant`` for bytes with this hash, as the running model would leave it."""
    from core.settings import get_settings
    from pipeline.classifier import model_identity

    name, version = model_identity(get_settings().model_path)
    with session_scope() as s:
        job = jobs.create_job(s, source_kind="upload", sha256=sha256, tenant=tenant)
        s.commit()
        jobs.start(s, job.id, worker=dead_worker())
        jobs.succeed(s, job.id, {"verdict": "real", "sha256": sha256, "model": {"name": name, "version": version}})
    return job.id


def test_dedup_does_not_cross_tenants(clean_db, monkeypatch):
    import hashlib

    import api.routes_jobs

    monkeypatch.setattr(api.routes_jobs, "enqueue_job", lambda job_id, priority: None)  # no worker here
    photo = media.jpeg_bytes(media.astronaut())
    earlier = _analysed("acme", hashlib.sha256(photo).hexdigest())
    with make_client(tenant="globex") as other:
        theirs = submit_bytes(other, photo).json()
    with make_client(tenant="acme") as owner:
        mine = submit_bytes(owner, photo).json()
    assert (theirs["status"], theirs["reused_from"]) == ("queued", None)
    assert (mine["status"], mine["reused_from"]) == ("succeeded", earlier)


def test_group_look_ups_match_hashes_within_each_tenant(clean_db):
    from core.settings import get_settings
    from pipeline.classifier import model_identity

    acme_job, globex_job = _analysed("acme", "a" * 64), _analysed("globex", "b" * 64)
    key = jobs.model_key(*model_identity(get_settings().model_path))
    with session_scope() as s:
        found = jobs.find_reusable_many(s, wanted={("acme", "a" * 64), ("acme", "b" * 64), ("globex", "b" * 64)},
                                        key=key)
        assert {pair: job.id for pair, job in found.items()} == {("acme", "a" * 64): acme_job,
                                                                 ("globex", "b" * 64): globex_job}


def test_the_migration_gives_existing_rows_the_default_tenant(clean_db):
    from core.migrate import downgrade, upgrade

    downgrade(clean_db.database_url, "0006")
    try:
        with session_scope() as s:
            s.execute(text("INSERT INTO jobs (id, status, progress, source_kind, attempts, priority, dedup) "
                           "VALUES ('old-job', 'queued', 0, 'url', 0, 'interactive', true)"))
            s.execute(text("INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, failing) "
                           "VALUES ('old-endpoint', 'https://example.org/h', 's', '[]', true, false)"))
    finally:
        upgrade(clean_db.database_url)
    with session_scope() as s:
        assert s.execute(text("SELECT tenant FROM jobs WHERE id = 'old-job'")).scalar_one() == "default"
        assert s.execute(text("SELECT tenant FROM webhook_endpoints")).scalar_one() == "default"
    with make_client(tenant="default") as client:
        assert client.get("/v1/jobs/old-job").status_code == 200
