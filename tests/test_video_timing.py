"""Video that does not match its container's header: no duration, audio longer than video, damaged bytes,
variable frame rate, very short clips. Each kind is built here with known presentation times."""

from __future__ import annotations

import av
import pytest

from pipeline import ErrorCode, MediaError, VideoLimits, analyze_file, probe_video, sample_frames
from pipeline.video import ReadStats, iter_frames, sample_times
from pipeline.video_analysis import min_track_frames
from tests.video_media import damage, write_timed

CFR_30 = [i / 30 for i in range(60)]


def _counted(result: dict) -> list[dict]:
    return [t for t in result["tracks"] if t["counted"]]


def test_a_webm_without_duration_or_cues_is_read(tmp_path, classifier):
    clip = write_timed(tmp_path / "recorded.webm", CFR_30, audio_s=2.0, streamed=True)
    with av.open(str(clip)) as container:  # the kind: the header says nothing of the length
        assert container.duration is None and not container.streams.video[0].frames
    result = analyze_file(clip, classifier)
    assert result["media"]["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert result["media"]["codec"] == "vp8" and result["media"]["frames_read"] == 16
    assert result["verdict"] != "no_face" and len(_counted(result)) == 1


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_audio_longer_than_video_is_not_truncated(tmp_path, classifier, suffix):
    clip = write_timed(tmp_path / f"talk{suffix}", CFR_30, audio_s=6.0)
    with av.open(str(clip)) as container:
        assert container.duration / 1e6 > 5  # the container's length is the audio's
    info = probe_video(clip)
    assert (info.frame_count, round(info.duration_s, 2)) == (60, 2.0)
    result = analyze_file(clip, classifier)
    assert result["media"]["frames_undecodable"] == 0 and result["timeline"][-1]["t"] < 2.0
    assert result["verdict"] != "no_face"


def test_damaged_bytes_mid_file_are_skipped_and_counted(tmp_path, classifier):
    clip = damage(write_timed(tmp_path / "damaged.mp4", [i / 30 for i in range(120)]), at=0.45, length=4000)
    stats = ReadStats()
    every = list(iter_frames(clip, list(range(120)), stats=stats))
    assert 60 < len(every) < 120 and stats.undecodable == 120 - len(every)
    assert every[-1].index == 119  # decoding went on past the damage to the end
    result = analyze_file(clip, classifier)
    media = result["media"]
    assert media["frames_undecodable"] == stats.undecodable  # the damage lies inside the span read
    # A missing sample is replaced by the next frame that decodes; a gap wider than the spacing of samples
    # leaves one frame standing in for two.
    assert media["frames_sampled"] - 2 <= media["frames_read"] <= media["frames_sampled"]
    assert result["timeline"][-1]["t"] > 3.5 and result["verdict"] != "no_face"


def test_damage_with_nothing_decodable_after_it_is_truncated_media(tmp_path, classifier):
    clip = damage(write_timed(tmp_path / "tail.mp4", [i / 30 for i in range(120)]), at=0.5, length=10**9)
    with pytest.raises(MediaError) as caught:
        analyze_file(clip, classifier)
    assert caught.value.code == ErrorCode.TRUNCATED_MEDIA


def test_a_clip_cut_short_of_its_declared_count_keeps_what_decodes(tmp_path, classifier):
    clip = write_timed(tmp_path / "long.mkv", [i / 30 for i in range(90)])
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size * 2 // 3])
    result = analyze_file(cut, classifier)
    assert 30 < probe_video(cut).frame_count < 90 and result["verdict"] != "no_face"


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_variable_frame_rate_timeline_is_presentation_time(tmp_path, classifier, suffix):
    # 10 frames at 30 fps, the 10th held 4 s, 10 more at 30 fps (a screen recorder's pause).
    times = [i / 30 for i in range(10)] + [9 / 30 + 4 + i / 30 for i in range(1, 11)]
    clip = write_timed(tmp_path / f"vfr{suffix}", times)
    result = analyze_file(clip, classifier)
    assert result["media"]["duration_s"] == pytest.approx(times[-1] + 1 / 30, abs=0.05)
    for entry in result["timeline"]:
        assert entry["t"] == pytest.approx(times[entry["frame"]], abs=0.05)
    assert any(e["t"] > 4 for e in result["timeline"]) and any(e["t"] < 1 for e in result["timeline"])


def test_a_screen_recording_is_sampled_over_its_time_not_its_frames(tmp_path, classifier):
    # 5 s of busy screen at 30 fps without a face, then 45 s with a face, one frame a second.
    times = [i / 30 for i in range(150)] + [5 + i for i in range(45)]
    clip = write_timed(tmp_path / "screen.mp4", times, has_face=lambda i: i >= 150)
    result = analyze_file(clip, classifier)
    with_face = [e for e in result["timeline"] if e["faces"]]
    assert len(with_face) >= 0.8 * len(result["timeline"])
    assert result["verdict"] != "no_face" and _counted(result)


@pytest.mark.parametrize("frames", [1, 2, 12])
def test_short_clips_are_read_in_full_and_judged(tmp_path, classifier, frames):
    clip = write_timed(tmp_path / "short.mp4", [i / 30 for i in range(frames)])
    result = analyze_file(clip, classifier)
    assert result["media"]["frames_sampled"] == result["media"]["frames_read"] == frames
    assert result["verdict"] != "no_face" and len(result["faces"]) == 1


def test_the_counted_person_minimum_scales_with_what_was_read():
    assert [min_track_frames(n) for n in (1, 2, 3, 16, 32, 100)] == [1, 2, 2, 2, 4, 10]


def test_time_sampling_weighs_frames_by_screen_time():
    held = [0.0, 0.1, 0.2, 10.0, 10.1]  # the third frame is on screen for 9.8 s
    picked = sample_times(held, end=10.2, frames=8, max_per_second=4, min_frames=1)
    assert picked == [0, 1, 2, 3, 4]  # fewer frames than samples: every frame, each once
    cfr = [i / 30 for i in range(300)]
    assert sample_times(cfr, 10.0, 32, 4) == [int((i + 0.5) * 300 / 32) for i in range(32)]


# 10 frames at 30 fps, the 10th held 4 s, 10 more at 30 fps (a screen recorder's pause): 21 frames, 4.7 s.
HELD_PAUSE = [i / 30 for i in range(10)] + [9 / 30 + 4 + i / 30 for i in range(1, 12)]


def test_a_held_frame_does_not_swallow_the_samples():
    # min(32, 21 frames, max(16, 4.7 s x 4)) = 18 distinct frames, though only 4 are on screen at the
    # 18 instants; the rest are spread over the other frames, before and after the pause.
    picked = sample_times(HELD_PAUSE, HELD_PAUSE[-1] + 1 / 30, frames=32, max_per_second=4, min_frames=16)
    assert len(picked) == len(set(picked)) == 18 and 9 in picked
    assert sum(i < 9 for i in picked) >= 6 and sum(i > 9 for i in picked) >= 6
    # A long pause in a long recording: 100 frames, 20 s held, 100 frames; 32 samples, over both sides.
    long = [i / 30 for i in range(100)] + [99 / 30 + 20 + i / 30 for i in range(1, 101)]
    picked = sample_times(long, long[-1] + 1 / 30, frames=32, max_per_second=4, min_frames=16)
    assert len(set(picked)) == 32 and sum(i < 99 for i in picked) >= 10 and sum(i > 99 for i in picked) >= 10
    # Fewer frames than the minimum, one of them held: every frame.
    few = [0.0, 0.1, 5.0, 5.1, 5.2, 5.3]
    assert sample_times(few, 5.4, frames=32, max_per_second=4, min_frames=16) == list(range(6))


def test_a_variable_frame_rate_clip_gets_the_rules_count_of_frames(tmp_path, classifier):
    clip = write_timed(tmp_path / "vfr.mp4", HELD_PAUSE)
    result = analyze_file(clip, classifier)
    assert result["media"]["frames_sampled"] == result["media"]["frames_read"] == 18
    frames = [e["frame"] for e in result["timeline"]]
    assert len(frames) == len(set(frames)) == 18
    for entry in result["timeline"]:
        assert entry["t"] == pytest.approx(HELD_PAUSE[entry["frame"]], abs=0.05)
    assert result["verdict"] != "no_face"


def test_default_sampling_takes_at_least_min_frames(tmp_path):
    clip = write_timed(tmp_path / "two_seconds.mp4", CFR_30)
    info = probe_video(clip)
    assert len(sample_frames(info, VideoLimits())) == 16 and len(sample_frames(info, VideoLimits(min_frames=1))) == 8


def test_portrait_phone_clips_are_turned_upright(tmp_path):
    import cv2

    clip = tmp_path / "portrait.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 256, "yuv420p"
        stream.set_display_rotation(-90)  # as a phone held upright records
        for i in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(write_frame(i), format="rgb24")))
        out.mux(stream.encode(None))
    ours = next(iter(iter_frames(clip, [0]))).rgb
    ok, reference = cv2.VideoCapture(str(clip)).read()  # OpenCV applies the display matrix by default
    assert ok and ours.shape == reference.shape == (320, 256, 3)
    assert abs(ours.astype(int) - reference[:, :, ::-1].astype(int)).mean() < 6


def write_frame(i: int):
    from tests.video_media import picture

    return picture(i, face=True, size=(320, 256))
