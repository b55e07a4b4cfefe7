"""Stream a multipart upload to a temporary file: hashed, sized and sniffed on the way.

The body is parsed as it arrives, so an upload over the limit is refused at
the byte that crosses it (413), and memory stays flat whatever the file size.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError
from core.text import made_storable
from pipeline.sniff import SNIFF_BYTES

MAX_FIELD_BYTES = 64 * 1024
FILE_FIELD = "file"


@dataclass
class ReceivedFile:
    path: Path
    filename: str | None
    size: int = 0
    head: bytes = b""
    sha256: str = ""


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


class _Receiver:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, tmp_dir: Path, max_bytes: int, file_field: str = FILE_FIELD):
        self.tmp_dir, self.max_bytes, self.file_field = tmp_dir, max_bytes, file_field
        self.fields: dict[str, str] = {}
        self.file: ReceivedFile | None = None
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._out = None
        self._digest = hashlib.sha256()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._part = _Part()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._header_field.decode("latin-1").lower()] = self._header_value.decode("latin-1")
        self._header_field, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get("content-disposition", ""))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        # Informational only: a name a text column cannot hold is kept readable rather than refused.
        self._part.filename = made_storable(filename.decode("utf-8", "replace")) if filename is not None else None
        if self._part.filename is not None and self._part.name != self.file_field:
            # curl -F image=@photo.jpg: a file under another name would otherwise be read as a text field
            raise ApiError(422, "invalid_request", f"the file goes in the form field {self.file_field!r}, not "
                           f"{self._part.name!r} (curl: -F {self.file_field}=@PATH)")
        if self._part.name == self.file_field:
            if self.file is not None:
                raise ApiError(422, "invalid_request", "send exactly one file")
            fd, name = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
            self._out = os.fdopen(fd, "wb")
            self.file = ReceivedFile(Path(name), self._part.filename)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._out is None:
            self._part.value += chunk
            if len(self._part.value) > MAX_FIELD_BYTES:
                raise ApiError(413, "too_large", f"form field {self._part.name!r} is too long")
            return
        self.file.size += len(chunk)
        if self.file.size > self.max_bytes:
            raise ApiError(413, "too_large", f"the file is over the limit of {self.max_bytes} bytes")
        if len(self.file.head) < SNIFF_BYTES:
            self.file.head += chunk[: SNIFF_BYTES - len(self.file.head)]
        self._digest.update(chunk)
        self._out.write(chunk)

    def _part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
            self.file.sha256 = self._digest.hexdigest()
        elif self._part.name:
            self.fields[self._part.name] = self._part.value.decode("utf-8", "replace")

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
        if self.file is not None:
            self.file.path.unlink(missing_ok=True)


async def receive_upload(
    content_type: str, body: AsyncIterator[bytes], tmp_dir: Path, max_bytes: int, file_field: str = FILE_FIELD
) -> tuple[ReceivedFile, dict[str, str]]:
    """Parse a multipart body; the caller owns (and must delete) the returned file."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(422, "invalid_request", "multipart body without a boundary")
    receiver = _Receiver(tmp_dir, max_bytes, file_field)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        receiver.discard()
        raise ApiError(422, "invalid_request", f"malformed multipart body: {exc}") from exc
    except BaseException:
        receiver.discard()
        raise
    if receiver.file is None:
        raise ApiError(422, "invalid_request", f"no {file_field!r} part in the upload: send the file as the form "
                       f"field {file_field!r} (curl: -F {file_field}=@PATH)")
    return receiver.file, receiver.fields


def check_fields(fields: dict[str, str], accepted: tuple[str, ...], file_field: str = FILE_FIELD) -> None:
    """Refuse a form field the route does not read (a typo such as ``callbackurl`` would otherwise be
    dropped without a word), naming it and listing the fields it takes."""
    unknown = sorted(set(fields) - set(accepted))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ApiError(422, "invalid_request", f"unknown form field {names}; this upload takes {file_field!r} "
                       f"and {', '.join(accepted)}")
