"""Animated images (WebP, GIF, APNG) are judged on their frames over time, like short videos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import analyze_file, media_type
from tests import media

TITLE_MS, FRAME_MS = 1000, 150


def _animation(path, frames_with_face: int = 6):
    """A dark title card shown for a second, then frames of a face."""
    title = Image.new("RGB", (512, 512), (12, 12, 16))
    face = [Image.fromarray(np.roll(media.astronaut(), 4 * i, axis=1)) for i in range(frames_with_face)]
    title.save(path, save_all=True, append_images=face, duration=[TITLE_MS] + [FRAME_MS] * frames_with_face, loop=0)
    return path


@pytest.mark.parametrize("suffix", [".webp", ".gif", ".png"])
def test_an_animation_is_judged_on_its_later_frames(tmp_path, classifier, suffix):
    path = _animation(tmp_path / f"anim{suffix}")
    assert media_type(path).kind == "video"
    result = analyze_file(path, classifier)
    assert result["kind"] == "video" and result["media"]["codec"].startswith("animated-")
    assert result["verdict"] != "no_face" and len(result["faces"]) == 1
    times = [e["t"] for e in result["timeline"]]
    assert times[0] == 0.0 and not result["timeline"][0]["faces"]  # the title card is read and has no face
    assert times[1] == pytest.approx(TITLE_MS / 1000) and times[2] == pytest.approx((TITLE_MS + FRAME_MS) / 1000)


def test_a_still_gif_stays_an_image(tmp_path, classifier):
    path = tmp_path / "still.gif"
    Image.fromarray(media.astronaut()).save(path)
    assert media_type(path).kind == "image"
    assert analyze_file(path, classifier)["kind"] == "image"
