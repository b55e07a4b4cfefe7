"""Finding the files to analyse on disk for the CLI (``scan``, ``backlog submit``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# What a path that is not a regular file is, by its stat mode (S_ISDIR aside: folders are walked).
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def media_files(paths: list[str]) -> list[Path]:
    """Named files as given; folders walked for every entry that is not a folder, sorted, hidden ones
    (``.name``) left out.

    Names are not trusted either way: a JPEG saved as ``.jfif`` is media and a ``.jpg`` may not be, so
    every file is read by content later and one that is not media gets a row with ``unsupported_media``
    rather than being dropped. So do a broken symbolic link and a named pipe in a folder (see ``check_regular``).
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if not p.is_dir()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    return files


def check_regular(path: Path) -> None:
    """Raise ``MediaError`` unless ``path`` is a regular file (a link to one counts). Never opens it: reading a
    named pipe would wait for a writer forever. Missing, a broken link or one that cannot be followed:
    ``source_not_found``; a named pipe, socket, device or folder: ``unsupported_media``."""
    from pipeline.errors import ErrorCode, MediaError

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise MediaError(ErrorCode.SOURCE_NOT_FOUND,
                             f"a broken symbolic link: its target {os.readlink(path)} does not exist") from None
        raise MediaError(ErrorCode.SOURCE_NOT_FOUND, "no such file") from None
    except OSError as exc:  # a loop of links, a path through a file
        raise MediaError(ErrorCode.SOURCE_NOT_FOUND, f"the path cannot be followed ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "something else")
        raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, f"not a regular file but {kind}")
