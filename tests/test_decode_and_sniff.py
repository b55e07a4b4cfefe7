from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline import ErrorCode, MediaError, MediaType, load_image, sniff
from tests import media


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY_FILE),
        (media.truncated_jpeg(), ErrorCode.TRUNCATED_MEDIA),
        (media.corrupt_jpeg(), ErrorCode.CORRUPT_MEDIA),
        (media.png_bomb(), ErrorCode.IMAGE_TOO_LARGE),
        (b"just some text, not an image\n" * 10, ErrorCode.UNSUPPORTED_MEDIA),
    ],
    ids=["zero-byte", "truncated", "corrupt", "bomb", "not-an-image"],
)
def test_bad_images_have_their_own_codes(tmp_path, data, code):
    path = media.write(tmp_path / "input", data)
    with pytest.raises(MediaError) as caught:
        load_image(path, max_pixels=50_000_000)
    assert caught.value.code == code


def test_pixel_limit_is_a_setting(tmp_path):
    path = media.write(tmp_path / "a.jpg", media.jpeg_bytes(media.astronaut()))
    assert load_image(path, max_pixels=512 * 512).shape == (512, 512, 3)
    with pytest.raises(MediaError) as caught:
        load_image(path, max_pixels=512 * 512 - 1)
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE


def test_exif_rotation_is_applied(tmp_path):
    from PIL import Image

    img = Image.fromarray(media.astronaut()[:, :300])  # 512 tall, 300 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert load_image(path, max_pixels=10**7).shape == (300, 512, 3)


@pytest.mark.parametrize(
    ("head", "kind", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42", "video", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video", "video/webm"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video", "video/x-msvideo"),
    ],
)
def test_sniff_reads_the_bytes(head, kind, mime):
    found = sniff(head)
    assert (found.kind, found.mime) == (kind, mime)


@pytest.mark.parametrize("head", [b"", b"hello world", b"%PDF-1.7\n", b"PK\x03\x04 a zip file"])
def test_sniff_refuses_what_it_cannot_decode(head):
    assert sniff(head) is None


@pytest.mark.parametrize(
    ("head", "mime"),
    [(b"GIF89a\x01\x00\x01\x00", "image/gif"), (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00", "image/avif"),
     (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1", "image/heic"), (b"\x00\x00\x00\x1cftypmif1", "image/heic")],
)
def test_sniff_knows_phone_and_browser_stills(head, mime):
    assert sniff(head) == MediaType("image", mime)


def _grey() -> np.ndarray:
    return np.asarray(Image.fromarray(media.astronaut()).convert("L"))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_keeps_its_tones(tmp_path, suffix):
    grey = _grey()
    path = tmp_path / f"grey16{suffix}"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)  # full 16-bit range, as scanners write it
    decoded = load_image(path, max_pixels=10**7)
    assert decoded.shape == (*grey.shape, 3)
    assert np.abs(decoded[:, :, 0].astype(int) - grey).max() <= 1  # not all white
    assert (decoded[:, :, 0] == decoded[:, :, 1]).all()


def test_32_bit_float_grey_in_0_to_1_keeps_its_tones(tmp_path):
    grey = _grey()
    path = tmp_path / "grey.tif"
    Image.fromarray(grey.astype(np.float32) / 255).save(path)
    assert np.abs(load_image(path, max_pixels=10**7)[:, :, 0].astype(int) - grey).max() <= 1


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_avif_and_heic_decode(tmp_path, fmt):
    from pipeline.decode import register_formats

    register_formats()
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(media.astronaut()).save(path, format=fmt, quality=90)
    head = path.read_bytes()[:32]
    assert sniff(head).kind == "image"
    decoded = load_image(path, max_pixels=10**7)
    assert decoded.shape == (512, 512, 3)
    assert np.abs(decoded.astype(int) - media.astronaut()).mean() < 12


GARBAGE = b"garbage and not the data the header promised " * 4  # no comma: in a GIF it starts a frame
HEADERS_THEN_GARBAGE = {
    "png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff\xe0", "gif": b"GIF89a", "webp": b"RIFF\x10\x00\x00\x00WEBP",
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00", "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00",
    "webm": b"\x1a\x45\xdf\xa3", "avi": b"RIFF\x10\x00\x00\x00AVI ",
}


@pytest.mark.parametrize("kind", HEADERS_THEN_GARBAGE)
def test_a_known_header_followed_by_garbage_is_corrupt_not_unsupported(tmp_path, kind):
    """The format is recognised, its content does not decode: ``corrupt_media``, as the service reports it."""
    from pipeline import media_type, probe_video

    path = media.write(tmp_path / "input", HEADERS_THEN_GARBAGE[kind] + GARBAGE)
    with pytest.raises(MediaError) as caught:
        found = media_type(path)
        load_image(path, max_pixels=50_000_000) if found.kind == "image" else probe_video(path)
    assert caught.value.code == ErrorCode.CORRUPT_MEDIA, caught.value.message


def test_an_image_over_the_decoders_own_warning_size_is_image_too_large(tmp_path):
    """100 Mpx: past Pillow's warning (89 Mpx), under its refusal (179 Mpx); our limit decides."""
    path = media.write(tmp_path / "big.png", media.png_bomb(10_000, 10_000))
    with pytest.raises(MediaError) as caught:
        load_image(path, max_pixels=50_000_000)
    assert caught.value.code == ErrorCode.IMAGE_TOO_LARGE and "over the limit of 50000000" in caught.value.message


def test_a_scan_of_big_and_broken_images_prints_no_python_warning(tmp_path):
    """As a user runs it (warnings not made errors): rows with our codes, nothing on stderr."""
    import subprocess
    import sys

    media.write(tmp_path / "big.png", media.png_bomb(10_000, 10_000))
    media.write(tmp_path / "huge.png", media.png_bomb())
    media.write(tmp_path / "broken.tif", b"II*\x00" + GARBAGE)
    code = ("import sys; from pathlib import Path; from cli.scan import scan_files; from core.settings import "
            "get_settings; print([r['error']['code'] for r in scan_files(sorted(Path(sys.argv[1]).iterdir()), None, "
            "get_settings())])")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "['image_too_large', 'corrupt_media', 'image_too_large']"
