"""Safe image decoding: size checked from the header before any pixel is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import ErrorCode, MediaError


def register_formats() -> None:
    """HEIC/HEIF (what phones save) through pillow-heif, where installed; AVIF is Pillow's own."""
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


def load_image(path: str | Path, max_pixels: int) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array (H, W, 3), EXIF rotation applied.

    Raises ``MediaError`` with ``empty_file``, ``unsupported_media``,
    ``image_too_large``, ``truncated_media`` or ``corrupt_media``.
    """
    path = Path(path)
    register_formats()
    if path.stat().st_size == 0:
        raise MediaError(ErrorCode.EMPTY_FILE, "the file is empty")
    try:
        with Image.open(path) as img:
            _check_pixels(img.size, max_pixels)
            img = _decode(img)
    except UnidentifiedImageError as exc:
        raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, "not an image format we can decode") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own guard fired before ours
        raise MediaError(ErrorCode.IMAGE_TOO_LARGE, str(exc)) from exc
    except (OSError, ValueError, SyntaxError) as exc:  # the header itself is broken
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc
    return np.asarray(img)


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise MediaError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{width}x{height} is {width * height} pixels, over the limit of {max_pixels}",
        )


def _decode(img: Image.Image) -> Image.Image:
    try:
        img.load()
        # Phone photos store rotation in EXIF; faces are only found upright.
        return _to_rgb(ImageOps.exif_transpose(img))
    except OSError as exc:
        if "truncated" in str(exc):
            raise MediaError(ErrorCode.TRUNCATED_MEDIA, "the image data ends early") from exc
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc
    except (ValueError, SyntaxError) as exc:
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB. Pillow's own conversion clips 16-bit and 32-bit grey at 255 (an all-white picture);
    those are scaled to 8 bits first."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return Image.fromarray(_grey_to_8bit(np.asarray(img)), "L").convert("RGB")
    return img.convert("RGB")


def _grey_to_8bit(grey: np.ndarray) -> np.ndarray:
    """(H, W) 16-bit, 32-bit integer or float grey to ``uint8``: integers by their 16-bit range (a 16-bit
    PNG or TIFF opens as 32-bit ``I`` in some Pillow versions), floats by 0-1 when they fit in it."""
    top = 65535.0
    if grey.size and np.issubdtype(grey.dtype, np.floating) and grey.min() >= 0 and grey.max() <= 1.0:
        top = 1.0
    elif grey.size and grey.max() <= 255:
        top = 255.0  # 8-bit values stored in a wider type
    return np.clip(grey.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
