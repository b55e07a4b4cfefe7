"""Video: sampling, tracking, per-person verdicts and progress, on clips generated with known ground truth."""

from __future__ import annotations

import pytest

from pipeline import ErrorCode, MediaError, analyze_file, sample_indices
from pipeline.tracking import Detection, Tracker, track_score
from tests import media

ONE_FACE = [((20, 40), (400, 100))]
TWO_FACES = [((10, 60), (150, 80)), ((420, 100), (330, 60))]


def test_one_moving_face_is_one_track_over_the_clip(tmp_path, classifier):
    clip = media.write_clip(tmp_path / "one.mp4", ONE_FACE)
    progress: list[float] = []
    result = analyze_file(clip, classifier, on_progress=progress.append)
    assert result["kind"] == "video"
    m = result["media"]
    assert (m["width"], m["height"], m["fps"]) == (640, 360, 15.0)
    assert m["duration_s"] == pytest.approx(4.0) and m["frames_sampled"] == 16  # 4 per second
    (track,) = result["tracks"]
    assert track["frames"] == m["frames_sampled"] and track["counted"]
    assert track["start_s"] < 0.3 and track["end_s"] > 3.6
    assert result["verdict"] in {"fake", "real", "uncertain"} and result["score"] == track["score"]
    assert [f["track"] for f in result["faces"]] == [track["id"]]
    assert len(result["timeline"]) == 16
    assert all(len(entry["faces"]) == 1 and entry["faces"][0]["track"] == track["id"] for entry in result["timeline"])
    # The box follows the face to the right.
    assert result["timeline"][-1]["faces"][0]["box"][0] > result["timeline"][0]["faces"][0]["box"][0] + 250
    assert progress == sorted(progress) and progress[-1] == 1.0 and progress[0] > 0


@pytest.mark.parametrize(("suffix", "fourcc", "mime"), [
    ("avi", "MJPG", "video/x-msvideo"), ("mkv", "mp4v", "video/x-matroska"), ("mov", "mp4v", "video/quicktime"),
    ("webm", "VP80", "video/webm"),
])
def test_containers_are_sniffed_and_read(tmp_path, classifier, suffix, fourcc, mime):
    from pipeline import sniff

    clip = media.write_clip(tmp_path / f"clip.{suffix}", ONE_FACE, frames=30, fourcc=fourcc)
    assert sniff(clip.read_bytes()[:32]).mime == mime
    result = analyze_file(clip, classifier)
    assert result["kind"] == "video" and len(result["tracks"]) == 1


def test_two_faces_are_two_tracks(tmp_path, classifier):
    clip = media.write_clip(tmp_path / "two.mp4", TWO_FACES)
    result = analyze_file(clip, classifier)
    assert len(result["tracks"]) == 2
    assert all(t["frames"] == result["media"]["frames_sampled"] for t in result["tracks"])
    assert len(result["faces"]) == 2
    assert result["score"] == max(t["score"] for t in result["tracks"])


def test_no_face_video(tmp_path, classifier):
    clip = media.write_clip(tmp_path / "empty.mp4", [])
    result = analyze_file(clip, classifier)
    assert result["verdict"] == "no_face" and result["score"] is None and result["tracks"] == []


@pytest.mark.parametrize("keep", [0.002, 0.1, 0.5, 0.99])
def test_truncated_video_fails_with_its_code(tmp_path, classifier, keep):
    # OpenCV writes the index (moov) after the media data: any cut loses it, and nothing can be read.
    clip = media.write_clip(tmp_path / "full.mp4", ONE_FACE)
    data = clip.read_bytes()
    cut = media.write(tmp_path / "cut.mp4", data[: int(len(data) * keep)])
    with pytest.raises(MediaError) as caught:
        analyze_file(cut, classifier)
    assert caught.value.code == ErrorCode.TRUNCATED_MEDIA, caught.value.message


@pytest.mark.parametrize(("suffix", "how"), [(".mp4", {}), (".mp4", {"faststart": True}), (".mkv", {}),
                                             (".webm", {}), (".webm", {"streamed": True})])
def test_a_clip_cut_before_its_first_frame_is_truncated(tmp_path, classifier, suffix, how):
    from tests.video_media import write_timed

    clip = write_timed(tmp_path / f"full{suffix}", [i / 30 for i in range(60)], **how)
    data = clip.read_bytes()
    cut = media.write(tmp_path / f"cut{suffix}", data[: len(data) // 20])
    with pytest.raises(MediaError) as caught:
        analyze_file(cut, classifier)
    assert caught.value.code == ErrorCode.TRUNCATED_MEDIA, caught.value.message


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_whole_clip_with_garbage_media_data_is_corrupt_not_truncated(tmp_path, classifier, suffix):
    from tests.video_media import damage, write_timed

    clip = write_timed(tmp_path / f"garbage{suffix}", [i / 30 for i in range(60)])
    damage(clip, at=0.0, length=10**9)  # the container's headers intact, every frame's data noise
    with pytest.raises(MediaError) as caught:
        analyze_file(clip, classifier)
    assert caught.value.code == ErrorCode.CORRUPT_MEDIA, caught.value.message


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_audio_only_file_has_its_own_code(tmp_path, classifier, suffix):
    audio = media.write_audio_only(tmp_path / f"voice{suffix}")
    with pytest.raises(MediaError) as caught:
        analyze_file(audio, classifier)
    assert caught.value.code == ErrorCode.NO_VIDEO_STREAM
    # Cut before its track list, the same file is corrupt, not audio-only.
    cut = media.write(tmp_path / f"cut{suffix}", audio.read_bytes()[:40])
    with pytest.raises(MediaError) as caught:
        analyze_file(cut, classifier)
    assert caught.value.code != ErrorCode.NO_VIDEO_STREAM


def test_a_cut_video_is_not_taken_for_audio_only(tmp_path, classifier):
    clip = media.write_clip(tmp_path / "full.mp4", ONE_FACE)
    cut = media.write(tmp_path / "cut.mp4", clip.read_bytes()[:2000])  # its index is lost
    with pytest.raises(MediaError) as caught:
        analyze_file(cut, classifier)
    assert caught.value.code != ErrorCode.NO_VIDEO_STREAM


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".avi"])
def test_video_tracks_are_found_in_every_container(tmp_path, suffix):
    import av
    import numpy as np

    from pipeline.video import has_video_track

    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx" if suffix == ".webm" else "mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    assert has_video_track(path) is True
    assert has_video_track(media.write_audio_only(tmp_path / f"voice{suffix}")) is False


def test_video_limits(tmp_path, classifier):
    from pipeline import VideoLimits

    clip = media.write_clip(tmp_path / "one.mp4", ONE_FACE)
    with pytest.raises(MediaError) as caught:
        analyze_file(clip, classifier, video_limits=VideoLimits(max_duration_s=2))
    assert caught.value.code == ErrorCode.VIDEO_TOO_LONG
    with pytest.raises(MediaError) as caught:
        analyze_file(clip, classifier, video_limits=VideoLimits(max_pixels=320 * 240))
    assert caught.value.code == ErrorCode.VIDEO_TOO_LARGE


def test_sampling_spreads_frames_and_caps_per_second():
    assert sample_indices(300, 30.0, frames=32, max_per_second=4) == [int((i + 0.5) * 300 / 32) for i in range(32)]
    assert len(sample_indices(60, 30.0, frames=32, max_per_second=4)) == 8  # 2 s clip
    assert sample_indices(1, 30.0, frames=32, max_per_second=4) == [0]


def test_tracker_links_overlapping_boxes_and_splits_far_ones():
    tracker = Tracker()
    assert tracker.update([Detection(0, 0, (0, 0, 100, 100), 1), Detection(0, 0, (300, 0, 100, 100), 1)]) == [1, 2]
    assert tracker.update([Detection(1, 1, (310, 5, 100, 100), 1), Detection(1, 1, (10, 5, 100, 100), 1)]) == [2, 1]
    assert tracker.update([Detection(2, 2, (600, 300, 80, 80), 1)]) == [3]


def test_track_score_is_robust_to_a_few_bad_frames():
    assert track_score([0.05] * 19 + [0.95]) == pytest.approx(0.05)  # one glitch does not make a fake
    assert track_score([0.9] * 8 + [0.1] * 12) == pytest.approx(0.9)  # a swap seen in 40 % of frames does
    assert track_score([0.5, 0.6, 0.4]) == pytest.approx(0.5)


def test_segments_merge_to_the_unsplit_result(tmp_path, classifier):
    from pipeline import Limits, VideoLimits, probe_video
    from pipeline.video_analysis import analyze_part, media_facts, plan_segments, video_result

    clip = media.write_clip(tmp_path / "long.mp4", TWO_FACES, frames=180)  # 12 s
    whole = analyze_file(clip, classifier)
    info = probe_video(clip)
    indices = sample_indices(info.frame_count, info.fps, VideoLimits().frames, VideoLimits().max_per_second)
    segments = plan_segments(info, indices, segment_s=4.0)
    assert len(segments) == 3 and [i for seg in segments for i in seg] == indices
    parts = [analyze_part(clip, info.fps, seg, classifier, Limits()) for seg in segments]
    merged = video_result(media_facts(clip, info, len(indices)), parts, classifier.spec)
    assert len(merged["tracks"]) == len(whole["tracks"]) == 2
    for a, b in zip(merged["tracks"], whole["tracks"], strict=True):
        assert (a["id"], a["frames"], a["start_s"], a["end_s"]) == (b["id"], b["frames"], b["start_s"], b["end_s"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-3)
    assert merged["verdict"] == whole["verdict"]
    assert [e["t"] for e in merged["timeline"]] == [e["t"] for e in whole["timeline"]]
