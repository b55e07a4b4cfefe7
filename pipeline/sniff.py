"""Identify media from its first bytes; names and Content-Type are never trusted."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 32
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class MediaType:
    kind: str  # "image" or "video"
    mime: str


def _is_ftyp(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file from its first ``SNIFF_BYTES`` bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType("image", "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType("image", "image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType("image", "image/webp")
    if head.startswith(b"BM"):
        return MediaType("image", "image/bmp")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType("image", "image/gif")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaType("image", "image/tiff")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType("video", "video/x-msvideo")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType("video", "video/webm" if b"webm" in head else "video/x-matroska")
    if _is_ftyp(head):
        if head[8:12] in (b"avif", b"avis"):
            return MediaType("image", "image/avif")  # Pillow decodes AVIF (an AVIF sequence: its first image)
        if head[8:12] in HEIF_BRANDS:
            return MediaType("image", "image/heic")  # phones' photos; decoded through pillow-heif
        return MediaType("video", "video/quicktime" if head[8:10] == b"qt" else "video/mp4")
    return None
