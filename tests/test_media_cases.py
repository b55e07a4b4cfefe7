"""Every row of the shared real-world media cases (``../shared/cases/media/cases.csv``) through the
pipeline as ``deepfake scan`` runs it: each file stands for a kind of input people upload."""

from __future__ import annotations

import csv
import json
from pathlib import Path

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


def _service_cases() -> list[tuple[str, dict]]:
    """(file under the cases folder, its expectation): the rows, and each file of a folder row."""
    cases = []
    for row in _all_rows():
        if row["file"].endswith("/"):
            folder = shared_path("cases", "media", row["file"])
            cases += [(f"{row['file']}{p.name}", {**row, "min_faces": "1", "verdict_in": "real|uncertain"})
                      for p in sorted(folder.iterdir()) if p.is_file()]
        else:
            cases.append((row["file"], row))
    return cases


def _all_rows() -> list[dict]:
    with open(shared_path("cases", "media", "cases.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _unmet(job: dict, case: dict) -> str | None:
    """Why ``job`` does not hold ``case``'s expectation, or None."""
    if case.get("error_code_in"):
        code = (job.get("error") or {}).get("code")
        return None if code in case["error_code_in"].split("|") else f"error {code}"
    if job["status"] != "succeeded":
        return f"{job['status']}: {job.get('error')}"
    result = job["result"]
    if result["verdict"] not in case["verdict_in"].split("|") or len(result["faces"]) < int(case["min_faces"]):
        return f"verdict {result['verdict']}, {len(result['faces'])} faces"
    return None


def test_every_media_case_holds_through_the_service(worker):
    """Each file uploaded to the API, run by a worker, its result read back: what a user of the service sees."""
    from tests.api_client import make_client, submit_bytes, wait_for_job

    cases = _service_cases()
    with make_client() as client:
        submitted = {}
        for name, _case in cases:
            resp = submit_bytes(client, shared_path("cases", "media", name).read_bytes(), Path(name).name,
                                "application/octet-stream")
            assert resp.status_code == 202, (name, resp.text)
            submitted[name] = resp.json()["id"]
        jobs = {name: wait_for_job(client, job_id, timeout=300) for name, job_id in submitted.items()}
    unmet = {name: why for name, case in cases if (why := _unmet(jobs[name], case))}
    assert unmet == {}
    assert len(jobs) >= 12, "every row, and every file of the folder row"
    vfr = jobs["v_vfr.mp4"]["result"]
    assert max(entry["t"] for entry in vfr["timeline"]) > 4, "timeline times are presentation times"
