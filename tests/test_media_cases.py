"""Every row of the shared real-world media cases (``../shared/cases/media/cases.csv``) through the
pipeline as ``deepfake scan`` runs it: each file stands for a kind of input people upload."""

from __future__ import annotations

import csv
import json

import pytest

from cli.main import main
from cli.scan import scan_files
from core.settings import get_settings
from tests.conftest import SHARED, shared_path

CASES = SHARED / "cases" / "media"


def _rows() -> list[dict]:
    if not (CASES / "cases.csv").exists():
        return [{"file": "cases.csv"}]  # one test that skips locally and fails in CI
    with open(CASES / "cases.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if not r["file"].endswith("/")]


@pytest.mark.parametrize("case", _rows(), ids=lambda r: r["file"])
def test_media_case_holds_through_scan(case, classifier):
    path = shared_path("cases", "media", case["file"])
    (row,) = scan_files([path], classifier, get_settings())
    if case.get("error_code_in"):
        assert row["error"]["code"] in case["error_code_in"].split("|")
        return
    assert "error" not in row, row.get("error")
    assert row["verdict"] in case["verdict_in"].split("|")
    assert len(row["faces"]) >= int(case["min_faces"])


def test_vfr_case_timeline_is_what_ffprobe_reports(classifier):
    import av

    path = shared_path("cases", "media", "v_vfr.mp4")
    with av.open(str(path)) as container:  # each packet's pts_time, as ffprobe -show_packets prints it
        stream = container.streams.video[0]
        pts_times = sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.size)
    (row,) = scan_files([path], classifier, get_settings())
    assert row["timeline"] and max(e["t"] for e in row["timeline"]) > 4
    for entry in row["timeline"]:
        assert entry["t"] == pytest.approx(pts_times[entry["frame"]], abs=0.05)


def test_mixed_folder_case_gives_every_file_a_row(capsys):
    folder = shared_path("cases", "media", "folder_mixed")
    status = main(["scan", "--json", str(folder)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    for row in rows:  # JPEG whatever its name, HEIC and AVIF from phones, a still GIF: all analysed
        assert "error" not in row and row["verdict"] in {"real", "uncertain"} and row["faces"], row["path"]
    assert status == 0
