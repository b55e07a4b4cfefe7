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


def _odd_folder(tmp_path):
    import os

    folder = tmp_path / "odd"
    folder.mkdir()
    media.write(folder / "photo.jpg", media.jpeg_bytes(media.no_face()))
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (folder / "link.jpg").symlink_to(folder / "photo.jpg")
    return folder


def test_a_broken_link_and_a_named_pipe_in_a_folder_get_rows_that_say_why(tmp_path):
    from cli.scan import scan_files
    from core.settings import get_settings

    folder = _odd_folder(tmp_path)
    files = media_files([str(folder)])
    assert [p.name for p in files] == ["gone.jpg", "link.jpg", "photo.jpg", "pipe.jpg"]
    odd = [p for p in files if p.name in ("gone.jpg", "pipe.jpg")]
    rows = {row["path"].rsplit("/", 1)[-1]: row["error"] for row in scan_files(odd, None, get_settings())}
    assert rows["gone.jpg"]["code"] == "source_not_found"
    assert "broken symbolic link" in rows["gone.jpg"]["message"] and "deleted.jpg" in rows["gone.jpg"]["message"]
    assert rows["pipe.jpg"] == {"code": "unsupported_media", "message": "not a regular file but a named pipe (FIFO)"}


def test_a_named_pipe_given_by_name_is_not_a_missing_file_and_is_never_read(tmp_path):
    from cli.scan import scan_file
    from core.settings import get_settings

    pipe = _odd_folder(tmp_path) / "pipe.jpg"
    assert scan_file(pipe, None, get_settings())["error"]["code"] == "unsupported_media"  # returns: not opened


def test_a_backlog_uploads_regular_files_and_names_the_rest(tmp_path, capsys):
    from cli.backlog import _uploadable

    folder = _odd_folder(tmp_path)
    assert [p.name for p in _uploadable(media_files([str(folder)]))] == ["link.jpg", "photo.jpg"]
    said = capsys.readouterr().err
    assert "skipped" in said and "gone.jpg: a broken symbolic link" in said and "pipe.jpg: not a regular file" in said
