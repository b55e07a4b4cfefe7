"""Job state transitions against the real Postgres database."""

from __future__ import annotations

from core import jobs
from core.db import session_scope
from core.jobs import JobStatus
from tests.faults import dead_worker


def _new(**fields) -> str:
    with session_scope() as s:
        return jobs.create_job(s, source_kind="url", source_uri="https://example.org/a.jpg", **fields).id


def test_happy_path_records_data_with_each_transition(clean_db):
    job_id = _new()
    with session_scope() as s:
        job = jobs.start(s, job_id, worker=dead_worker())
        assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)
        assert job.started_at is not None
        jobs.set_progress(s, job_id, 0.4)
        jobs.set_progress(s, job_id, 0.2)  # never backwards
        assert jobs.get_job(s, job_id).progress == 0.4
        done = jobs.succeed(s, job_id, {"verdict": "real"})
        assert (done.status, done.progress, done.result) == (JobStatus.SUCCEEDED, 1.0, {"verdict": "real"})
        assert done.finished_at is not None


def test_terminal_states_refuse_every_transition(clean_db):
    job_id = _new()
    with session_scope() as s:
        jobs.start(s, job_id, worker=dead_worker())
        jobs.succeed(s, job_id, {"verdict": "fake"})
        assert jobs.start(s, job_id, worker=dead_worker()) is None
        assert jobs.succeed(s, job_id, {"verdict": "real"}) is None
        assert jobs.fail(s, job_id, "corrupt_media", "x") is None
        job = jobs.get_job(s, job_id)
        assert (job.status, job.result, job.error_code) == (JobStatus.SUCCEEDED, {"verdict": "fake"}, None)


def test_redelivery_counts_attempts(clean_db):
    job_id = _new()
    with session_scope() as s:
        jobs.start(s, job_id, worker=dead_worker())
        assert jobs.start(s, job_id, worker=dead_worker()).attempts == 2


def test_a_queued_repeat_reuses_an_earlier_result(clean_db):
    first, repeat = _new(sha256="a" * 64), _new(sha256="a" * 64)
    with session_scope() as s:
        jobs.start(s, first, worker=dead_worker())
        jobs.succeed(s, first, {"verdict": "real", "model": {"name": "m", "version": "1"}})
        earlier = jobs.find_reusable(s, sha256="a" * 64, key="m:1", exclude_id=repeat, tenant="default")
        assert earlier.id == first
        another_model = jobs.find_reusable(s, sha256="a" * 64, key="m:2", exclude_id=repeat, tenant="default")
        assert another_model is None
        done = jobs.reuse_result(s, jobs.get_job(s, repeat), earlier)
        assert (done.status, done.reused_from, done.result["reused"]) == (JobStatus.SUCCEEDED, first, True)
        assert done.attempts == 0, "no worker ran it"


def test_queued_can_fail_without_running(clean_db):
    job_id = _new()
    with session_scope() as s:
        assert jobs.fail(s, job_id, "fetch_failed", "gone").status == JobStatus.FAILED


def test_unknown_job(clean_db):
    with session_scope() as s:
        assert jobs.start(s, "00000000-0000-0000-0000-000000000000", worker=dead_worker()) is None
        assert jobs.delete(s, "00000000-0000-0000-0000-000000000000") is None


def test_a_group_starts_once_and_reports_the_deliveries_it_queued(clean_db):
    from core import webhooks

    called, quiet = _new(callback_url="https://example.org/hook"), _new()
    done = _new()
    with session_scope() as s:
        jobs.start(s, done, worker=dead_worker())
        jobs.succeed(s, done, {"verdict": "real"})
    with session_scope() as s:
        started = jobs.start_group(s, [called, done, quiet], worker=dead_worker())
        assert [job.id for job in started] == [called, quiet]  # the finished one is skipped
        assert jobs.start_group(s, [called, quiet], worker=dead_worker()) is None, \
            "running already: a delivery of the group again"
        finished = jobs.finish_many(s, [jobs.Outcome(called, error=("corrupt_media", "x")),
                                        jobs.Outcome(quiet, {"verdict": "real"}), jobs.Outcome(done, {})])
        assert [job.id for job in finished.jobs] == sorted([called, quiet])
        assert finished.deliveries and finished.deliveries == webhooks.unsent_deliveries(s, [called, quiet])
        assert jobs.get_job(s, done).result == {"verdict": "real"}
