"""What a container's headers declare, read without decoding: its tracks and its length.

A decoder opens neither an audio-only file, nor a corrupt one, nor one cut short; these readers tell the
three apart from the headers alone, never the media data: the track lists (MP4/MOV ``moov``, Matroska/WebM
``Tracks``, AVI ``hdrl``) for the first, the sizes the top-level boxes or elements declare for the last.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def has_video_track(path: Path) -> bool | None:
    """Whether the container declares a video track; None if that cannot be told.

    OpenCV opens neither an audio-only file nor a corrupt one, so this is what tells them apart. Only
    the containers' headers are read (MP4/MOV ``moov``, Matroska/WebM ``Tracks``, AVI ``hdrl``), never
    the media data.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if head.startswith(EBML_MAGIC):
            f.seek(0)
            types = _matroska_track_types(f)
            return None if not types else MATROSKA_VIDEO in types
        if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
            types = _avi_stream_types(f)
            return None if not types else b"vids" in types
    return mp4_has_video_track(path)


EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SEGMENT, TRACKS, TRACK_ENTRY, TRACK_TYPE, CLUSTER = 0x18538067, 0x1654AE6B, 0xAE, 0x83, 0x1F43B675
MATROSKA_VIDEO = 1  # TrackType: 1 video, 2 audio, 17 subtitles


def _ebml_number(f, keep_marker: bool) -> int | None:
    """One EBML variable-length number: an element ID (``keep_marker``) or a size (-1: unknown)."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = first[0] if keep_marker else first[0] & (0xFF >> length)
    for byte in rest:
        value = value << 8 | byte
    if not keep_marker and value == (1 << 7 * length) - 1:
        return -1
    return value


def _ebml_elements(f, end: int | None) -> Iterator[tuple[int, int]]:
    """The elements from the current position to ``end`` (None: the end of the file), as (ID, size) with the
    file at the element's data; the next one is found by skipping the data, whatever the caller read of it."""
    while end is None or f.tell() < end:
        element, size = _ebml_number(f, keep_marker=True), _ebml_number(f, keep_marker=False)
        if element is None or size is None:
            return
        start = f.tell()
        yield element, size
        if size < 0:  # unknown size: only the caller, having walked into it, knows where it ended
            return
        f.seek(start + size)


def _matroska_track_types(f) -> list[int] | None:
    """The TrackType of every track in a Matroska/WebM file's ``Tracks``; None when it was not found."""
    for element, size in _ebml_elements(f, None):
        if element != SEGMENT:
            continue
        for child, child_size in _ebml_elements(f, f.tell() + size if size >= 0 else None):
            if child == CLUSTER:
                return None  # media data before any track list
            if child != TRACKS or child_size < 0:
                continue
            if f.tell() + child_size > os.fstat(f.fileno()).st_size:
                return None  # cut inside the track list: the tracks read would not be all of them
            types = []
            for entry, entry_size in _ebml_elements(f, f.tell() + child_size):
                if entry == TRACK_ENTRY and entry_size >= 0:
                    types += [int.from_bytes(f.read(field_size), "big")
                              for field, field_size in _ebml_elements(f, f.tell() + entry_size)
                              if field == TRACK_TYPE and 0 < field_size <= 8]
            return types
    return None


def _avi_stream_types(f, end: int | None = None) -> list[bytes] | None:
    """The stream types (``vids``, ``auds``, ...) of an AVI file's header lists, from the current position
    to ``end``; the walk stops at the media data (``movi``). None: the file ends before it."""
    if end is None:
        f.seek(12)  # past "RIFF", the size and "AVI "
    types: list[bytes] = []
    while end is None or f.tell() + 8 <= end:
        header = f.read(8)
        if len(header) < 8:
            return None if end is None else types
        chunk, size = header[:4], int.from_bytes(header[4:], "little")
        after = f.tell() + size + (size & 1)  # chunks are padded to an even length
        if chunk == b"LIST":
            kind = f.read(4)
            if kind == b"movi":
                break
            if kind in (b"hdrl", b"strl"):
                types += _avi_stream_types(f, f.tell() + size - 4) or []
        elif chunk == b"strh":
            types.append(f.read(4))
        f.seek(after)
    return types


def mp4_has_video_track(path: Path) -> bool | None:
    """For MP4/MOV files: whether the ``moov`` box declares a video track; None if that cannot be told.
    Only the box headers and the ``moov`` box are read; ``mdat`` (the media data) is skipped."""
    with open(path, "rb") as f:
        while len(header := f.read(8)) == 8:
            size, kind, header_len = int.from_bytes(header[:4], "big"), header[4:8], 8
            if size == 1:  # a 64-bit size follows
                size, header_len = int.from_bytes(f.read(8), "big"), 16
            if kind == b"moov":
                moov = f.read(size - header_len if size else -1)
                handlers = [moov[i + 12:i + 16] for i in range(len(moov)) if moov.startswith(b"hdlr", i)]
                return b"vide" in handlers if handlers else None
            if size < header_len:  # 0 = "to the end of the file", or garbage
                return None
            f.seek(size - header_len, 1)
    return None


MP4_TOP_LEVEL = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin", b"moof", b"mfra",
                 b"meta", b"sidx", b"ssix", b"prft", b"emsg", b"pnot", b"junk"}
EBML_HEADER, EBML_DOC_TYPE = 0x1A45DFA3, 0x4282
SEGMENT_CHILDREN = {0x114D9B74, 0x1549A966, TRACKS, CLUSTER, 0x1C53BB6B, 0x1941A469, 0x1043A770, 0x1254C367,
                    0xEC, 0xBF}  # SeekHead, Info, Tracks, Cluster, Cues, Attachments, Chapters, Tags, Void, CRC-32


def is_cut_short(path: Path) -> bool:
    """Whether the file ends before what its well-formed container headers declare: a box, element or
    RIFF list running past the end, or an MP4 whose index (``moov``) never came. False for a file whose
    headers are garbage (that is corrupt, not cut) and for formats not read here."""
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if head.startswith(EBML_MAGIC):
            return _matroska_cut_short(f, file_size)
        if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
            return int.from_bytes(head[4:8], "little") + 8 > file_size
        return _mp4_cut_short(f, file_size)


def _mp4_cut_short(f, file_size: int) -> bool:
    """Top-level boxes, all of known types: one runs past the end, or the media data has no index."""
    position, kinds = 0, set()
    while position < file_size:
        f.seek(position)
        header = f.read(16)
        kind = header[4:8]
        if kind not in MP4_TOP_LEVEL:
            return bool(kinds) and len(header) < 8  # cut inside a box header, or garbage
        size, header_len = int.from_bytes(header[:4], "big"), 8
        if size == 1:
            if len(header) < 16:
                return True
            size, header_len = int.from_bytes(header[8:16], "big"), 16
        elif size == 0:  # "to the end of the file": an mdat whose writer never came back to size it
            size = file_size - position
        if size < header_len:
            return False
        if position + size > file_size:
            return True
        kinds.add(kind)
        position += size
    return bool(kinds & {b"mdat", b"ftyp"}) and not kinds & {b"moov", b"moof"}


def _matroska_cut_short(f, file_size: int) -> bool:
    """A complete EBML header naming Matroska or WebM, then a Segment that declares more than the file
    holds or, of unknown size, whose level-1 elements (all of known IDs) run past the end or hold no media."""
    f.seek(0)
    elements = _ebml_elements(f, None)
    element, size = next(elements, (None, -1))
    if element != EBML_HEADER or size < 0 or f.tell() + size > file_size or \
            not any(f.read(n) in (b"matroska", b"webm") for i, n in _ebml_elements(f, f.tell() + size)
                    if i == EBML_DOC_TYPE):
        return False
    element, size = next(elements, (None, -1))
    if element != SEGMENT:
        return element is None  # nothing after the header
    if size >= 0:
        return f.tell() + size > file_size
    children = set()
    for child, child_size in _ebml_elements(f, None):
        if child not in SEGMENT_CHILDREN:
            return False
        if child_size >= 0 and f.tell() + child_size > file_size:
            return True
        children.add(child)
    return CLUSTER not in children
