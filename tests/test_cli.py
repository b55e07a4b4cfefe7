"""``deepfake scan`` runs the pipeline in-process and prints results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import media


def _scan(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "cli", "scan", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_scan_json_one_line_per_file(tmp_path):
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    media.write(folder / "astronaut.jpg", media.jpeg_bytes(media.astronaut()))
    media.write(folder / "nested" / "coffee.jpg", media.jpeg_bytes(media.no_face()))
    media.write(folder / "broken.jpg", media.truncated_jpeg())
    media.write(folder / "notes.txt", b"not media; a folder scan still gives it a row, never drops it")
    text_file = media.write(tmp_path / "named.txt", b"named explicitly, so it is reported")
    proc = _scan("--json", str(folder), str(text_file), cwd=tmp_path)
    rows = {os.path.basename(r["path"]): r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(rows) == {"astronaut.jpg", "coffee.jpg", "broken.jpg", "notes.txt", "named.txt"}
    assert rows["astronaut.jpg"]["verdict"] in {"fake", "real", "uncertain"}
    assert len(rows["astronaut.jpg"]["faces"]) == 1
    assert rows["coffee.jpg"]["verdict"] == "no_face"
    assert rows["broken.jpg"]["error"]["code"] == "truncated_media"
    assert rows["named.txt"]["error"]["code"] == "unsupported_media"
    assert rows["notes.txt"]["error"]["code"] == "unsupported_media"
    assert proc.returncode == 1  # some files could not be processed


def test_scan_table(tmp_path):
    media.write(tmp_path / "astronaut.jpg", media.jpeg_bytes(media.astronaut()))
    proc = _scan(str(tmp_path / "astronaut.jpg"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.strip().splitlines()
    assert header.split()[:3] == ["file", "verdict", "score"]
    assert row.split()[0].endswith("astronaut.jpg") and row.split()[1] in {"fake", "real", "uncertain"}


def test_scan_missing_file(tmp_path):
    proc = _scan("--json", str(tmp_path / "nope.jpg"), cwd=tmp_path)
    assert json.loads(proc.stdout)["error"]["code"] == "source_not_found"


def test_scan_in_processes_matches_one_process(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(5):
        media.write(folder / f"{i}.jpg", media.jpeg_bytes(media.astronaut(), quality=60 + 8 * i))
    media.write(folder / "5-coffee.jpg", media.jpeg_bytes(media.no_face()))
    media.write(folder / "6-broken.jpg", media.truncated_jpeg())
    one, two = ([json.loads(line) for line in _scan("--json", "--processes", n, str(folder), cwd=tmp_path)
                 .stdout.splitlines()] for n in ("1", "2"))
    assert [r["path"] for r in two] == [r["path"] for r in one] and len(one) == 7
    assert [r.get("verdict") for r in two] == [r.get("verdict") for r in one]
    assert [r.get("error", {}).get("code") for r in two] == [None] * 6 + ["truncated_media"]
    for a, b in zip(one, two, strict=True):
        assert [f["box"] for f in a.get("faces", [])] == [f["box"] for f in b.get("faces", [])]
        assert [f["score"] for f in a.get("faces", [])] == pytest.approx([f["score"] for f in b.get("faces", [])],
                                                                         abs=1e-3)


def test_scan_with_a_model_that_is_not_there_is_one_line(tmp_path):
    photo = media.write(tmp_path / "photo.jpg", media.jpeg_bytes(media.no_face()))
    (tmp_path / "empty").mkdir()
    for model, says in ((tmp_path / "nonexistent", "does not exist"), (tmp_path / "empty", "has no model.json"),
                        (photo, "is a file")):
        proc = _scan("--model", str(model), str(photo), cwd=tmp_path)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: --model: {model} {says}") and "alias" in lines[0], lines[0]
        assert proc.returncode == 2 and proc.stdout == ""
