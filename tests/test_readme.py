"""What the README states as a rule agrees with the code that applies it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.video import VideoLimits, sample_indices

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize(("seconds", "frames"), [(2, 16), (4, 16), (6, 24), (8, 32), (60, 32)])
def test_the_video_sampling_rule_is_the_readmes(seconds, frames):
    limits = VideoLimits()
    assert "never fewer than 16" in README and "min(32, its frames, max(16, ⌊seconds x 4⌋))" in README
    assert (limits.frames, limits.max_per_second, limits.min_frames) == (32, 4.0, 16)
    sampled = sample_indices(seconds * 30, 30.0, limits.frames, limits.max_per_second, min_frames=limits.min_frames)
    assert len(sampled) == frames
    said = {2: "A 2 s or 4 s clip gets 16", 4: "A 2 s or 4 s clip gets 16", 6: "a 6 s clip 24",
            8: "one of 8 s or longer 32", 60: "one of 8 s or longer 32"}[seconds]
    assert said in README


def test_the_readmes_415_row_names_every_accepted_format():
    from pipeline.sniff import ACCEPTED, format_name

    row = next(line for line in README.splitlines() if line.startswith("| 415 |"))
    for media in ACCEPTED:
        assert format_name(media) in row, format_name(media)
