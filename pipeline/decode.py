"""Safe image decoding: size checked from the header before any pixel is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import ErrorCode, MediaError


def load_image(path: str | Path, max_pixels: int) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array (H, W, 3), EXIF rotation applied.

    Raises ``MediaError`` with ``empty_file``, ``unsupported_media``,
    ``image_too_large``, ``truncated_media`` or ``corrupt_media``.
    """
    path = Path(path)
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
        return ImageOps.exif_transpose(img).convert("RGB")
    except OSError as exc:
        if "truncated" in str(exc):
            raise MediaError(ErrorCode.TRUNCATED_MEDIA, "the image data ends early") from exc
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc
    except (ValueError, SyntaxError) as exc:
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc
