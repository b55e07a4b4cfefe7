"""Finding the files to analyse on disk for the CLI (``scan``, ``backlog submit``)."""

from __future__ import annotations

from pathlib import Path


def media_files(paths: list[str]) -> list[Path]:
    """Named files as given; folders walked for every file, sorted, hidden ones (``.name``) left out.

    Names are not trusted either way: a JPEG saved as ``.jfif`` is media and a ``.jpg`` may not be, so
    every file is read by content later and one that is not media gets a row with ``unsupported_media``
    rather than being dropped.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    return files
