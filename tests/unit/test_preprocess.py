"""Preprocessing: Pillow-exact grayscale and resize, float32 normalization, output shapes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from chalicelib.errors import EmptyInput, InvalidShape, MalformedInput
from chalicelib.inference_spec import InputSpec, Normalization, ResizeFilter
from chalicelib.models import RawInput
from chalicelib.processing.preprocess import preprocess

RNG = np.random.default_rng(11)
DIGIT = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
PHOTO = RNG.integers(0, 256, (60, 45, 3), dtype=np.uint8)


def image(pixels: np.ndarray) -> RawInput:
    return RawInput(pixels, "image")


def array(values: npt.ArrayLike) -> RawInput:
    return RawInput(np.asarray(values, dtype=np.float64), "array")


def test_output_is_c_contiguous_float32() -> None:
    features = preprocess([image(DIGIT), image(DIGIT)], InputSpec(shape=(28, 28), scale=255.0))
    assert features.dtype == np.float32
    assert features.flags.c_contiguous
    assert features.shape == (2, 784)


def test_same_size_grayscale_is_only_scaled() -> None:
    features = preprocess([image(DIGIT)], InputSpec(shape=(28, 28)))
    assert np.array_equal(features[0], DIGIT.reshape(-1).astype(np.float32))


@pytest.mark.parametrize("resize_filter", ["nearest", "box", "bilinear", "bicubic", "lanczos"])
def test_color_images_become_grayscale_and_are_resized_like_pillow(
    resize_filter: ResizeFilter,
) -> None:
    expected = Image.fromarray(PHOTO).convert("L")
    filters = {
        "nearest": Image.Resampling.NEAREST,
        "box": Image.Resampling.BOX,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "lanczos": Image.Resampling.LANCZOS,
    }
    expected = expected.resize((28, 28), filters[resize_filter])
    spec = InputSpec(shape=(28, 28), resize_filter=resize_filter)
    features = preprocess([image(PHOTO)], spec)
    assert np.array_equal(features[0], np.asarray(expected, dtype=np.float32).reshape(-1))


def test_default_filter_is_box_area_average() -> None:
    checker = np.kron(np.array([[0, 255], [255, 0]], dtype=np.uint8), np.ones((2, 2), np.uint8))
    halves = np.tile(np.array([[0, 255]], dtype=np.uint8), (2, 1))
    features = preprocess([image(checker), image(halves)], InputSpec(shape=(2, 1)))
    assert features.tolist() == [[128.0, 128.0], [128.0, 128.0]]


def test_grayscale_matches_pillow_luma() -> None:
    features = preprocess([image(PHOTO)], InputSpec(shape=(60, 45)))
    expected = np.asarray(Image.fromarray(PHOTO).convert("L"), dtype=np.float32)
    assert np.array_equal(features[0], expected.reshape(-1))


def test_invert_scale_and_normalize_in_float32() -> None:
    spec = InputSpec(shape=(28, 28), invert=True, scale=255.0, mean=0.1307, std=0.3081)
    features = preprocess([image(DIGIT)], spec)
    expected = (np.float32(255) - DIGIT.astype(np.float32)) / np.float32(255.0)
    expected = (expected - np.float32(0.1307)) / np.float32(0.3081)
    assert np.array_equal(features[0], expected.reshape(-1))
    assert features.min() == pytest.approx((0 - 0.1307) / 0.3081, rel=1e-6)


def test_arrays_are_normalized_too() -> None:
    spec = InputSpec(shape=(2, 2), invert=True, scale=16.0, mean=0.5, std=2.0)
    features = preprocess([array([[0, 16], [8, 255]])], spec)
    assert features.tolist() == [
        [(255 / 16 - 0.5) / 2, (239 / 16 - 0.5) / 2, (247 / 16 - 0.5) / 2, -0.25]
    ]


def test_arrays_only_need_the_right_number_of_values() -> None:
    spec = InputSpec(shape=(2, 3))
    features = preprocess([array([1, 2, 3, 4, 5, 6]), array([[1, 2], [3, 4], [5, 6]])], spec)
    assert features.tolist() == [[1, 2, 3, 4, 5, 6]] * 2


def test_wrong_number_of_values_is_an_invalid_shape() -> None:
    with pytest.raises(InvalidShape, match="input 1 has 5 values; the model expects 6"):
        preprocess([array([1] * 6), array([1] * 5)], InputSpec(shape=(2, 3)))


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        (InputSpec(shape=(28, 28)), (3, 784)),
        (InputSpec(shape=(28, 28), flatten=False), (3, 28, 28)),
        (InputSpec(shape=(28, 28), flatten=False, channel_first=True), (3, 1, 28, 28)),
        (InputSpec(shape=(1, 28, 28), flatten=False), (3, 1, 28, 28)),
        (InputSpec(shape=(28, 28, 1), flatten=False), (3, 28, 28, 1)),
    ],
)
def test_output_shapes(spec: InputSpec, shape: tuple[int, ...]) -> None:
    features = preprocess([image(DIGIT), image(PHOTO), array(np.ones(784))], spec)
    assert features.shape == shape
    assert features.flags.c_contiguous
    assert np.array_equal(features[0].reshape(28, 28), DIGIT)


def test_images_need_a_two_dimensional_model_shape() -> None:
    with pytest.raises(InvalidShape, match="height, width"):
        preprocess([image(DIGIT)], InputSpec(shape=(784,)))


def test_values_beyond_float32_are_refused() -> None:
    with pytest.raises(MalformedInput, match="float32"):
        preprocess([array([1e300, 1.0])], InputSpec(shape=(2,)))
    with pytest.raises(MalformedInput, match="float32"):
        preprocess([array([3e38, 1.0])], InputSpec(shape=(2,), scale=0.001))


def test_no_inputs_is_empty() -> None:
    with pytest.raises(EmptyInput):
        preprocess([], InputSpec(shape=(2,)))


@pytest.mark.parametrize(
    "spec",
    [
        InputSpec(shape=(2, 2), scale=1e-3, mean=-1e6, std=1e-6),
        InputSpec(shape=(2, 2), scale=1e-3, mean=1e6, std=1e-6, invert=True),
    ],
)
def test_pixels_stay_finite_at_the_bounds_a_definition_allows(spec: InputSpec) -> None:
    pixels = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    assert np.isfinite(preprocess([RawInput(pixels, "image")], spec)).all()


def test_images_and_feature_rows_are_normalized_each_by_their_own_kind() -> None:
    spec = InputSpec(
        shape=(2, 2),
        image=Normalization(scale=255.0, invert=True),
        features=Normalization(mean=0.5, std=0.5),
    )
    batch = preprocess([image(np.array([[0, 255], [255, 0]])), array([0.0, 0.5, 1.0, 0.25])], spec)
    assert batch.tolist() == [[1.0, 0.0, 0.0, 1.0], [-1.0, 0.0, 1.0, -0.5]]


def test_without_a_kind_of_its_own_an_input_takes_the_top_level_normalization() -> None:
    spec = InputSpec(shape=(2,), scale=10.0, image=Normalization(scale=255.0))
    assert preprocess([array([5.0, 10.0])], spec).tolist() == [[0.5, 1.0]]
