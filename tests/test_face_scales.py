"""Faces at more than one scale: small faces in 12-24 MP photos are found, once each, and 1080p keeps
its single detector pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline import detect_faces
from pipeline import faces as faces_module
from tests import media


def _large_photo(size: tuple[int, int], face_side: int, places: list[tuple[int, int]]) -> np.ndarray:
    width, height = size
    image = cv2.resize(media.no_face(), (width, height), interpolation=cv2.INTER_LINEAR)
    head = media.astronaut()[20:240, 150:310]  # the face with a little hair and collar
    patch = cv2.resize(head, (face_side, round(face_side * 220 / 160)), interpolation=cv2.INTER_AREA)
    for x, y in places:
        image[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return image


@pytest.mark.parametrize(("size", "side"), [((6000, 4000), 180), ((4000, 3000), 110)])
def test_small_faces_in_large_photos_are_found(size, side):
    image = _large_photo(size, side, [(size[0] // 3, size[1] // 2)])
    assert detect_faces(image, multi_scale=False) == []  # the kind: missed at one scale
    (face,) = detect_faces(image)
    x, y = size[0] // 3, size[1] // 2
    assert abs(face.box[0] - x) < side and abs(face.box[1] - y) < side
    assert 0.5 * side < face.box[2] < 1.5 * side


def test_a_group_photo_gives_one_box_per_face():
    places = [(600 + i * 900, 1500 + (i % 2) * 600) for i in range(6)]
    found = detect_faces(_large_photo((6000, 4000), 140, places))
    assert len(found) == 6
    for x, y in places:
        assert sum(abs(f.box[0] - x) < 140 and abs(f.box[1] - y) < 200 for f in found) == 1


def test_a_face_seen_at_both_scales_is_kept_once():
    found = detect_faces(_large_photo((6000, 4000), 700, [(2500, 1500)]))
    assert len(found) == 1


def test_1080p_runs_one_detector_pass(monkeypatch):
    calls = []
    real = faces_module._detect_at
    monkeypatch.setattr(faces_module, "_detect_at", lambda *a: calls.append(a[0].shape) or real(*a))
    detect_faces(_large_photo((1920, 1080), 200, [(800, 300)]))
    assert calls == [(360, 640, 3)]
    calls.clear()
    detect_faces(_large_photo((4000, 3000), 200, [(800, 300)]))
    assert [max(shape[:2]) for shape in calls] == [2048, 640]
