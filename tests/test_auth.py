"""API keys: 401 without a valid key on every /v1 route, 403 without the scope, keys hashed and revocable."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core import db
from core.db import session_scope
from core.tables import ApiKey
from tests.api_client import auth, make_client, new_key


def _v1_routes() -> list[tuple[str, str]]:
    """(method, path with every {parameter} filled in) for every /v1 route the app serves."""
    from api.app import create_app

    found = []
    for path, operations in create_app().openapi()["paths"].items():  # what the app really serves
        if path.startswith("/v1"):
            found += [(method.upper(), re.sub(r"\{[^}]+\}", "x", path)) for method in sorted(operations)]
    return found


@pytest.fixture
def anonymous(clean_db):
    from api.app import create_app

    with TestClient(create_app()) as client:
        yield client


def test_the_route_list_covers_the_api():
    assert len(_v1_routes()) >= 16  # jobs, deliveries, endpoints, batches: a route added later is checked too


@pytest.mark.parametrize(("method", "path"), _v1_routes())
def test_every_v1_route_needs_a_key(anonymous, method, path):
    resp = anonymous.request(method, path)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthorized" and resp.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer dfk_not-a-key-at-all-0000000000000000000000000", "Bearer ",
                                    "Basic dXNlcjpwYXNz", "dfk_without_a_scheme"])
def test_bad_keys_are_401(anonymous, header):
    resp = anonymous.get("/v1/jobs/x", headers={"Authorization": header})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"


def test_health_checks_stay_open(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code in (200, 503)


def test_a_key_is_stored_only_as_a_hash_with_a_visible_prefix(clean_db):
    key = new_key(name="hashed")
    with session_scope() as session:
        row = session.execute(select(ApiKey).where(ApiKey.name == "hashed")).scalar_one()
        stored = [str(getattr(row, column.name)) for column in ApiKey.__table__.columns]
    assert key.startswith("dfk_") and len(key) > 40
    assert row.prefix == key[:12] and not any(key in value for value in stored)


def test_a_revoked_key_is_401(clean_db):
    from core import keys

    key = new_key()
    with make_client(key=key) as client:
        assert client.get("/v1/jobs/x").status_code == 404
        with session_scope() as session:
            keys.revoke(session, key[:12])
        resp = client.get("/v1/jobs/x")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"


WEBHOOK_ROUTES = [("GET", "/v1/webhooks/endpoints"), ("POST", "/v1/webhooks/endpoints/x/rotate-secret"),
                  ("GET", "/v1/webhooks/endpoints/x"), ("DELETE", "/v1/webhooks/endpoints/x")]
JOB_ROUTES = [("GET", "/v1/jobs/x"), ("DELETE", "/v1/jobs/x"), ("GET", "/v1/jobs/x/deliveries"),
              ("POST", "/v1/jobs/x/deliveries/y/redeliver"), ("GET", "/v1/batches/x"),
              ("GET", "/v1/batches/x/results"), ("POST", "/v1/batches/x/cancel"), ("POST", "/v1/batches/x/close")]


@pytest.mark.parametrize(("method", "path"), WEBHOOK_ROUTES)
def test_a_key_without_the_webhooks_scope_is_403_on_endpoints(clean_db, method, path):
    with make_client(scopes=["jobs"]) as client:
        resp = client.request(method, path)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path"), JOB_ROUTES)
def test_a_key_without_the_jobs_scope_is_403_on_jobs_and_batches(clean_db, method, path):
    with make_client(scopes=["webhooks"]) as client:
        resp = client.request(method, path)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


def test_submitting_needs_the_jobs_scope(clean_db):
    with make_client(scopes=["webhooks"]) as client:
        assert client.post("/v1/jobs", json={"url": "https://example.org/a.jpg"}).status_code == 403
        assert client.post("/v1/batches", json={"items": []}).status_code == 403
    with make_client(scopes=["jobs"]) as client:
        assert client.post("/v1/webhooks/endpoints", json={"url": "https://example.org/h"}).status_code == 403


def test_admin_carries_every_scope(clean_db):
    with make_client(scopes=["admin"]) as client:
        assert client.get("/v1/webhooks/endpoints").status_code == 200
        assert client.get("/v1/jobs/x").status_code == 404


def test_unknown_scopes_and_bad_tenants_are_refused(clean_db):
    from core import keys

    with session_scope() as session, pytest.raises(keys.KeyRequestError):
        keys.create(session, name="x", scopes=["root"])
    with session_scope() as session, pytest.raises(keys.KeyRequestError):
        keys.create(session, name="x", tenant="a b")


def test_auth_off_is_refused_beyond_loopback():
    from api.auth import AuthModeRefused, check_auth_mode
    from core.settings import Settings

    off = Settings(auth="off")
    for host in ("127.0.0.1", "::1", "localhost"):
        check_auth_mode(off, host)
    for host in ("0.0.0.0", "::", "10.0.0.5"):
        with pytest.raises(AuthModeRefused):
            check_auth_mode(off, host)
    check_auth_mode(Settings(auth="on"), "0.0.0.0")


def test_the_api_command_refuses_auth_off_on_all_interfaces(monkeypatch, capsys):
    from cli import main as cli

    monkeypatch.setenv("DEEPFAKE_AUTH", "off")
    db.reset()
    try:
        assert cli.main(["api", "--host", "0.0.0.0", "--port", "9"]) == 2
    finally:
        monkeypatch.delenv("DEEPFAKE_AUTH")
        db.reset()
    assert "only on loopback" in capsys.readouterr().err


def test_auth_off_serves_loopback_callers_without_a_key(api_server, monkeypatch):
    import httpx

    monkeypatch.setenv("DEEPFAKE_AUTH", "off")
    db.reset()
    resp = httpx.get(f"{api_server}/v1/jobs/x")
    assert resp.status_code == 404  # served, as the local operator: no such job
    with make_client(key="dfk_unused") as client:  # the test client's address is not loopback
        assert client.get("/v1/jobs/x").status_code == 401


def test_key_cli_creates_lists_and_revokes(clean_db, capsys):
    from cli import main as cli

    assert cli.main(["keys", "create", "--name", "ci robot", "--scope", "jobs", "--tenant", "acme"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"dfk_[A-Za-z0-9_-]{43}", key)
    with make_client(key=key) as client:
        assert client.get("/v1/jobs/x").status_code == 404
        assert cli.main(["keys", "list"]) == 0
        listing = capsys.readouterr().out
        assert key[:12] in listing and "acme" in listing and "active" in listing and key not in listing
        assert cli.main(["keys", "revoke", key[:12]]) == 0
        assert client.get("/v1/jobs/x").status_code == 401
    cli.main(["keys", "list"])
    assert "revoked" in capsys.readouterr().out
    assert cli.main(["keys", "revoke", "dfk_nosuchkey"]) == 1


def test_the_admin_key_file_is_made_once_and_private(clean_db, tmp_path):
    from core import keys

    with session_scope() as session:
        path = keys.ensure_admin_key(session, tmp_path)
        assert keys.ensure_admin_key(session, tmp_path) is None  # one admin key exists now
    assert path.stat().st_mode & 0o777 == 0o600
    with make_client(key=path.read_text().strip()) as client:
        assert client.get("/v1/webhooks/endpoints").status_code == 200


def test_keys_never_reach_the_logs(clean_db, caplog):
    key = new_key()
    with caplog.at_level("DEBUG"), make_client(key=key) as client:
        client.get("/v1/jobs/x")
        client.get("/v1/jobs/x", headers=auth(key + "tampered"))
    assert key not in caplog.text
