"""Heatmaps through the service: ``explain`` on a photo job, ``GET /v1/jobs/{id}/faces/{n}/heatmap.png``,
the owner only, and gone with the job (deleted, or purged on retention)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from core import heatmaps, retention
from core.blobs import default_blob_store
from core.db import session_scope
from tests import media
from tests.api_client import make_client, wait_for_job


def _explained(client, explain: str = "true") -> dict:
    photo = media.jpeg_bytes(media.astronaut())
    answer = client.post("/v1/jobs", files={"file": ("astronaut.jpg", photo, "image/jpeg")}, data={"explain": explain})
    assert answer.status_code == 202, answer.text
    job = wait_for_job(client, answer.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_an_explained_photo_links_a_heatmap_png_over_the_crop_the_model_saw(worker):
    owner = make_client(tenant="acme")
    job = _explained(owner)
    assert job["explain"] is True
    face = job["result"]["faces"][0]
    x, y, w, h = face["box"]
    rx, ry, rw, rh = face["heatmap"]["region"]
    assert rw == rh >= max(w, h) and rx <= x and ry <= y  # the square around the box, as crop_face cuts it
    assert face["heatmap"]["method"] == "grad-cam"
    answer = owner.get(face["heatmap"]["url"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(answer.content))
    assert png.mode == "RGBA" and png.size == (min(rw, 256),) * 2
    assert np.asarray(png)[..., 3].std() > 5, "a heatmap with no structure"
    assert make_client(tenant="globex").get(face["heatmap"]["url"]).status_code == 404
    assert owner.get(f"/v1/jobs/{job['id']}/faces/7/heatmap.png").status_code == 404


def test_without_explain_there_is_no_heatmap_and_explain_skips_dedup(worker):
    client = make_client()
    plain = _explained(client, "false")
    assert "heatmap" not in plain["result"]["faces"][0] and plain["explain"] is False
    assert client.get(f"/v1/jobs/{plain['id']}/faces/0/heatmap.png").status_code == 404
    again = _explained(client)  # the same bytes: dedup would reuse the plain result, which has no heatmap
    assert again["reused_from"] is None and again["result"]["faces"][0]["heatmap"]


def test_heatmaps_go_with_a_deleted_or_purged_job(worker):
    client, store = make_client(), default_blob_store()
    deleted, purged = _explained(client), _explained(client)
    key_deleted, key_purged = heatmaps.key(deleted["id"], 0), heatmaps.key(purged["id"], 0)
    assert store.exists(key_deleted) and store.exists(key_purged)
    assert client.delete(f"/v1/jobs/{deleted['id']}").status_code == 204
    with session_scope() as session:
        assert retention.purge(session, store, [purged["id"]]) == 1
    assert not store.exists(key_deleted) and not store.exists(key_purged)
