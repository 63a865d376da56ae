"""What hostile requests cost: pixels summed from headers, JPEG scans counted, JPEG draft mode,
each refusal made before any image is decoded (asserted by counts, never by timings)."""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from PIL import Image

from chalicelib.errors import InputTooLarge, MalformedInput
from chalicelib.inference_spec import InputSpec
from chalicelib.processing import decode as decode_module
from chalicelib.processing.decode import DecodeLimits, decode
from chalicelib.processing.images import (
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    PixelBudget,
    decode_image,
    image_header,
)
from chalicelib.processing.preprocess import preprocess, target_size

SPEC = InputSpec(shape=(28, 28), scale=255.0)


def encode(image: Image.Image, kind: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Smooth noise, JPEG-friendly: random 8x8 blocks scaled up."""
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((width, height)).convert(mode)


def scan_bomb(scans: int, side: int = 2000) -> bytes:
    """The issue's scan bomb: a flat progressive JPEG, then ``scans`` near-empty AC scans before
    its end (14 bytes each), which libjpeg decodes one pass over every block at a time."""
    body = encode(Image.new("L", (side, side)), "JPEG", progressive=True)
    end = body.rindex(b"\xff\xd9")
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + bytes([1, 63, 0]) + b"\0" * 4
    return body[:end] + scan * scans + body[end:]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The size of every image decode.py hands to Pillow, in order."""
    calls: list[tuple[int, ...]] = []

    def spy(data: bytes, *args: Any) -> Any:
        pixels = decode_image(data, *args)
        calls.append(pixels.shape)
        return pixels

    monkeypatch.setattr(decode_module, "decode_image", spy)
    return calls


def images_body(*images: bytes) -> bytes:
    return orjson.dumps({"images": [base64.b64encode(image).decode() for image in images]})


# The pixel flood: 256 small PNGs that each declare 2000x2000.


def test_the_pixel_flood_is_refused_from_its_headers(decoded: list[tuple[int, ...]]) -> None:
    flat = encode(Image.new("L", (2000, 2000)))
    body = images_body(*[flat] * 256)
    assert len(body) < 4 * 1024 * 1024
    with pytest.raises(InputTooLarge) as refusal:
        decode(body, "application/json")
    assert refusal.value.message == (
        "images in this request declare 1,024,000,000 pixels, over the request budget of "
        "16,000,000 pixels (SAGEWIRE_MAX_REQUEST_PIXELS)"
    )
    assert decoded == []


def test_the_request_budget_is_the_sum_of_all_images(decoded: list[tuple[int, ...]]) -> None:
    limits = DecodeLimits(max_request_pixels=300)
    ten = encode(Image.new("L", (10, 10)))
    assert len(decode(images_body(ten, ten, ten), "application/json", limits)) == 3
    instances = orjson.dumps(
        {"instances": [[1.0], {"image": base64.b64encode(ten).decode()}] * 3 + [{"image": ""}]}
    )
    with pytest.raises(MalformedInput):
        decode(instances, "application/json", limits)
    assert len(decoded) == 3
    with pytest.raises(InputTooLarge, match=r"declare 400 pixels, over the request budget of 300"):
        decode(images_body(ten, ten, ten, ten), "application/json", limits)
    with pytest.raises(InputTooLarge, match=r"declare 301 pixels"):
        decode(encode(Image.new("L", (301, 1))), "image/png", limits)
    assert len(decoded) == 3


def test_a_budget_spans_calls_and_names_its_setting() -> None:
    budget = PixelBudget(1_000, "object", "SAGEWIRE_MAX_BATCH_PIXELS")
    budget.spend(600)
    with pytest.raises(InputTooLarge) as refusal:
        budget.spend(401)
    assert refusal.value.message == (
        "images in this object declare 1,001 pixels, over the object budget of 1,000 pixels "
        "(SAGEWIRE_MAX_BATCH_PIXELS)"
    )
    budget.spend(400)
    assert budget.declared == 1_000


# The scan bomb: a 288 KB progressive JPEG with 20,000 scans.


def test_the_scan_bomb_is_refused_from_its_markers(decoded: list[tuple[int, ...]]) -> None:
    bomb = scan_bomb(20_000)
    assert len(bomb) < 300_000
    assert bomb.count(b"\xff\xda") == 20_006
    # Scans are counted up to one over the limit, whatever the limit under 1,000 segments.
    with pytest.raises(InputTooLarge, match="more than 900 scans"):
        image_header(bomb, ("JPEG",), 4_000_000, max_scans=900)
    with pytest.raises(InputTooLarge) as refusal:
        decode(bomb, "image/jpeg")
    assert refusal.value.message == (
        f"the JPEG has more than {MAX_JPEG_SCANS} scans, the limit per image "
        "(progressive JPEGs with more are refused)"
    )
    with pytest.raises(InputTooLarge, match="more than 32 scans"):
        decode(images_body(bomb), "application/json")
    assert decoded == []


def test_scans_are_counted_up_to_one_over_the_limit() -> None:
    bomb = scan_bomb(100, side=16)
    assert image_header(bomb, ("JPEG",), 256, max_scans=1_000).scans == 106
    with pytest.raises(InputTooLarge, match="more than 7 scans"):
        image_header(bomb, ("JPEG",), 256, max_scans=7)


def test_a_jpeg_of_a_million_comments_is_refused_from_its_markers(
    decoded: list[tuple[int, ...]],
) -> None:
    body = encode(Image.new("L", (16, 16)), "JPEG")
    comments = b"\xff\xfe\x00\x02" * (MAX_JPEG_SEGMENTS - 20)
    assert image_header(body[:2] + comments + body[2:], ("JPEG",), 256).scans == 1
    with pytest.raises(InputTooLarge, match="more than 1,000 marker segments"):
        decode(body[:2] + b"\xff\xfe\x00\x02" * 1_000_000 + body[2:], "image/jpeg")
    assert decoded == []


@pytest.mark.parametrize(("mode", "scans"), [("L", 6), ("RGB", 10)])
def test_usual_progressive_jpegs_are_accepted(mode: str, scans: int) -> None:
    body = encode(photo(64, 48, mode), "JPEG", progressive=True)
    header = image_header(body, ("JPEG",), 4_000_000)
    assert (header.width, header.height, header.scans) == (64, 48, scans)
    (raw,) = decode(body, "image/jpeg")
    assert raw.values.shape[:2] == (48, 64)


def test_a_baseline_jpeg_with_an_exif_thumbnail_has_one_scan() -> None:
    thumbnail = encode(photo(16, 16), "JPEG")
    exif = Image.Exif()
    exif[0x010E] = "a thumbnail follows"
    app1 = b"Exif\0\0" + exif.tobytes() + thumbnail
    body = encode(photo(40, 30), "JPEG")
    body = body[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + body[2:]
    assert image_header(body, ("JPEG",), 4_000_000).scans == 1
    (raw,) = decode(body, "image/jpeg")
    assert raw.values.shape == (30, 40, 3)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",  # a scan before any frame
        b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
        b"\xff\xc2\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x00",  # two frames
        b"\xff\xd8\xff\xe0\x00\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9",  # no frame
    ],
)
def test_jpegs_without_one_frame_before_their_scans_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInput, match="not a valid JPEG image"):
        image_header(body, ("JPEG",), 4_000_000)


# Draft mode: JPEGs decoded straight to (about) the model's size.


def test_a_large_jpeg_is_decoded_at_the_smallest_scale_above_the_models_size(
    decoded: list[tuple[int, ...]],
) -> None:
    body = encode(photo(448, 336), "JPEG", quality=95)
    (drafted,) = decode(body, "image/jpeg", size=target_size(SPEC))
    assert drafted.values.shape == (84, 112)  # 1/4 scale, grayscale: twice the model's size
    (full,) = decode(body, "image/jpeg", DecodeLimits(draft=False), size=target_size(SPEC))
    assert full.values.shape == (336, 448, 3)
    difference = np.abs(preprocess([drafted], SPEC) - preprocess([full], SPEC))
    assert difference.max() <= 1.5 / 255
    assert difference.mean() < 0.5 / 255


def test_a_jpeg_under_four_times_the_models_size_is_not_drafted() -> None:
    body = encode(photo(111, 160), "JPEG")
    (raw,) = decode(body, "image/jpeg", size=(28, 28))
    assert raw.values.shape == (160, 111, 3)
    assert target_size(InputSpec(shape=(784,))) is None
    assert target_size(InputSpec(shape=(1, 28, 32))) == (32, 28)
