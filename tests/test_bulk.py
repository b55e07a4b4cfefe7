"""The bulk lane's groups: many jobs per message, each still ending on its own terms."""

from __future__ import annotations

import numpy as np
import pytest

from cli.scan import scan_files
from core import jobs
from core.db import session_scope
from core.jobs import JobStatus
from core.settings import get_settings
from pipeline import ImageBatch, analyze_file
from tests import media
from tests.faults import dead_worker


def _photo(quality: int) -> bytes:
    return media.jpeg_bytes(media.astronaut(), quality=quality)


def assert_same_result(got: dict, want: dict) -> None:
    """Equal but for timings; a batched model call may move a score in its last digits."""
    def fixed(result: dict) -> dict:
        faces = [{k: v for k, v in f.items() if k != "score"} for f in result["faces"]]
        return {**{k: v for k, v in result.items() if k not in ("timings_ms", "score")}, "faces": faces}

    assert fixed(got) == fixed(want)
    assert [f["score"] for f in got["faces"]] == pytest.approx([f["score"] for f in want["faces"]], abs=1e-3)


def test_an_image_batch_gives_each_image_the_result_it_gets_alone(tmp_path, classifier):
    two_faces = np.concatenate([media.astronaut(), media.astronaut()[:, ::-1]], axis=1)  # side by side
    paths = [media.write(tmp_path / f"{name}.jpg", data) for name, data in [
        ("one", _photo(90)), ("none", media.jpeg_bytes(media.no_face())), ("two", media.jpeg_bytes(two_faces))]]
    batch = ImageBatch(classifier)
    for path in paths:
        batch.add(path)
    together = batch.results()
    alone = [analyze_file(path, classifier) for path in paths]
    assert [len(r["faces"]) for r in together] == [1, 0, 2]
    for got, want in zip(together, alone, strict=True):
        assert_same_result(got, want)
    assert together[1]["verdict"] == "no_face"
    assert len(batch) == 0, "results() empties the batch"


def test_scan_files_keeps_order_across_groups(tmp_path, classifier, monkeypatch):
    monkeypatch.setattr(get_settings(), "bulk_group_size", 2)
    files = [media.write(tmp_path / "a.jpg", _photo(90)), media.write(tmp_path / "broken.jpg", media.truncated_jpeg()),
             media.write(tmp_path / "b.jpg", _photo(80)), media.write(tmp_path / "c.jpg", _photo(70)),
             media.write(tmp_path / "d.jpg", _photo(60)), tmp_path / "missing.jpg"]
    rows = list(scan_files(files, classifier, get_settings()))
    assert [r["path"] for r in rows] == [str(f) for f in files]
    assert [r.get("error", {}).get("code") for r in rows] == [None, "truncated_media", None, None, None,
                                                              "source_not_found"]
    assert all(len(r["faces"]) == 1 for r in rows if "error" not in r)


@pytest.fixture
def loaded_model():
    from workers import runtime

    runtime.load()


def _s3_jobs(bucket: str, keys: list[str], **fields) -> list[str]:
    with session_scope() as s:
        ids = [jobs.create_job(s, source_kind="s3", source_uri=f"s3://{bucket}/{key}", priority="bulk",
                               dedup=True, **fields).id for key in keys]
        s.commit()
    return ids


def _jobs(ids: list[str]) -> list:
    with session_scope() as s:
        return [jobs.get_job(s, job_id) for job_id in ids]


def test_a_group_ends_every_job_on_its_own_terms(clean_db, s3_bucket, loaded_model, tmp_path):
    from workers import runtime
    from workers.bulk import run_jobs

    s3, bucket = s3_bucket
    objects = {"a.jpg": _photo(90), "a-again.jpg": _photo(90), "c.jpg": _photo(70),
               "truncated.jpg": media.truncated_jpeg(), "notes.txt": b"not media", "empty.jpg": b"",
               "clip.mp4": media.write_clip(tmp_path / "clip.mp4", [((10, 60), (150, 80))], frames=30).read_bytes()}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    keys = [*objects, "missing.jpg"]
    ids = dict(zip(keys, _s3_jobs(bucket, keys), strict=True))
    run_jobs(list(ids.values()))
    done = dict(zip(keys, _jobs(list(ids.values())), strict=True))

    assert {k: (j.status, j.error_code) for k, j in done.items()} == {
        "a.jpg": ("succeeded", None), "a-again.jpg": ("succeeded", None), "c.jpg": ("succeeded", None),
        "truncated.jpg": ("failed", "truncated_media"), "notes.txt": ("failed", "unsupported_media"),
        "empty.jpg": ("failed", "empty_file"), "clip.mp4": ("succeeded", None),
        "missing.jpg": ("failed", "source_not_found")}
    assert all(j.attempts == 1 for j in done.values())
    # The same bytes twice in one group: analysed once, as the job first in the group, whichever download
    # finished first; the other points at it.
    first, repeat = done["a.jpg"], done["a-again.jpg"]
    assert first.reused_from is None and repeat.reused_from == first.id
    assert repeat.result["faces"] == first.result["faces"]
    assert repeat.result["reused"] is True and first.result["reused"] is False
    assert first.sha256 == repeat.sha256 and repeat.size_bytes == len(objects["a.jpg"])
    assert done["clip.mp4"].result["kind"] == "video" and done["clip.mp4"].result["tracks"]
    alone = analyze_file(media.write(tmp_path / "c.jpg", objects["c.jpg"]), runtime.classifier())
    assert_same_result(done["c.jpg"].result, {**alone, "reused": False})

    # A later group with the same bytes reuses the stored result without analysing it again.
    (later,) = _s3_jobs(bucket, ["c.jpg"])
    run_jobs([later])
    (again,) = _jobs([later])
    assert again.status == "succeeded" and again.reused_from == done["c.jpg"].id


def test_dedup_off_analyses_a_repeat_again(clean_db, s3_bucket, loaded_model):
    from workers.bulk import run_jobs

    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=_photo(90))
    first, second = _s3_jobs(bucket, ["a.jpg", "a.jpg"])
    with session_scope() as s:
        jobs.get_job(s, second).dedup = False
    run_jobs([first, second])
    a, b = _jobs([first, second])
    assert a.status == b.status == "succeeded"
    assert b.reused_from is None and b.result["reused"] is False


def test_a_group_delivered_again_runs_job_by_job(clean_db, s3_bucket, loaded_model):
    """A group whose worker died: the job it was on counts a second attempt, the finished ones stay."""
    from workers.bulk import run_jobs

    s3, bucket = s3_bucket
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"{i}.jpg", Body=_photo(80 + i))
    ids = _s3_jobs(bucket, ["0.jpg", "1.jpg", "2.jpg"])
    run_jobs(ids[:1])  # finished before the worker died
    with session_scope() as s:
        jobs.start(s, ids[1], worker=dead_worker())  # the job the worker was on when it died
    before = _jobs(ids[:1])[0].finished_at
    run_jobs(ids)
    done = _jobs(ids)
    assert [j.status for j in done] == ["succeeded"] * 3
    assert [j.attempts for j in done] == [1, 2, 1]
    assert done[0].finished_at == before, "a finished job is not run again"


def test_an_over_tried_job_fails_alone_as_worker_lost(clean_db, s3_bucket, loaded_model):
    from workers.bulk import run_jobs

    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=_photo(90))
    poison, fine = _s3_jobs(bucket, ["a.jpg", "a.jpg"])
    for _ in range(get_settings().max_attempts):
        with session_scope() as s:
            jobs.start(s, poison, worker=dead_worker())  # each start is a worker that died on this job
    run_jobs([poison, fine])
    lost, ok = _jobs([poison, fine])
    assert (lost.status, lost.error_code) == (JobStatus.FAILED, "worker_lost")
    assert ok.status == JobStatus.SUCCEEDED


def test_bulk_items_travel_in_groups(clean_db, monkeypatch):
    import redis

    from workers.celery_app import app, enqueue_jobs

    monkeypatch.setattr(get_settings(), "bulk_group_size", 4)
    client = redis.Redis.from_url(clean_db.redis_url)
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():
            queue.bind(conn.default_channel).declare()
    ids = [f"job-{i}" for i in range(10)]
    assert enqueue_jobs(ids, "bulk") == 3
    assert enqueue_jobs(ids[:2], "interactive") == 2
    assert (client.llen("bulk"), client.llen("interactive")) == (3, 2)
