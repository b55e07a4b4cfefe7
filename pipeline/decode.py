"""Safe image decoding: size checked from the header before any pixel is decoded.

The pixel limit is ours (``max_pixels``, ``DEEPFAKE_MAX_IMAGE_PIXELS``): ``image_too_large`` names it.
Pillow has a fixed guard of its own, a ``DecompressionBombWarning`` on opening an image over 89 Mpx and a
``DecompressionBombError`` over twice that. Its error is kept (it is reported as ``image_too_large``); its
warning is ignored in every process that imports the pipeline, as are the ``UserWarning``s Pillow writes about a
file's odd content ("Corrupt EXIF data"): a scan's user would see a raw Python warning, and the file's row
already says what matters. (Where warnings are made errors, as in the tests, the bomb warning is caught
as ``image_too_large`` too.)
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import ErrorCode, MediaError
from pipeline.sniff import SNIFF_BYTES, sniff

warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


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
        raise _unidentified(path) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's guard, before ours
        raise MediaError(ErrorCode.IMAGE_TOO_LARGE, _bomb_message(exc, max_pixels)) from exc
    except (OSError, ValueError, SyntaxError) as exc:  # the header itself is broken
        raise MediaError(ErrorCode.CORRUPT_MEDIA, f"the image cannot be decoded: {exc}") from exc
    return np.asarray(img)


def _unidentified(path: Path) -> MediaError:
    """Pillow knows no format in the file: ``corrupt_media`` when its first bytes are those of an image format
    we read (a PNG signature followed by garbage), else ``unsupported_media``."""
    with open(path, "rb") as f:
        found = sniff(f.read(SNIFF_BYTES))
    if found is not None and found.kind == "image":
        name = found.mime.removeprefix("image/").upper()
        return MediaError(ErrorCode.CORRUPT_MEDIA, f"the file starts as {name} but its content cannot be decoded")
    return MediaError(ErrorCode.UNSUPPORTED_MEDIA, "not an image format we can decode")


def _bomb_message(exc: Exception, max_pixels: int) -> str:
    """Pillow's message says "Image size (N pixels) exceeds limit of ..."; ours names our limit."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found.group(1)) if found else None
    if pixels is None:
        return f"the image is over the limit of {max_pixels} pixels"
    if pixels > max_pixels:
        return f"{pixels} pixels, over the limit of {max_pixels}"
    return f"{pixels} pixels, more than the image decoder opens"


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
