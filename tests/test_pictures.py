"""Pictures beside a result: every job's thumbnail (for the list), a video's frames that decided it and
its people's heatmaps; served to the owner only, and none cut from media the job asked not to keep; a reused
result shows (links, never copies) the pictures of the job of the same tenant that it came from."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core import heatmaps
from core.blobs import default_blob_store
from pipeline.pictures import decisive_entries
from tests import media
from tests.api_client import make_client, wait_for_job


def _photo_job(client, **fields) -> dict:
    photo = media.jpeg_bytes(media.astronaut())
    answer = client.post("/v1/jobs", files={"file": ("astronaut.jpg", photo, "image/jpeg")}, data=fields)
    assert answer.status_code == 202, answer.text
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def _jpeg(answer) -> Image.Image:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"
    return Image.open(io.BytesIO(answer.content))


def test_a_photo_gets_a_thumbnail_the_list_links_and_only_its_owner_reads(worker):
    owner = make_client(tenant="acme")
    job = _photo_job(owner, dedup="false")
    url = job["result"]["thumbnail"]
    assert url == f"/v1/jobs/{job['id']}/thumbnail.jpg"
    thumb = _jpeg(owner.get(url))
    assert thumb.size == (160, 160)  # the 512 x 512 astronaut, longer side 160
    assert np.asarray(thumb).std() > 20, "a blank thumbnail"
    listed = owner.get("/v1/jobs").json()["items"]
    assert [item["thumbnail"] for item in listed] == [url]
    assert make_client(tenant="globex").get(url).status_code == 404


def test_a_job_that_keeps_no_media_keeps_no_thumbnail(worker):
    client = make_client()
    job = _photo_job(client, retain_media="false", dedup="false")
    assert "thumbnail" not in job["result"]
    assert not default_blob_store().exists(heatmaps.thumbnail_key(job["id"]))
    assert client.get(f"/v1/jobs/{job['id']}/thumbnail.jpg").status_code == 404


def test_a_video_keeps_each_persons_highest_scoring_frames_with_a_heatmap(worker, tmp_path):
    client = make_client(tenant="acme")
    clip = media.write_clip(tmp_path / "clip.mp4", [((20, 40), (400, 100))], frames=45)
    with clip.open("rb") as body:
        answer = client.post("/v1/jobs", files={"file": ("clip.mp4", body, "video/mp4")}, data={"explain": "true"})
    job = wait_for_job(client, answer.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    result = job["result"]
    face = result["faces"][0]
    frames = face["frames"]
    assert 1 <= len(frames) <= 3
    assert [f["score"] for f in frames] == sorted((f["score"] for f in frames), reverse=True)
    top_score = max(p["score"] for e in result["timeline"] for p in e["faces"] if p["track"] == face["track"])
    assert frames[0]["score"] == top_score
    assert {f["t"] for f in frames} <= {e["t"] for e in result["timeline"]}  # sampled frames, to seek to
    crop = _jpeg(client.get(frames[0]["url"]))
    assert crop.size[0] == crop.size[1] <= 192
    assert _jpeg(client.get(result["thumbnail"])).size[0] == 160  # a 640 x 360 frame, longer side 160
    heat = client.get(face["heatmap"]["url"])
    assert heat.status_code == 200 and heat.headers["content-type"] == "image/png"
    assert face["heatmap"]["t"] == frames[0]["t"] and face["heatmap"]["region"] == frames[0]["region"]
    assert make_client(tenant="globex").get(frames[0]["url"]).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/faces/0/frames/9.jpg").status_code == 404
    asked = client.post(f"/v1/jobs/{job['id']}/faces/0/lime").json()  # cut from the person's top frame
    assert asked["region"] == frames[0]["region"]
    assert _lime_png(client, asked["url"]).size == (192, 192)
    keys = heatmaps.stored_keys(job["id"], result)
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert not any(default_blob_store().exists(k) for k in keys)


def test_decisive_entries_are_the_counted_peoples_top_frames():
    result = {"tracks": [{"id": 1, "counted": True}, {"id": 2, "counted": False}],
              "timeline": [{"t": t, "frame": i, "faces": [{"track": 1, "score": s, "box": [0, 0, 9, 9]},
                                                          {"track": 2, "score": 0.99, "box": [20, 0, 9, 9]}]}
                           for i, (t, s) in enumerate([(0.0, 0.2), (0.5, 0.9), (1.0, 0.4), (1.5, 0.9), (2.0, 0.7)])]}
    chosen = decisive_entries(result, per_person=3)
    assert [(e["track"], e["t"], e["score"]) for e in chosen] == [(1, 0.5, 0.9), (1, 1.5, 0.9), (1, 2.0, 0.7)]


def test_a_reused_result_shows_the_pictures_of_the_job_it_came_from(worker):
    owner = make_client(tenant="acme")
    first = _photo_job(owner, explain="true")  # explained, so never reused itself, but reusable
    again = _photo_job(owner)  # the same bytes, dedup on: answered from the first job's result
    assert again["reused_from"] == first["id"]
    assert again["result"]["thumbnail"] == first["result"]["thumbnail"] == f"/v1/jobs/{first['id']}/thumbnail.jpg"
    heat_url = again["result"]["faces"][0]["heatmap"]["url"]
    assert heat_url == first["result"]["faces"][0]["heatmap"]["url"]
    assert owner.get(again["result"]["thumbnail"]).content == owner.get(first["result"]["thumbnail"]).content
    assert _jpeg(owner.get(again["result"]["thumbnail"])).size == (160, 160)
    assert owner.get(heat_url).headers["content-type"] == "image/png"
    listed = {item["id"]: item["thumbnail"] for item in owner.get("/v1/jobs").json()["items"]}
    assert listed == {first["id"]: first["result"]["thumbnail"], again["id"]: first["result"]["thumbnail"]}
    assert not default_blob_store().exists(heatmaps.thumbnail_key(again["id"])), "linked, not copied"
    own = owner.get(f"/v1/jobs/{again['id']}/thumbnail.jpg")  # the reusing job's own address serves it too
    assert own.content == owner.get(first["result"]["thumbnail"]).content
    assert owner.get(f"/v1/jobs/{again['id']}/faces/0/heatmap.png").headers["content-type"] == "image/png"


def test_a_reused_result_never_crosses_tenants_and_its_pictures_stay_the_originals(worker):
    acme, globex = make_client(tenant="acme"), make_client(tenant="globex")
    first = _photo_job(acme)
    again = _photo_job(acme)
    theirs = _photo_job(globex)  # the same bytes from another tenant: analysed afresh, its own pictures
    assert again["reused_from"] == first["id"] and theirs["reused_from"] is None
    assert theirs["result"]["thumbnail"] == f"/v1/jobs/{theirs['id']}/thumbnail.jpg"
    assert globex.get(again["result"]["thumbnail"]).status_code == 404
    assert globex.get(f"/v1/jobs/{again['id']}/thumbnail.jpg").status_code == 404
    assert [item["id"] for item in globex.get("/v1/jobs").json()["items"]] == [theirs["id"]]
    assert acme.delete(f"/v1/jobs/{again['id']}").status_code == 204  # the reuse owns none of them
    assert _jpeg(acme.get(first["result"]["thumbnail"])).size == (160, 160)
    assert acme.delete(f"/v1/jobs/{first['id']}").status_code == 204
    assert not default_blob_store().exists(heatmaps.thumbnail_key(first["id"]))
    later = _photo_job(acme)  # the original gone: analysed afresh, its own pictures
    assert later["reused_from"] is None and later["result"]["thumbnail"].startswith(f"/v1/jobs/{later['id']}/")
    assert _jpeg(globex.get(theirs["result"]["thumbnail"])).size == (160, 160)


def test_a_reused_video_shows_the_frames_that_decided_it_and_explains_them_with_lime(worker, tmp_path):
    client = make_client(tenant="acme")
    clip = media.write_clip(tmp_path / "clip.mp4", [((20, 40), (400, 100))], frames=45)
    done = []
    for _ in range(2):
        with clip.open("rb") as body:
            answer = client.post("/v1/jobs", files={"file": ("clip.mp4", body, "video/mp4")})
        done.append(wait_for_job(client, answer.json()["id"], timeout=120))
    first, again = done
    assert again["reused_from"] == first["id"]
    frames = again["result"]["faces"][0]["frames"]
    assert frames == first["result"]["faces"][0]["frames"] and frames[0]["url"].startswith(f"/v1/jobs/{first['id']}/")
    assert _jpeg(client.get(frames[0]["url"])).size[0] <= 192
    assert client.get(f"/v1/jobs/{again['id']}/faces/0/frames/0.jpg").content == client.get(frames[0]["url"]).content
    asked = client.post(f"/v1/jobs/{again['id']}/faces/0/lime")  # cut from the frame the result links
    assert asked.status_code == 202, asked.text
    assert _lime_png(client, asked.json()["url"]).size == (192, 192)


def _lime_png(client, url: str, timeout: float = 120.0) -> Image.Image:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(url)
        if answer.status_code == 200:
            assert answer.headers["content-type"] == "image/png"
            return Image.open(io.BytesIO(answer.content))
        assert answer.json()["error"]["code"] == "not_ready", answer.text
        time.sleep(0.5)
    raise AssertionError(f"no LIME map at {url} within {timeout} s")


def test_lime_for_one_face_on_request_is_stored_for_its_owner_only(worker):
    owner, other = make_client(tenant="acme"), make_client(tenant="globex")
    job = _photo_job(owner, dedup="false")
    url = f"/v1/jobs/{job['id']}/faces/0/lime"
    assert owner.get(url + ".png").json()["error"]["code"] == "not_ready"
    assert other.post(url).status_code == 404 and other.get(url + ".png").status_code == 404
    assert owner.post(f"/v1/jobs/{job['id']}/faces/3/lime").status_code == 404
    asked = owner.post(url)
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["url"] == url + ".png" and body["method"] == "lime"
    x, y, w, h = job["result"]["faces"][0]["box"]
    rx, ry, rw, rh = body["region"]
    assert rw == rh >= max(w, h) and rx <= x and ry <= y
    png = _lime_png(owner, body["url"])
    assert png.mode == "RGBA" and png.size == (192, 192)  # the model's input: LIME works on what it sees
    assert np.asarray(png)[..., 3].max() > 150, "no superpixel raised the score at all"
    assert other.get(body["url"]).status_code == 404
    assert owner.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert not default_blob_store().exists(heatmaps.lime_key(job["id"], 0))


def _until(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.05)


def test_lime_needs_the_picture_kept(worker):
    client = make_client()
    job = _photo_job(client, retain_media="false", dedup="false")
    # The upload is deleted just after the job's success is committed (workers/outcome.py): wait for that.
    _until(lambda: client.get(f"/v1/jobs/{job['id']}/media").status_code == 404)
    answer = client.post(f"/v1/jobs/{job['id']}/faces/0/lime")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "media_gone"


def test_a_thumbnail_that_cannot_be_stored_does_not_fail_the_job(worker, monkeypatch):
    import workers.pictures

    def broken_store(*_args):
        raise OSError("the blob store is unreachable")

    monkeypatch.setattr(workers.pictures, "put_bytes", broken_store)
    job = _photo_job(make_client(), dedup="false")
    assert job["result"]["faces"] and "thumbnail" not in job["result"]


def test_a_picture_url_reads_back_into_the_job_and_key_behind_it():
    assert heatmaps.picture_at(heatmaps.thumbnail_url("j1")) == ("j1", heatmaps.thumbnail_key("j1"))
    assert heatmaps.picture_at(heatmaps.url("j1", 2)) == ("j1", heatmaps.key("j1", 2))
    assert heatmaps.picture_at(heatmaps.frame_url("j1", 0, 1)) == ("j1", heatmaps.frame_key("j1", 0, 1))
    for other in ("/v1/jobs/j1/media", "/v1/jobs/j1/faces/x/frames/0.jpg", "/v1/jobs/j1/faces/0/frames/a.jpg",
                  "https://example.org/v1/jobs/j1/thumbnail.jpg", "/v1/batches/j1/thumbnail.jpg", ""):
        assert heatmaps.picture_at(other) is None, other


def _stored_pictures(job_id: str) -> list[str]:
    """Every picture key of ``job_id`` found in the local blob store (frames, thumbnail, heatmaps, LIME)."""
    from core.settings import get_settings

    root = get_settings().data_dir
    found = [p for p in root.rglob("*") if p.is_file() and job_id in str(p) and p.suffix in {".jpg", ".png"}]
    return sorted(str(p.relative_to(root)) for p in found)


def test_a_job_deleted_during_its_analysis_leaves_no_pictures(worker, tmp_path, monkeypatch):
    import threading

    from workers import tasks

    client = make_client()
    real_pictures, real_finish, ended, stored = tasks.add_pictures, tasks.finish, threading.Event(), {}

    def pictures_then_delete(job, path, result, settings):  # the worker stored its pictures: delete now
        result = real_pictures(job, path, result, settings)
        stored["keys"] = heatmaps.stored_keys(job.id, result)
        assert client.delete(f"/v1/jobs/{job.id}").status_code == 204
        return result

    def finish_then_tell(*args, **kwargs):
        try:
            return real_finish(*args, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(tasks, "add_pictures", pictures_then_delete)
    monkeypatch.setattr(tasks, "finish", finish_then_tell)
    clip = media.write_clip(tmp_path / "clip.mp4", [((20, 40), (400, 100))], frames=45)
    with clip.open("rb") as body:
        answer = client.post("/v1/jobs", files={"file": ("clip.mp4", body, "video/mp4")},
                             data={"explain": "true", "dedup": "false"})
    job_id = answer.json()["id"]
    assert ended.wait(120), "the worker did not end the job"
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert heatmaps.thumbnail_key(job_id) in stored["keys"] and any("frames/" in k for k in stored["keys"])
    store = default_blob_store()
    assert [k for k in stored["keys"] if store.exists(k)] == []
    assert _stored_pictures(job_id) == []


def test_a_failed_explanation_leaves_no_thumbnail(worker, monkeypatch):
    from workers import explain

    def broken(*args, **kwargs):
        raise RuntimeError("explanation broke")

    monkeypatch.setattr(explain, "explain_image", broken)
    client = make_client()
    photo = media.jpeg_bytes(media.astronaut())
    answer = client.post("/v1/jobs", files={"file": ("a.jpg", photo, "image/jpeg")},
                         data={"explain": "true", "dedup": "false"})
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "failed", job
    assert not default_blob_store().exists(heatmaps.thumbnail_key(job["id"]))
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert _stored_pictures(job["id"]) == []


def test_a_job_deleted_while_its_lime_map_is_made_loses_the_map(worker, monkeypatch):
    from workers import lime

    client = make_client()
    job = _photo_job(client, dedup="false")

    def delete_meanwhile(classifier, crop, **kwargs):
        assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
        return np.zeros(crop.shape[:2], dtype=np.float32)

    monkeypatch.setattr(lime, "lime_heat", delete_meanwhile)
    assert lime.explain_lime(job["id"], 0) is False
    assert not default_blob_store().exists(heatmaps.lime_key(job["id"], 0))
    assert _stored_pictures(job["id"]) == []
