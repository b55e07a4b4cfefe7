"""Submit → queue (Redis) → worker → Postgres → poll, with every real part."""

from __future__ import annotations

import pytest

from tests import media
from tests.api_client import make_client, submit_bytes, wait_for_job


def test_upload_runs_to_succeeded_with_faces(worker):
    with make_client() as client:
        resp = submit_bytes(client, media.jpeg_bytes(media.astronaut()))
        assert resp.status_code == 202
        job = wait_for_job(client, resp.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["attempts"] == 1
    result = job["result"]
    assert result["verdict"] in {"fake", "real", "uncertain"}
    assert len(result["faces"]) == 1
    assert result["sha256"] == job["sha256"]
    assert job["started_at"] <= job["finished_at"]


def test_corrupt_upload_fails_with_its_code_and_the_worker_goes_on(worker):
    with make_client() as client:
        bad = wait_for_job(client, submit_bytes(client, media.truncated_jpeg()).json()["id"])
        bomb = wait_for_job(client, submit_bytes(client, media.png_bomb(), "bomb.png", "image/png").json()["id"])
        good = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
    assert (bad["status"], bad["error"]["code"], bad["result"]) == ("failed", "truncated_media", None)
    assert (bomb["status"], bomb["error"]["code"]) == ("failed", "image_too_large")
    assert good["status"] == "succeeded"


def test_no_face_is_an_explicit_outcome(worker):
    with make_client() as client:
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.no_face())).json()["id"])
    assert job["status"] == "succeeded"
    assert job["result"]["verdict"] == "no_face" and job["result"]["score"] is None


def test_url_job(worker, media_server):
    base, folder = media_server
    (folder / "face.jpg").write_bytes(media.jpeg_bytes(media.astronaut()))
    with make_client() as client:
        ok = wait_for_job(client, client.post("/v1/jobs", json={"url": f"{base}/face.jpg"}).json()["id"])
        missing = wait_for_job(client, client.post("/v1/jobs", json={"url": f"{base}/nope.jpg"}).json()["id"])
    assert ok["status"] == "succeeded" and len(ok["result"]["faces"]) == 1
    assert (missing["status"], missing["error"]["code"]) == ("failed", "source_not_found")


def test_s3_job(s3_bucket, worker):
    client_s3, bucket = s3_bucket
    client_s3.put_object(Bucket=bucket, Key="inbox/face.jpg", Body=media.jpeg_bytes(media.astronaut()))
    with make_client() as client:
        ok = wait_for_job(client, client.post("/v1/jobs", json={"s3_uri": f"s3://{bucket}/inbox/face.jpg"}).json()["id"])
        gone = wait_for_job(client, client.post("/v1/jobs", json={"s3_uri": f"s3://{bucket}/inbox/x.jpg"}).json()["id"])
    assert ok["status"] == "succeeded" and len(ok["result"]["faces"]) == 1
    assert (gone["status"], gone["error"]["code"]) == ("failed", "source_not_found")


def test_upload_to_s3_blob_store_runs(s3_bucket, worker):
    client_s3, bucket = s3_bucket
    with make_client() as client:
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
    assert job["status"] == "succeeded"
    keys = [o["Key"] for o in client_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == [f"media/thumbnails/{job['id']}.jpg", f"media/uploads/{job['id']}"]  # + the thumbnail


def test_a_job_delivered_twice_keeps_one_result(worker):
    from workers.tasks import run_job

    with make_client() as client:
        job = wait_for_job(client, submit_bytes(client, media.jpeg_bytes(media.astronaut())).json()["id"])
        assert run_job(job["id"]) is None  # a duplicate delivery finds the job finished
        again = client.get(f"/v1/jobs/{job['id']}").json()
    assert again["result"] == job["result"] and again["attempts"] == 1


def test_video_job_reports_progress_and_tracks(worker, tmp_path):
    import time

    clip = media.write_clip(tmp_path / "clip.mp4", [((20, 40), (400, 100))], frames=120)
    with make_client() as client:
        resp = client.post("/v1/jobs", files={"file": ("clip.mp4", clip.read_bytes(), "application/octet-stream")})
        assert resp.status_code == 202 and resp.json()["media_type"] == "video/mp4"
        seen = []
        while (job := client.get(resp.headers["location"]).json())["status"] not in ("succeeded", "failed"):
            seen.append(job["progress"])
            time.sleep(0.02)
    assert job["status"] == "succeeded", job
    seen.append(job["progress"])
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert len(job["result"]["tracks"]) == 1 and job["result"]["media"]["frames_sampled"] == 32


@pytest.fixture
def split_short_videos(monkeypatch):
    """Split anything over 4 s into 4 s segments, so a 12 s test clip makes three."""
    from core import db

    monkeypatch.setenv("DEEPFAKE_VIDEO_SPLIT_OVER_S", "4")
    monkeypatch.setenv("DEEPFAKE_VIDEO_SEGMENT_S", "4")
    db.reset()
    yield
    db.reset()


def _long_clip(tmp_path):
    return media.write_clip(tmp_path / "long.mp4", [((10, 60), (150, 80)), ((420, 100), (330, 60))], frames=180)


def test_long_video_is_split_and_merged(split_short_videos, worker, tmp_path, classifier):
    from core.db import session_scope
    from core.tables import VideoSegment
    from pipeline import analyze_file

    clip = _long_clip(tmp_path)
    whole = analyze_file(clip, classifier)
    with make_client() as client:
        job = wait_for_job(client, submit_bytes(client, clip.read_bytes(), "long.mp4", "video/mp4").json()["id"])
    assert job["status"] == "succeeded", job
    with session_scope() as s:
        assert s.query(VideoSegment).filter_by(job_id=job["id"], status="done").count() == 3
    tracks = job["result"]["tracks"]
    assert [(t["id"], t["frames"]) for t in tracks] == [(t["id"], t["frames"]) for t in whole["tracks"]]
    for got, want in zip(tracks, whole["tracks"], strict=True):
        assert got["score"] == pytest.approx(want["score"], abs=1e-3)
    assert job["result"]["verdict"] == whole["verdict"] and job["progress"] == 1.0


def test_a_failing_segment_is_retried_then_fails_the_job(split_short_videos, worker, tmp_path, monkeypatch):
    from workers import segments

    real = segments.analyze_part
    calls = {"n": 0}

    def flaky(path, fps, frames, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("transient")
        return real(path, fps, frames, *args, **kwargs)

    monkeypatch.setattr(segments, "analyze_part", flaky)
    clip = _long_clip(tmp_path)
    with make_client() as client:
        ok = wait_for_job(client, submit_bytes(client, clip.read_bytes(), "a.mp4", "video/mp4").json()["id"])
        assert ok["status"] == "succeeded" and calls["n"] == 4  # three segments, one retried

        def broken(*args, **kwargs):
            raise RuntimeError("always")

        monkeypatch.setattr(segments, "analyze_part", broken)
        # dedup off: the same clip must really be analysed again.
        resp = client.post("/v1/jobs", files={"file": ("b.mp4", clip.read_bytes(), "video/mp4")},
                           data={"dedup": "false"})
        bad = wait_for_job(client, resp.json()["id"])
    assert bad["status"] == "failed" and bad["error"]["code"] == "segment_failed"
