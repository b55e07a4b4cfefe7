from __future__ import annotations

import json

import numpy as np

from pipeline import analyze_file, crop_face, detect_faces
from tests import media


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_face_found_where_it_is():
    faces = detect_faces(media.astronaut())
    assert len(faces) == 1
    assert _overlap(faces[0].box, media.ASTRONAUT_FACE) > 0.6
    assert 0.6 <= faces[0].confidence <= 1.0


def test_boxes_are_in_source_pixels_when_detection_runs_downscaled():
    big = np.kron(media.astronaut(), np.ones((4, 4, 1), np.uint8))  # 2048 x 2048
    faces = detect_faces(big, max_side=640)
    assert len(faces) == 1
    expected = tuple(4 * v for v in media.ASTRONAUT_FACE)
    assert _overlap(faces[0].box, expected) > 0.6


def test_no_face_in_a_cup_of_coffee():
    assert detect_faces(media.no_face()) == []


def test_crop_is_square_and_padded_at_the_edge():
    image = media.astronaut()
    crop = crop_face(image, (0, 0, 40, 80), scale=1.5)
    assert crop.shape == (120, 120, 3)


def test_image_without_face_is_no_face_never_real(tmp_path, classifier):
    path = media.write(tmp_path / "coffee.jpg", media.jpeg_bytes(media.no_face()))
    result = analyze_file(path, classifier)
    assert result["verdict"] == "no_face"
    assert result["score"] is None
    assert result["faces"] == []


def test_result_contract(tmp_path, classifier):
    path = media.write(tmp_path / "astronaut.jpg", media.jpeg_bytes(media.astronaut()))
    result = analyze_file(path, classifier)
    assert result["kind"] == "image"
    assert len(result["sha256"]) == 64
    assert result["verdict"] in {"fake", "real", "uncertain"}
    assert (result["media"]["width"], result["media"]["height"]) == (512, 512)
    (face,) = result["faces"]
    assert set(face) >= {"box", "score", "label", "detector_confidence", "band"}
    assert 0.0 <= face["score"] <= 1.0
    assert result["score"] == face["score"]
    assert set(result["model"]) >= {"name", "version"}
    assert set(result["timings_ms"]) >= {"decode", "detect", "classify", "total"}


def test_limit_threads_caps_opencv_and_the_detectors_openmp():
    """Worker processes each take a share of the cores; run in a fresh process, whose pools are untouched."""
    import subprocess
    import sys

    code = ("import cv2, json, threadpoolctl; from pipeline.threads import limit_threads; limit_threads(1); "
            "print(json.dumps([cv2.getNumThreads(), [i['num_threads'] for i in threadpoolctl.threadpool_info() "
            "if i['user_api'] == 'openmp']]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    opencv, openmp = json.loads(out.stdout.strip().splitlines()[-1])
    assert opencv == 1
    from pipeline.faces import detector_name

    if detector_name() == "yunet":
        assert openmp and set(openmp) == {1}, "the detector's OpenMP runtime was not capped"


def test_cores_are_shared_among_worker_processes(monkeypatch):
    import os

    from pipeline.threads import available_cores, cores_per_process

    assert 1 <= available_cores() <= (os.cpu_count() or 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert [cores_per_process(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
