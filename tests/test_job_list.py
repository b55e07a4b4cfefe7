"""``GET /v1/jobs``: newest first, filters, cursor pages, one tenant's jobs only; a job's stored media; the indexes
the job and batch lists read on Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import batches, jobs
from core.db import session_scope
from tests import media
from tests.api_client import make_client, submit_bytes

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _job(session, minutes: int, tenant: str = "acme", verdict: str | None = None, status: str = "succeeded",
         batch_id: str | None = None) -> str:
    """A job created ``minutes`` after T0, finished with ``verdict`` (or failed, or left queued)."""
    job = jobs.create_job(session, source_kind="url", source_uri=f"https://example.org/{minutes}.jpg",
                          tenant=tenant, batch_id=batch_id)
    job.created_at = T0 + timedelta(minutes=minutes)
    session.commit()
    if status == "succeeded":
        jobs.succeed(session, job.id, {"kind": "image", "verdict": verdict, "score": 0.5, "faces": []})
    elif status == "failed":
        jobs.fail(session, job.id, "fetch_failed", "gone")
    return job.id


@pytest.fixture
def acme_jobs(clean_db):
    """Six of acme's jobs (minutes 0-5 after T0, two in one batch) and two of globex's, newest last."""
    with session_scope() as s:
        batch = batches.create_batch(s, priority="bulk", dedup=True, callback_url=None, manifest_key=None,
                                     tenant="acme")
        ids = [_job(s, 0, verdict="fake"), _job(s, 1, verdict="real"), _job(s, 2, verdict="no_face"),
               _job(s, 3, status="failed", batch_id=batch.id), _job(s, 4, status="queued", batch_id=batch.id),
               _job(s, 5, verdict="uncertain")]
        others = [_job(s, 6, tenant="globex", verdict="fake"), _job(s, 7, tenant="globex", status="queued")]
    return {"ids": ids, "batch": batch.id, "others": others}


def _ids(client, **params) -> list[str]:
    answer = client.get("/v1/jobs", params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_the_list_is_newest_first_and_pages_by_cursor_without_gaps_or_repeats(acme_jobs):
    client = make_client(tenant="acme")
    seen, cursor, pages = [], None, 0
    while True:
        body = client.get("/v1/jobs", params={"limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            assert "next" not in body["links"]
            break
        assert body["links"]["next"].endswith(cursor)
    assert pages == 2
    assert seen == list(reversed(acme_jobs["ids"]))


def test_a_job_created_between_pages_does_not_shift_the_next_page(acme_jobs):
    client = make_client(tenant="acme")
    first = client.get("/v1/jobs", params={"limit": 3}).json()
    with session_scope() as s:
        _job(s, 10, verdict="fake")  # newer than everything listed: belongs before page one, not in page two
    second = client.get("/v1/jobs", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in first["items"] + second["items"]] == list(reversed(acme_jobs["ids"]))


def test_each_filter_narrows_the_list(acme_jobs):
    client = make_client(tenant="acme")
    ids = acme_jobs["ids"]
    assert _ids(client, verdict="fake") == [ids[0]]
    assert _ids(client, verdict="no_face") == [ids[2]]
    assert _ids(client, status="failed") == [ids[3]]
    assert _ids(client, status="succeeded") == [ids[5], ids[2], ids[1], ids[0]]
    assert _ids(client, batch_id=acme_jobs["batch"]) == [ids[4], ids[3]]
    after, before = (T0 + timedelta(minutes=1, seconds=30)).isoformat(), (T0 + timedelta(minutes=4)).isoformat()
    assert _ids(client, created_after=after, created_before=before) == [ids[3], ids[2]]
    # A time without a zone is UTC, as the stored times are.
    assert _ids(client, created_before="2026-03-01T12:00:30") == [ids[0]]
    assert _ids(client, status="succeeded", verdict="real") == [ids[1]]


def test_the_summary_carries_verdict_score_and_error_but_not_the_whole_result(acme_jobs):
    items = {i["id"]: i for i in make_client(tenant="acme").get("/v1/jobs").json()["items"]}
    fake, failed = items[acme_jobs["ids"][0]], items[acme_jobs["ids"][3]]
    assert (fake["verdict"], fake["score"], fake["faces"], fake["error"]) == ("fake", 0.5, 0, None)
    assert failed["error"]["code"] == "fetch_failed" and failed["verdict"] is None
    assert "result" not in fake


def test_another_tenant_never_sees_the_jobs_and_an_admin_sees_all(acme_jobs):
    assert _ids(make_client(tenant="globex")) == list(reversed(acme_jobs["others"]))
    assert set(_ids(make_client(tenant="globex"), batch_id=acme_jobs["batch"])) == set()
    everyone = _ids(make_client(scopes=("admin",)), limit=200)
    assert set(everyone) == set(acme_jobs["ids"]) | set(acme_jobs["others"])


@pytest.mark.parametrize("params", [{"status": "done"}, {"verdict": "real-ish"}, {"cursor": "not-a-cursor"},
                                    {"limit": 0}, {"limit": 201}, {"created_after": "yesterday"}])
def test_a_bad_filter_or_cursor_is_refused_with_422(clean_db, params):
    answer = make_client().get("/v1/jobs", params=params)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_the_list_needs_a_key(clean_db):
    from fastapi.testclient import TestClient

    from api.app import create_app

    assert TestClient(create_app()).get("/v1/jobs").status_code == 401


def test_the_stored_media_comes_back_to_its_tenant_only(clean_db):
    owner = make_client(tenant="acme")
    photo = media.jpeg_bytes(media.no_face())  # stays queued (no worker here): its upload is stored
    job_id = submit_bytes(owner, photo).json()["id"]
    answer = owner.get(f"/v1/jobs/{job_id}/media")
    assert answer.status_code == 200
    assert answer.content == photo and answer.headers["content-type"] == "image/jpeg"
    assert make_client(tenant="globex").get(f"/v1/jobs/{job_id}/media").status_code == 404


def test_media_not_kept_answers_media_gone(acme_jobs):
    answer = make_client(tenant="acme").get(f"/v1/jobs/{acme_jobs['ids'][0]}/media")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "media_gone"


def _list_query_plans(run_list) -> list[str]:
    """The Postgres plans of the SELECTs that ``run_list`` sends, as sent, with sequential scans ruled out
    (a test table is small enough for a scan to win on cost; what matters is which index can serve)."""
    from sqlalchemy import event

    from core.db import engine

    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "ORDER BY" in statement:
            sent.append((statement, parameters))

    event.listen(engine(), "before_cursor_execute", record)
    try:
        run_list()
    finally:
        event.remove(engine(), "before_cursor_execute", record)
    assert sent, "the list sent no ordered SELECT"
    plans = []
    with engine().connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in sent:
            plans.append("\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)))
        conn.rollback()
    return plans


def _acme() -> object:
    from core.keys import Principal

    return Principal(key_id=None, tenant="acme", scopes=frozenset({"jobs"}))


def test_a_tenants_job_list_reads_its_index_newest_first_without_sorting(acme_jobs):
    from core import joblist

    def first_and_second_page() -> None:
        with session_scope() as s:
            page = joblist.list_jobs(s, _acme(), joblist.Filters(), limit=2)
            joblist.list_jobs(s, _acme(), joblist.Filters(), cursor=page.next_cursor, limit=2)

    plans = _list_query_plans(first_and_second_page)
    assert len(plans) == 2
    for plan in plans:
        assert "Index Scan Backward using ix_jobs_tenant_created_at_id" in plan, plan
        assert "Sort" not in plan, plan
    # The cursor bounds the index scan: a deep page does not walk the newer rows.
    assert "created_at" in next(line for line in plans[1].splitlines() if "Index Cond" in line), plans[1]


def test_a_tenants_batch_list_reads_its_index_newest_first_without_sorting(clean_db):
    from core import batchlist

    with session_scope() as s:
        for minutes in range(3):
            batch = batches.create_batch(s, priority="bulk", dedup=True, callback_url=None, manifest_key=None,
                                         tenant="acme")
            batch.created_at = T0 + timedelta(minutes=minutes)
        s.commit()

    def first_and_second_page() -> None:
        with session_scope() as s:
            page = batchlist.list_batches(s, _acme(), limit=2)
            batchlist.list_batches(s, _acme(), cursor=page.next_cursor, limit=2)

    plans = [plan for plan in _list_query_plans(first_and_second_page) if "batches" in plan]
    assert len(plans) == 2
    for plan in plans:
        assert "Index Scan Backward using ix_batches_tenant_created_at_id" in plan, plan
        assert "Sort" not in plan, plan
    assert "created_at" in next(line for line in plans[1].splitlines() if "Index Cond" in line), plans[1]
