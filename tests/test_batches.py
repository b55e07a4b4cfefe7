"""Batches: ingestion from S3 prefixes and manifests, dedup, broken items, export, cancel, the backlog CLI."""

from __future__ import annotations

import csv
import io
import json
import types

import pytest

from core.db import session_scope
from core.tables import Job
from tests import media
from tests.api_client import make_client, new_key, wait_for_batch


def _photo(quality: int) -> bytes:
    return media.jpeg_bytes(media.astronaut(), quality=quality)


def _rows(client, batch_id: str, fmt: str = "jsonl") -> list[dict]:
    text = client.get(f"/v1/batches/{batch_id}/results", params={"format": fmt}).text
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines()]


def test_s3_prefix_batch_with_duplicates_and_broken_items(s3_bucket, worker):
    s3, bucket = s3_bucket
    objects = {"inbox/a.jpg": _photo(90), "inbox/b.jpg": _photo(90), "inbox/c.jpg": _photo(70),
               "inbox/broken.jpg": media.truncated_jpeg(), "inbox/notes.txt": b"not media"}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    items = [{"s3_prefix": f"s3://{bucket}/inbox/"}, {"s3_uri": f"s3://{bucket}/missing.jpg", "ref": "missing"},
             {"url": "ftp://example.org/x.jpg", "ref": "bad-scheme"}]
    with make_client() as client:
        resp = client.post("/v1/batches", json={"items": items})
        assert resp.status_code == 202 and resp.json()["status"] == "ingesting"
        batch = wait_for_batch(client, resp.json()["id"])
        rows = {r["ref"]: r for r in _rows(client, batch["id"])}
        csv_rows = _rows(client, batch["id"], "csv")
    assert batch["total"] == 7 and batch["progress"] == 1.0 and batch["counts"]["queued"] == 0
    assert set(rows) == {*(k for k in objects), "missing", "bad-scheme"}
    assert len(csv_rows) == 7 and set(csv_rows[0]) >= {"ref", "job_id", "status", "verdict", "score",
                                                        "error_code", "reused"}
    assert rows["inbox/a.jpg"]["status"] == rows["inbox/b.jpg"]["status"] == "succeeded"
    assert [rows["inbox/a.jpg"]["reused"], rows["inbox/b.jpg"]["reused"]] == [False, True]
    assert batch["reused"] == 1
    assert rows["inbox/c.jpg"]["verdict"] in {"fake", "real", "uncertain"}
    assert rows["inbox/broken.jpg"]["error_code"] == "truncated_media"
    assert rows["inbox/notes.txt"]["error_code"] == "unsupported_media"
    assert rows["missing"]["error_code"] == "source_not_found"
    assert rows["bad-scheme"]["error_code"] == "invalid_item"


def test_manifest_upload_and_pages(worker, media_server):
    base, folder = media_server
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(_photo(80 + i))
    manifest = "".join(json.dumps({"url": f"{base}/{i}.jpg", "ref": f"r{i}"}) + "\n" for i in range(5))
    manifest += "this line is not JSON\n"
    with make_client() as client:
        resp = client.post("/v1/batches", files={"manifest": ("m.jsonl", manifest.encode())},
                           data={"priority": "bulk"})
        assert resp.status_code == 202, resp.json()
        batch = wait_for_batch(client, resp.json()["id"])
        first = client.get(f"/v1/batches/{batch['id']}/results", params={"limit": 4})
        second = client.get(f"/v1/batches/{batch['id']}/results",
                            params={"limit": 4, "after": first.headers["x-next-cursor"]})
    assert batch["total"] == 6 and batch["counts"]["succeeded"] == 5 and batch["counts"]["failed"] == 1
    rows = [json.loads(x) for x in (first.text + second.text).splitlines()]
    assert len(rows) == 6 and len({r["job_id"] for r in rows}) == 6
    assert "x-next-cursor" not in second.headers


def test_cancel_stops_queued_items(clean_db):
    items = [{"url": f"https://example.org/{i}.jpg"} for i in range(4)]
    with make_client() as client:
        batch_id = client.post("/v1/batches", json={"items": items}).json()["id"]
        from workers.batches import ingest_batch

        assert ingest_batch(batch_id) == 4  # what a worker would run
        cancelled = client.post(f"/v1/batches/{batch_id}/cancel").json()
    assert cancelled["status"] == "canceled" and cancelled["counts"]["canceled"] == 4


def test_backlog_cli_resumes_without_submitting_twice(worker, api_server, tmp_path, monkeypatch):
    from cli import backlog

    monkeypatch.setenv("DEEPFAKE_API_KEY", new_key())  # the backlog CLI reads its key from the environment
    folder = tmp_path / "backlog"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(_photo(70 + i))
    state = tmp_path / "state.json"
    real_mark, marks = backlog._State.mark, []

    def interrupted(self, ref):
        if len(marks) == 2:
            raise KeyboardInterrupt
        marks.append(ref)
        real_mark(self, ref)

    monkeypatch.setattr(backlog._State, "mark", interrupted)
    with pytest.raises(KeyboardInterrupt):
        backlog.submit(str(folder), api_server, state_file=str(state), progress=False)
    monkeypatch.setattr(backlog._State, "mark", real_mark)
    batch_id = backlog.submit(str(folder), api_server, state_file=str(state), progress=False)
    assert backlog.submit(str(folder), api_server, state_file=str(state), progress=False) == batch_id
    with session_scope() as s:
        refs = [j.ref for j in s.query(Job).filter_by(batch_id=batch_id)]
    # The third upload reached the server before the interruption but was not recorded locally, so the
    # second run sends it again; the server keeps one item per ref.
    assert sorted(refs) == [f"{i}.jpg" for i in range(5)]
    with make_client() as client:
        batch = wait_for_batch(client, batch_id)
    out = io.StringIO()
    assert backlog.results(batch_id, api_server, "jsonl", out) == batch["total"]
    assert {json.loads(line)["ref"] for line in out.getvalue().splitlines()} == set(refs)


def _bulk_groups(redis_url: str) -> list[list[str]]:
    """The job IDs of each message waiting on the bulk queue, oldest first."""
    import base64

    import redis

    raw = redis.Redis.from_url(redis_url).lrange("bulk", 0, -1)
    return [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in reversed(raw)]


def _batch_job_ids(batch_id: str) -> set[str]:
    with session_scope() as s:
        return {job.id for job in s.query(Job).filter_by(batch_id=batch_id)}


def test_uploads_into_an_open_batch_travel_in_groups(clean_db, monkeypatch):
    from core.settings import get_settings
    from tests.conftest import in_process_worker

    monkeypatch.setattr(get_settings(), "bulk_group_size", 4)
    with make_client() as client:
        batch_id = client.post("/v1/batches", json={"open": True, "priority": "bulk"}).json()["id"]
        for i in range(10):
            resp = client.post("/v1/jobs", files={"file": (f"{i}.jpg", _photo(60 + i), "image/jpeg")},
                               data={"batch_id": batch_id, "ref": f"{i}.jpg"})
            assert resp.status_code == 202, resp.json()
        before_close = _bulk_groups(clean_db.redis_url)
        assert client.post(f"/v1/batches/{batch_id}/close").status_code == 200
        groups = _bulk_groups(clean_db.redis_url)
        assert [len(g) for g in before_close] == [4, 4], "each fourth upload sends a group"
        assert [len(g) for g in groups] == [4, 4, 2], "closing the batch sends the rest"
        assert {job_id for g in groups for job_id in g} == _batch_job_ids(batch_id)
        with in_process_worker():
            batch = wait_for_batch(client, batch_id)
    assert batch["counts"]["succeeded"] == 10


def test_items_nobody_sent_are_dispatched_once_their_grace_is_over(clean_db, media_server, monkeypatch):
    """Items created by an ingestion that died before sending them, then a dispatcher that died after
    sending but before recording it: every item still runs, exactly once."""
    from core import batches, jobs
    from core.settings import get_settings
    from tests.conftest import in_process_worker
    from workers.batches import dispatch_stragglers

    base, folder = media_server
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(_photo(70 + i))
    with session_scope() as s:
        batch = batches.create_batch(s, priority="bulk", dedup=True, callback_url=None, manifest_key=None)
        batches.add_items(s, batch.id, [{"url": f"{base}/{i}.jpg", "ref": str(i)} for i in range(3)], consumed=3)
        batches.finish_ingest(s, batch.id)
    assert dispatch_stragglers() == 0, "within the grace period an item may still be waiting for its group"
    monkeypatch.setattr(get_settings(), "dispatch_grace_s", 0)

    def crash(*_args):
        raise RuntimeError("killed after sending")

    monkeypatch.setattr(jobs, "mark_dispatched", crash)
    with pytest.raises(RuntimeError):
        dispatch_stragglers()
    monkeypatch.undo()
    monkeypatch.setattr(get_settings(), "dispatch_grace_s", 0)
    assert dispatch_stragglers() == 3, "not recorded as sent: sent again"
    assert dispatch_stragglers() == 0
    assert len(_bulk_groups(clean_db.redis_url)) == 2
    with make_client() as client, in_process_worker():
        done = wait_for_batch(client, batch.id)
    assert done["counts"]["succeeded"] == 3
    with session_scope() as s:
        assert all(job.attempts == 1 for job in s.query(Job).filter_by(batch_id=batch.id))


def test_backlog_cli_reports_bad_files_and_goes_on(worker, api_server, tmp_path, monkeypatch, capsys):
    from cli import backlog
    from core.settings import get_settings

    monkeypatch.setenv("DEEPFAKE_API_KEY", new_key())  # the backlog CLI reads its key from the environment
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 400_000)
    folder = tmp_path / "backlog"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(_photo(80))
    (folder / "notes.jpg").write_bytes(b"meeting notes, not a photo")
    (folder / "minutes.txt").write_text("named as what it is: still an item, never left out")
    (folder / "empty.png").write_bytes(b"")
    (folder / "huge.jpg").write_bytes(_photo(80) + bytes(500_000))
    batch_id = backlog.submit(str(folder), api_server, state_file=str(tmp_path / "state"), progress=False,
                              parallel=2)
    assert "skipped" not in capsys.readouterr().err
    with make_client() as client:
        batch = wait_for_batch(client, batch_id)
        rows = {r["ref"]: r for r in _rows(client, batch_id)}
        csv_rows = {r["ref"]: r for r in _rows(client, batch_id, "csv")}
    assert batch["total"] == 5 and batch["counts"]["succeeded"] == 1 and batch["counts"]["failed"] == 4
    assert rows["good.jpg"]["status"] == "succeeded"
    for name in ("notes.jpg", "minutes.txt"):
        assert (rows[name]["status"], rows[name]["error_code"]) == ("failed", "unsupported_media")
        assert csv_rows[name]["error_code"] == "unsupported_media" and csv_rows[name]["error_message"], "a reason"
    assert csv_rows["good.jpg"]["error_message"] == ""
    assert rows["empty.png"]["error_code"] == "empty_file"
    assert rows["huge.jpg"]["error_code"] == "too_large", "refused by its declared size, body unread"
    with make_client() as client:  # outside a batch the same file is still refused outright
        assert client.post("/v1/jobs", files={"file": ("n.jpg", b"not a photo", "image/jpeg")}).status_code == 415


def test_a_batch_names_the_model_it_must_run_on(clean_db, monkeypatch):
    from core.settings import get_settings
    from pipeline.classifier import model_identity

    monkeypatch.setattr("api.routes_batches.enqueue_ingest", lambda batch_id: None)  # no worker needed here
    name, version = model_identity(get_settings().model_path)
    with make_client() as client:
        items = [{"url": "https://example.org/a.jpg"}]
        for model in (name, f"{name}:{version}"):
            assert client.post("/v1/batches", json={"items": items, "model": model}).status_code == 202
        refused = client.post("/v1/batches", json={"items": items, "model": f"{name}:0.0.0-other"})
        manifest = client.post("/v1/batches", files={"manifest": ("m.jsonl", b"")}, data={"model": "mesonet"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_model"
    assert f"{name}:{version}" in refused.json()["error"]["message"]
    assert manifest.status_code == 422 and manifest.json()["error"]["code"] == "unknown_model"


def test_backlog_cli_waits_out_a_full_queue(worker, api_server, tmp_path, monkeypatch):
    import api.routes_jobs
    from cli import backlog

    monkeypatch.setenv("DEEPFAKE_API_KEY", new_key())  # the backlog CLI reads its key from the environment
    depths = iter([10**9, 10**9])  # the bulk lane is full for the first two uploads, then has room
    monkeypatch.setattr(api.routes_jobs, "queue_depth", lambda lane: next(depths, 0))
    waits = []
    monkeypatch.setattr(backlog, "time", types.SimpleNamespace(sleep=waits.append))  # this module's sleeps only
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(_photo(60 + i))
    batch_id = backlog.submit(str(folder), api_server, state_file=str(tmp_path / "state"), progress=False,
                              parallel=1)
    assert waits == [30.0, 30.0], "each 429 waited out as its Retry-After asked"
    with make_client() as client:
        batch = wait_for_batch(client, batch_id)
    assert batch["total"] == 3 and batch["counts"]["succeeded"] == 3


@pytest.fixture(params=["postgres", "sqlite"])
def any_database(request, tmp_path):
    """A session factory on the test Postgres, or on a fresh SQLite file as the embedded default uses."""
    from sqlalchemy.orm import sessionmaker

    from core.db import make_engine
    from core.migrate import upgrade

    if request.param == "postgres":
        url = request.getfixturevalue("clean_db").database_url
    else:
        url = f"sqlite:///{tmp_path / 'embedded.db'}"
        upgrade(url)
    engine = make_engine(url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def test_two_uploads_of_one_ref_run_one_after_the_other(any_database):
    """A resumed client repeats an upload while the first is still being recorded: on Postgres and on
    SQLite (which ignores row locks) the second waits, then finds the first's item."""
    import threading

    from core import batches, jobs

    with any_database() as session:
        batch_id = batches.create_batch(session, priority="bulk", dedup=True, callback_url=None,
                                        manifest_key=None, open_for_uploads=True).id
    first = any_database()
    assert batches.join_upload(first, batch_id, "a.jpg") == (1, None)
    joined = {}

    def second_upload() -> None:
        with any_database() as session:
            total, earlier = batches.join_upload(session, batch_id, "a.jpg")
            joined.update(total=total, earlier=earlier.id if earlier else None)

    thread = threading.Thread(target=second_upload)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive(), "the second upload did not wait for the first"
    item = jobs.create_job(first, source_kind="upload", batch_id=batch_id, ref="a.jpg", dispatched=False)
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert joined == {"total": 0, "earlier": item.id}
    with any_database() as session:
        assert session.query(Job).filter(Job.batch_id == batch_id).count() == 1
        assert session.get(batches.Batch, batch_id).total == 1


def test_no_upload_joins_a_closed_batch(any_database):
    from core import batches

    with any_database() as session:
        batch_id = batches.create_batch(session, priority="bulk", dedup=True, callback_url=None,
                                        manifest_key=None, open_for_uploads=True).id
        batches.finish_ingest(session, batch_id)
    with any_database() as session, pytest.raises(batches.NotOpen):
        batches.join_upload(session, batch_id, "late.jpg")
    with any_database() as session:
        assert session.get(batches.Batch, batch_id).total == 0


def test_manifest_items_a_text_column_cannot_hold_fail_alone(clean_db, monkeypatch):
    """A NUL or a lone surrogate (valid JSON escapes) in an item fails that item, not the chunk's insert."""
    from core import batches, db

    monkeypatch.setenv("DEEPFAKE_S3_ALLOWED", "b")  # no S3 is configured: no bucket is allowed otherwise
    db.reset()

    items = [{"url": "https://example.org/a\x00.jpg", "ref": "nul-in-url"}, {"s3_uri": "s3://b/k.jpg", "ref": "\ud800"},
             {"s3_uri": "s3://b/fine.jpg", "ref": "fine"}]
    with session_scope() as session:
        batch_id = batches.create_batch(session, priority="bulk", dedup=True, callback_url=None, manifest_key=None).id
        queued = batches.add_items(session, batch_id, items, consumed=3)
    with session_scope() as session:
        rows = {job.ref: job for job in session.query(Job).filter(Job.batch_id == batch_id)}
    assert set(rows) == {"nul-in-url", "?", "fine"} and len(queued) == 1
    assert rows["fine"].status == "queued" and rows["fine"].id == queued[0]
    for ref in ("nul-in-url", "?"):
        assert (rows[ref].status, rows[ref].error_code) == ("failed", "invalid_item")
    assert rows["nul-in-url"].source_uri == "https://example.org/a\ufffd.jpg"


def _listed_batch(session, tenant: str, minutes: int, items: int = 0, done: int = 0) -> str:
    """A batch of ``tenant`` created ``minutes`` after 12:00 on 1 March 2026, running, with ``items`` items
    of which the first ``done`` succeeded."""
    from datetime import UTC, datetime, timedelta

    from core import batches, jobs

    batch = batches.create_batch(session, priority="bulk", dedup=True, callback_url=None, manifest_key=None,
                                 tenant=tenant)
    batch.created_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    batch.status, batch.total = batches.RUNNING, items
    session.commit()
    made = [jobs.create_job(session, source_kind="url", source_uri=f"https://example.org/{i}.jpg",
                            tenant=tenant, batch_id=batch.id) for i in range(items)]
    for job in made[:done]:
        jobs.succeed(session, job.id, {"kind": "image", "verdict": "real", "score": 0.1, "faces": []})
    return batch.id


@pytest.fixture
def listed_batches(clean_db):
    """Five of acme's batches (oldest first; the newest has 4 items, 1 done) and one of globex's, newer still."""
    with session_scope() as s:
        acme = [_listed_batch(s, "acme", m) for m in range(4)] + [_listed_batch(s, "acme", 4, items=4, done=1)]
        globex = _listed_batch(s, "globex", 5, items=1)
    return {"acme": acme, "globex": globex}


def test_the_batch_list_is_the_tenants_own_newest_first_with_each_batchs_progress(listed_batches):
    client = make_client(tenant="acme")
    body = client.get("/v1/batches").json()
    assert [b["id"] for b in body["items"]] == list(reversed(listed_batches["acme"]))
    assert listed_batches["globex"] not in {b["id"] for b in body["items"]}
    assert body["next_cursor"] is None and "next" not in body["links"]
    newest = body["items"][0]
    own = client.get(f"/v1/batches/{newest['id']}").json()  # the list shows what the batch's own GET shows
    assert set(newest) == set(own)
    assert {k: newest[k] for k in ("status", "total", "counts", "reused", "progress", "links")} == {
        k: own[k] for k in ("status", "total", "counts", "reused", "progress", "links")}
    assert (newest["status"], newest["total"], newest["progress"]) == ("running", 4, 0.25)
    assert (newest["counts"]["succeeded"], newest["counts"]["queued"], newest["reused"]) == (1, 3, 0)
    assert [b["id"] for b in make_client(tenant="globex").get("/v1/batches").json()["items"]] == [
        listed_batches["globex"]]


def test_the_batch_list_pages_by_cursor_without_gaps_or_repeats(listed_batches):
    client = make_client(tenant="acme")
    first = client.get("/v1/batches", params={"limit": 2}).json()
    assert first["links"]["next"] == f"/v1/batches?limit=2&cursor={first['next_cursor']}"
    with session_scope() as s:
        _listed_batch(s, "acme", 10)  # newer than everything listed: belongs before page one, not in page two
    seen, cursor = [b["id"] for b in first["items"]], first["next_cursor"]
    while cursor:
        page = client.get("/v1/batches", params={"limit": 2, "cursor": cursor}).json()
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
    assert seen == list(reversed(listed_batches["acme"]))


def test_the_batch_list_filters_by_status_and_refuses_what_it_cannot_use(listed_batches):
    client = make_client(tenant="acme")
    with session_scope() as s:
        cancelled = _listed_batch(s, "acme", 6)
    client.post(f"/v1/batches/{cancelled}/cancel")
    assert [b["id"] for b in client.get("/v1/batches", params={"status": "canceled"}).json()["items"]] == [cancelled]
    for params in ({"status": "done"}, {"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 201}):
        answer = client.get("/v1/batches", params=params)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request", params
    everyone = make_client(scopes=("admin",)).get("/v1/batches").json()["items"]
    assert len(everyone) == 7  # an admin key sees every tenant's


def test_a_refused_item_is_described_in_words_not_as_a_python_dict(worker):
    with make_client() as client:
        resp = client.post("/v1/batches", json={"items": [{"url": "ftp://x/y", "ref": "bad"}]})
        batch = wait_for_batch(client, resp.json()["id"])
        [row] = _rows(client, batch["id"])
    assert row["error_code"] == "invalid_item"
    message = row.get("error_message") or ""
    assert "{" not in message and "'url'" not in message, message
    assert "url ftp://x/y" in message, message


def test_deleting_a_batch_removes_its_items_pictures(worker):
    from core import heatmaps
    from core.blobs import default_blob_store
    from tests.api_client import wait_for_job

    with make_client() as client:
        batch_id = client.post("/v1/batches", json={"open": True, "priority": "interactive"}).json()["id"]
        answer = client.post("/v1/jobs", files={"file": ("a.jpg", _photo(90), "image/jpeg")},
                             params={"batch_id": batch_id, "ref": "a"})
        job = wait_for_job(client, answer.json()["id"])
        assert job["status"] == "succeeded" and job["result"]["thumbnail"], job
        store = default_blob_store()
        assert store.exists(heatmaps.thumbnail_key(job["id"]))
        assert client.delete(f"/v1/batches/{batch_id}").status_code == 204
    assert not store.exists(heatmaps.thumbnail_key(job["id"]))
    assert not store.exists(f"uploads/{job['id']}")


def test_a_bulk_video_deleted_during_its_analysis_leaves_no_pictures(worker, media_server, monkeypatch):
    import threading

    from core import heatmaps
    from core.blobs import default_blob_store
    from workers import bulk

    base, folder = media_server
    media.write_clip(folder / "clip.mp4", [((20, 40), (400, 100))], frames=45)
    real_analyze, real_finish, ended, made = bulk.analyze_local, bulk.finish_group, threading.Event(), {}
    client = make_client()

    def analyze_then_delete(job, path, settings):  # its pictures are stored: now its batch is deleted
        result = real_analyze(job, path, settings)
        made.update(job_id=job.id, keys=heatmaps.stored_keys(job.id, result))
        assert client.delete(f"/v1/batches/{job.batch_id}").status_code == 204
        return result

    def finish_then_tell(outcomes):
        try:
            return real_finish(outcomes)
        finally:
            ended.set()

    monkeypatch.setattr(bulk, "analyze_local", analyze_then_delete)
    monkeypatch.setattr(bulk, "finish_group", finish_then_tell)
    resp = client.post("/v1/batches", json={"items": [{"url": f"{base}/clip.mp4", "ref": "v"}], "dedup": False})
    assert resp.status_code == 202, resp.text
    assert ended.wait(120), "the group did not end"
    assert any(key.startswith("frames/") for key in made["keys"]), made
    store = default_blob_store()
    left = [key for key in [*made["keys"], heatmaps.thumbnail_key(made["job_id"])] if store.exists(key)]
    assert left == []
