"""``GET /metrics``: the deployment's state in the Prometheus text format, read when scraped.

Jobs by status and lane come from Postgres (the record of truth), queue depth from the broker; any API
process answers the same figures, so several of them need nothing shared. What happens inside workers
(durations, failures, webhook attempts, recoveries) is counted there and served by each worker
(``core.metrics``). Admin keys only: the figures span every tenant.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from api.auth import requires
from core import jobs, keys
from core.db import session_scope
from core.status import JobStatus
from workers.celery_app import PRIORITY_QUEUES, queue_depth

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class StateCollector:
    """Gauges computed at scrape time; a database outage raises (the scrape answers 503)."""

    def collect(self):
        yield self._jobs()
        depth = self._queue_depth()
        if depth is not None:
            yield depth

    def _jobs(self) -> GaugeMetricFamily:
        with session_scope() as session:
            counts = jobs.count_by_status(session)
        family = GaugeMetricFamily("deepfake_jobs", "Jobs in the database by status and lane (every tenant)",
                                   labels=["status", "lane"])
        for status in JobStatus:  # every series present, zeros included, so that rates and alerts see them
            for lane in PRIORITY_QUEUES:
                family.add_metric([status.value, lane], counts.get((status.value, lane), 0))
        return family

    def _queue_depth(self) -> GaugeMetricFamily | None:
        family = GaugeMetricFamily("deepfake_queue_depth", "Messages waiting in each lane's queue (a bulk "
                                   "message may carry a group of jobs)", labels=["lane"])
        try:
            for lane in PRIORITY_QUEUES:
                family.add_metric([lane], queue_depth(lane))
        except Exception as exc:  # the broker down: the series is absent, which an alert on absent() sees
            log.warning("queue depth unavailable for /metrics: %s", type(exc).__name__)
            return None
        return family


@router.get("/metrics", summary="Operational metrics (Prometheus text format; admin keys)",
            dependencies=[Depends(requires(keys.ADMIN))])
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
