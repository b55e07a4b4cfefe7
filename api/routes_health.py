"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from pipeline.classifier import check_model
from workers.celery_app import app as celery_app

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict:
    return {"status": "ok"}


def _check(name: str, probe) -> tuple[str, str]:
    """(name, "ok" | "error"). What failed goes to the log: exception text names hosts, ports and paths,
    which an open endpoint must not hand out."""
    try:
        probe()
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness check %s failed: %s: %s", name, exc.__class__.__name__, exc)
        return name, "error"
    return name, "ok"


@router.get("/readyz", summary="Database, broker and model are reachable")
def readyz(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    checks = dict([
        _check("database", lambda: session.execute(text("SELECT 1"))),
        _check("broker", lambda: celery_app.connection_for_write().ensure_connection(max_retries=1, timeout=2)),
        _check("model", lambda: check_model(settings.model_path)),
    ])
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503)
