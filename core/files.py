"""Finding media files on disk for the CLI."""

from __future__ import annotations

from pathlib import Path

MEDIA_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff",
                  ".mp4", ".mov", ".m4v", ".webm", ".avi", ".mkv"}


def media_files(paths: list[str]) -> list[Path]:
    """Named files as given; folders walked for image files, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    return files
