"""PNG and JPEG bytes to uint8 pixels, with Pillow restricted to those formats and bomb-guarded."""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from chalicelib.errors import InputTooLarge, MalformedInput

UInt8Array = npt.NDArray[np.uint8]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PLAIN_PNG_MODES = {0: "L", 2: "RGB"}
_PNG_COMPRESSED_TEXT = (b"zTXt", b"iTXt")
_JPEG_SIGNATURE = b"\xff\xd8\xff"
# Start-of-frame markers (C0-CF but DHT C4, JPG C8 and DAC CC), start of scan, end of image.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SCAN = 0xDA
_JPEG_END = 0xD9
# The next marker: 0xFF followed by neither a stuffed zero, a restart marker nor a fill byte.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Scans per JPEG. A baseline JPEG has 1 (3 when its components are not interleaved); libjpeg's
# standard progressive script has 6 for grayscale and 10 for color, Photoshop's 3 to 5, mozjpeg's
# optimized ones about 10 to 12. Each scan is a pass over every block of the image, wanted or not
# (0.2 ms per scan at 2000x2000 here), so a scan bomb costs its scans times its pixels: 32 is three
# times the usual script and at most about 7 ms of scans at the per-image pixel cap.
MAX_JPEG_SCANS = 32
# Marker segments per JPEG: a photo has about 10 to 20 (APPn, DQT, DHT, SOF, SOS), a progressive
# one a DHT and an SOS more per scan, an ICC profile or XMP a few 64 KB APPn more. Each costs a
# Python step here and in Pillow's header reader: a body of 4-byte comments would be a million.
MAX_JPEG_SEGMENTS = 1_000


@dataclass(frozen=True)
class ImageHeader:
    """What a PNG or JPEG declares before its pixels: its size and, for a JPEG, its scans."""

    width: int
    height: int
    scans: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass
class PixelBudget:
    """The pixels that images may declare in all: one request's, or one batch object's over
    all its records; spent from headers, before any image is decoded."""

    limit: int
    scope: str = "request"
    setting: str = "SAGEWIRE_MAX_REQUEST_PIXELS"
    declared: int = 0

    def spend(self, pixels: int) -> None:
        declared = self.declared + pixels
        if declared > self.limit:
            raise InputTooLarge(
                f"images in this {self.scope} declare {declared:,} pixels, over the "
                f"{self.scope} budget of {self.limit:,} pixels ({self.setting})"
            )
        self.declared = declared


def image_header(
    data: bytes,
    formats: tuple[str, ...],
    max_pixels: int,
    max_scans: int = MAX_JPEG_SCANS,
    max_segments: int = MAX_JPEG_SEGMENTS,
) -> ImageHeader:
    """The PNG IHDR or JPEG frame header of ``data``, read without decoding, with the per-image
    caps checked; a JPEG's scans are counted up to one over ``max_scans``."""
    if "PNG" in formats and data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise _not_an_image(formats)
        header = ImageHeader(*struct.unpack_from(">II", data, 16))
    elif "JPEG" in formats and data.startswith(_JPEG_SIGNATURE):
        header = _jpeg_header(data, formats, max_scans, max_segments)
    else:
        raise _not_an_image(formats)
    if header.pixels > max_pixels:
        raise InputTooLarge(
            f"image of {header.width}x{header.height} pixels is over the limit of "
            f"{max_pixels:,} pixels"
        )
    if header.scans > max_scans:
        raise InputTooLarge(
            f"the JPEG has more than {max_scans} scans, the limit per image "
            "(progressive JPEGs with more are refused)"
        )
    return header


def _jpeg_header(
    data: bytes, formats: tuple[str, ...], max_scans: int, max_segments: int
) -> ImageHeader:
    """Walks the JPEG's marker segments, skipping entropy-coded data, to its end or past
    ``max_scans`` scans, at most ``max_segments`` of them; a truncated tail is left for the
    decoder to refuse."""
    size: tuple[int, int] | None = None
    scans = 0
    position = 2
    for _ in range(max_segments + 1):
        found = _JPEG_MARKER.search(data, position)
        if found is None or scans > max_scans:
            break
        marker = data[found.start() + 1]
        position = found.end()
        if marker == _JPEG_END:
            break
        if marker == 0xD8 or marker == 0x01:  # SOI and TEM have no length
            continue
        if position + 2 > len(data):
            break
        (length,) = struct.unpack_from(">H", data, position)
        if marker in _JPEG_FRAMES:
            if size is not None or length < 8 or position + 7 > len(data):
                raise _not_an_image(formats)
            height, width = struct.unpack_from(">HH", data, position + 3)
            size = width, height
        elif marker == _JPEG_SCAN:
            if size is None:
                raise _not_an_image(formats)
            scans += 1
        position += max(length, 2)
    else:
        raise InputTooLarge(
            f"the JPEG has more than {max_segments:,} marker segments, the limit per image"
        )
    if size is None:
        raise _not_an_image(formats)
    return ImageHeader(*size, scans)


def png_pixels(data: bytes, max_pixels: int) -> UInt8Array:
    """Pixels of a PNG: plain ones decoded directly, any other through Image.open."""
    pixels = _plain_png(data, max_pixels)
    if pixels is None:
        pixels = decode_image(data, ("PNG",), max_pixels)
    return pixels


def _plain_png(data: bytes, max_pixels: int) -> UInt8Array | None:
    """Pixels of an 8-bit, non-interlaced grayscale or RGB PNG; None defers to Image.open.

    Measured on a 28x28 digit, Image.open + load spends 20 of its 24 µs in Pillow's Python
    chunk reader and plugin discovery: here the chunks are walked (CRCs checked) and the image
    data goes straight to Pillow's own zlib+filter decoder, in 11 µs.
    """
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, color, compression, filtering, interlace = struct.unpack_from(
        ">IIBBBBB", data, 16
    )
    if width * height > max_pixels:
        raise InputTooLarge(
            f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels"
        )
    mode = _PLAIN_PNG_MODES.get(color)
    if mode is None or depth != 8 or compression or filtering or interlace or not width * height:
        return None
    view = memoryview(data)
    parts = []
    position = 8
    while True:
        if position + 12 > len(data):
            return None
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            return None
        if zlib.crc32(view[position + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            raise MalformedInput("the data is not a valid PNG image (bad chunk checksum)")
        if kind in _PNG_COMPRESSED_TEXT:
            return None  # Pillow inflates these under its own size limit.
        if kind == b"IDAT":
            parts.append(view[position + 8 : end])
        elif kind == b"IEND":
            break
        position = end + 4
    try:
        image = Image.frombytes(mode, (width, height), b"".join(parts), "zip", mode)
    except (ValueError, OSError) as exc:
        raise _not_an_image(("PNG",)) from exc
    shape = (height, width) if mode == "L" else (height, width, 3)
    return np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(shape)


def decode_image(
    data: bytes,
    formats: tuple[str, ...],
    max_pixels: int,
    size: tuple[int, int] | None = None,
) -> UInt8Array:
    """Pixels of a PNG or JPEG as uint8, HxW (grayscale) or HxWx3 (color).

    ``size`` is the (width, height) the pixels will be shrunk to in grayscale: a JPEG at least
    four times as large each way is then decoded in grayscale at the smallest DCT scale (1/2,
    1/4 or 1/8) that keeps it twice that large (Pillow's draft mode), for a fraction of the
    work. Twice, so that the final resize still averages 2x2 pixels or more into each one: then
    it stays within a level or two of a full decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise InputTooLarge(
                        f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels"
                    )
                if size and image.format == "JPEG":
                    draft = (2 * size[0], 2 * size[1])
                    if width >= 2 * draft[0] and height >= 2 * draft[1]:
                        image.draft("L", draft)
                return _pixels(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise InputTooLarge(f"image is over the limit of {max_pixels} pixels") from exc
    except ValueError as exc:
        if str(exc).startswith(("Decompressed data too large", "Too much memory used")):
            raise InputTooLarge("image metadata is too large") from exc
        raise _not_an_image(formats) from exc
    except InputTooLarge:
        raise
    # Pillow's decoders raise a wide, undocumented set of exceptions on hostile bytes
    # (OSError, SyntaxError, struct.error, IndexError, EOFError ...): all mean "not an image".
    except Exception as exc:
        raise _not_an_image(formats) from exc


def _not_an_image(formats: tuple[str, ...]) -> MalformedInput:
    return MalformedInput(f"the data is not a valid {' or '.join(formats)} image")


def _pixels(image: Image.Image) -> UInt8Array:
    mode = image.mode
    if mode in ("L", "RGB"):
        return np.asarray(image)
    if mode.startswith("I"):
        # 16-bit grayscale: rescale 0..65535 to 0..255 with rounding.
        wide = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
        return ((wide + 128) // 257).astype(np.uint8)
    if mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))
