"""Identify media from its first bytes; names and Content-Type are never trusted."""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 32
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")


@dataclass(frozen=True)
class MediaType:
    kind: str  # "image" or "video"
    mime: str


JPEG = MediaType("image", "image/jpeg")
PNG = MediaType("image", "image/png")
WEBP = MediaType("image", "image/webp")
BMP = MediaType("image", "image/bmp")
GIF = MediaType("image", "image/gif")
TIFF = MediaType("image", "image/tiff")
AVIF = MediaType("image", "image/avif")  # Pillow decodes AVIF (an AVIF sequence: its first image)
HEIC = MediaType("image", "image/heic")  # phones' photos; decoded through pillow-heif
AVI = MediaType("video", "video/x-msvideo")
WEBM = MediaType("video", "video/webm")
MKV = MediaType("video", "video/x-matroska")
MOV = MediaType("video", "video/quicktime")
MP4 = MediaType("video", "video/mp4")
# Everything ``sniff`` recognises, photos then videos: the one list the page's hint and the API's refusal quote.
ACCEPTED = (JPEG, PNG, WEBP, BMP, GIF, TIFF, AVIF, HEIC, MP4, MOV, WEBM, AVI, MKV)
# How a format is written for people where its MIME subtype, upper-cased, is not it.
FORMAT_NAMES = {"webp": "WebP", "webm": "WebM", "quicktime": "MOV", "x-msvideo": "AVI", "x-matroska": "MKV"}


def format_name(media: MediaType) -> str:
    """A format's everyday name: "JPEG", "WebP", "MOV"."""
    subtype = media.mime.split("/")[1]
    return FORMAT_NAMES.get(subtype, subtype.removeprefix("x-").upper())


def accepted_formats(kind: str | None = None) -> str:
    """The accepted formats in words, "JPEG, PNG, ... HEIC" (one ``kind``: "image" or "video"), or with
    no kind "JPEG, ..., HEIC; MP4, MOV, WebM, AVI, MKV" (photos; videos)."""
    if kind is not None:
        return ", ".join(format_name(m) for m in ACCEPTED if m.kind == kind)
    return "; ".join(accepted_formats(k) for k in ("image", "video"))


def _is_ftyp(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def sniff(head: bytes) -> MediaType | None:
    """The media type of a file from its first ``SNIFF_BYTES`` bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"BM"):
        return BMP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM if b"webm" in head else MKV
    if _is_ftyp(head):
        if head[8:12] in (b"avif", b"avis"):
            return AVIF
        if head[8:12] in HEIF_BRANDS:
            return HEIC
        return MOV if head[8:10] == b"qt" else MP4
    return None
