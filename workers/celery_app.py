"""The Celery application. Importing it loads no model and no TensorFlow.

Settings chosen from measurements (see README "Operating workers"):
late acknowledgement plus ``task_reject_on_worker_lost`` so a job whose worker
process dies is delivered again; prefetch 1 because jobs are long; results
live in the database, so Celery stores none. The tasks the beat schedules log a database outage as one
line per tick and carry on at the next (``workers.periodic``).
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from kombu import Exchange, Queue

from core.settings import Settings, get_settings
from workers import periodic

PROCESS_JOB = "deepfake.process_job"
PROCESS_JOBS = "deepfake.process_jobs"
EXPLAIN_LIME = "deepfake.explain_lime"
PROCESS_SEGMENT = "deepfake.process_segment"
INGEST_BATCH = "deepfake.ingest_batch"
DELIVER_WEBHOOK = "deepfake.deliver_webhook"
DISPATCH_WEBHOOKS = "deepfake.dispatch_webhooks"
DISPATCH_ITEMS = "deepfake.dispatch_items"
PURGE_EXPIRED = "deepfake.purge_expired"
RECOVER_JOBS = "deepfake.recover_jobs"
# Every task the beat schedules (make_celery below): a database outage is one line per tick for these.
PERIODIC_TASKS = (DISPATCH_WEBHOOKS, DISPATCH_ITEMS, RECOVER_JOBS, PURGE_EXPIRED)
INTERACTIVE_QUEUE = "interactive"
WEBHOOK_QUEUE = "webhooks"  # its own queue: a backlog of media never holds up notifications
BULK_QUEUE = "bulk"
# Workers consume in this order and, on Redis, always take from the first non-empty queue:
# an interactive job never waits behind a backlog.
QUEUES = (INTERACTIVE_QUEUE, WEBHOOK_QUEUE, BULK_QUEUE)
PRIORITY_QUEUES = {"interactive": INTERACTIVE_QUEUE, "bulk": BULK_QUEUE}


def _transport_options(settings: Settings) -> dict:
    if settings.embedded:
        queue_dir = settings.broker_dir / "queue"
        queue_dir.mkdir(parents=True, exist_ok=True)
        # The file-system transport polls; 0.1 s keeps submit-to-start latency low. Its exchange
        # table would otherwise land in the current directory.
        return {"data_folder_in": str(queue_dir), "data_folder_out": str(queue_dir),
                "control_folder": str(settings.broker_dir / "control"),
                "store_processed": False, "polling_interval": 0.1}
    # Unacked jobs come back after the visibility timeout if a whole worker dies;
    # kombu looks for them every interval x throttle seconds (100 s by default).
    return {"visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": 10, "unacked_restore_throttle": 1,
            "queue_order_strategy": "priority"}


def _retention_schedule(settings: Settings) -> dict:
    """The retention pass, when a retention period is set."""
    if settings.retention_days <= 0:
        return {}
    return {"purge-expired": {"task": PURGE_EXPIRED, "schedule": settings.retention_interval_s}}


def make_celery(settings: Settings) -> Celery:
    app = Celery("deepfake", broker=settings.broker_url,
                 include=["workers.tasks", "workers.bulk", "workers.webhooks", "workers.segments", "workers.batches",
                          "workers.retention", "workers.recovery", "workers.lime"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=INTERACTIVE_QUEUE,
        # Each queue needs its own exchange and routing key: given only names, Celery binds every queue
        # to the default exchange and key, and each message then lands in all of them.
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        # Purging is housekeeping: on the bulk lane it waits while interactive jobs are queued.
        # Recovery rides the webhook lane: never stuck behind a backlog of media, which is what it repairs.
        task_routes={DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE}, DISPATCH_WEBHOOKS: {"queue": WEBHOOK_QUEUE},
                     RECOVER_JOBS: {"queue": WEBHOOK_QUEUE}, PURGE_EXPIRED: {"queue": BULK_QUEUE}},
        # One beat (``deepfake beat``, or the worker that ``deepfake serve`` starts) queues due webhook
        # retries and the batch items nobody has sent yet.
        beat_schedule={"dispatch-webhooks": {"task": DISPATCH_WEBHOOKS,
                                             "schedule": settings.webhook_dispatch_interval_s},
                       "dispatch-items": {"task": DISPATCH_ITEMS, "schedule": settings.dispatch_interval_s},
                       # Jobs whose worker or message was lost (workers.recovery).
                       "recover-jobs": {"task": RECOVER_JOBS, "schedule": settings.recover_interval_s},
                       **_retention_schedule(settings)},
        task_annotations=periodic.annotations(PERIODIC_TASKS),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Child start-up imports the model; give it room past Celery's 4 s default.
        worker_proc_alive_timeout=60,
    )
    return app


app = make_celery(get_settings())


def enqueue_job(job_id: str, priority: str = "interactive") -> None:
    """Send the job's ID (never its bytes) to the workers, on its priority's queue."""
    app.send_task(PROCESS_JOB, args=[job_id], queue=PRIORITY_QUEUES[priority])


def enqueue_lime(job_id: str, face: int) -> None:
    """Ask for a LIME map of one face of a finished job (``workers/lime.py``), on the interactive lane:
    someone is waiting on the page for it."""
    app.send_task(EXPLAIN_LIME, args=[job_id, face], queue=INTERACTIVE_QUEUE)


def enqueue_jobs(job_ids: list[str], priority: str) -> int:
    """Send many jobs; bulk ones travel ``bulk_group_size`` IDs per message. Returns the messages sent."""
    size = get_settings().bulk_group_size if priority == "bulk" else 1
    if size <= 1:
        for job_id in job_ids:
            enqueue_job(job_id, priority)
        return len(job_ids)
    groups = [job_ids[i:i + size] for i in range(0, len(job_ids), size)]
    for group in groups:
        app.send_task(PROCESS_JOBS, args=[group], queue=PRIORITY_QUEUES[priority])
    return len(groups)


def queue_depth(priority: str) -> int:
    """Messages waiting on a priority's queue. On the bulk lane a message may carry a group of jobs."""
    settings = get_settings()
    queue = PRIORITY_QUEUES[priority]
    if settings.embedded:
        # The file-system broker keeps one file per waiting message, named <time>_<id>.<queue>.msg.
        return sum(1 for _ in (settings.broker_dir / "queue").glob(f"*.{queue}.msg"))
    # Kombu keeps a Redis queue as a list under the queue's name.
    return int(_redis(settings.redis_url).llen(queue))


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)
