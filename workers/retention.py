"""The beat's retention pass: purge finished jobs past ``DEEPFAKE_RETENTION_DAYS`` (``core.retention``)."""

from __future__ import annotations

import logging

from core import retention
from core.blobs import default_blob_store
from core.db import session_scope
from core.settings import get_settings
from workers.celery_app import PURGE_EXPIRED, app

log = logging.getLogger(__name__)


@app.task(name=PURGE_EXPIRED)
def purge_expired() -> int:
    """Safe to run twice or on two beats at once: a job another pass holds is skipped, a purged one left."""
    with session_scope() as session:
        purged = retention.purge_expired(session, default_blob_store(), get_settings().retention_days)
    if purged:
        log.info("purged the media and results of %d jobs past the retention period", purged)
    return purged
