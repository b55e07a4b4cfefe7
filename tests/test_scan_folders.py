"""Folder scans read files by content, and every file gets a row: a result or an error with its code."""

from __future__ import annotations

import json
import shutil

from cli.files import media_files
from cli.main import main
from tests import media


def _folder(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    jpeg = media.jpeg_bytes(media.astronaut())
    media.write(folder / "photo.jpg", jpeg)
    media.write(folder / "saved.jfif", jpeg)  # a JPEG under a name no list of extensions has
    media.write(folder / "noextension", jpeg)
    media.write(folder / "notes.txt", b"not media\n")
    media.write(folder / ".hidden.jpg", jpeg)
    return folder


def test_folders_are_walked_for_every_file_not_by_extension(tmp_path):
    names = [p.name for p in media_files([str(_folder(tmp_path))])]
    assert names == ["noextension", "notes.txt", "photo.jpg", "saved.jfif"]


def test_scan_gives_every_file_a_row_and_fails_when_one_failed(tmp_path, capsys):
    folder = _folder(tmp_path)
    status = main(["scan", "--json", str(folder)])
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"noextension", "notes.txt", "photo.jpg", "saved.jfif"}
    assert rows["notes.txt"]["error"]["code"] == "unsupported_media"
    assert all(rows[name]["verdict"] != "no_face" for name in ("noextension", "photo.jpg", "saved.jfif"))
    assert status == 1
    (folder / "notes.txt").unlink()
    shutil.rmtree(tmp_path / "mixed" / "__pycache__", ignore_errors=True)
    assert main(["scan", "--json", str(folder)]) == 0
