"""scikit-learn's bundled digits (8x8, values 0..16), and MNIST-shaped 28x28: split, encodings."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image

SEED = 0
TRAIN_FRACTION = 0.8
SIDE = 8
FEATURES = SIDE * SIDE
MAX_VALUE = 16.0

FloatMatrix = npt.NDArray[np.float64]
IntVector = npt.NDArray[np.int64]
Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True, eq=False)
class Split:
    """Seeded train / held-out split; features are raw digits values 0..16."""

    x_train: FloatMatrix
    y_train: IntVector
    x_test: FloatMatrix
    y_test: IntVector


@lru_cache(maxsize=1)
def load_split() -> Split:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float64)
    y = np.asarray(digits.target, dtype=np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    cut = round(len(x) * TRAIN_FRACTION)
    train, test = order[:cut], order[cut:]
    return Split(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])


def features(x: FloatMatrix) -> FloatMatrix:
    """What the models are trained on: values scaled to 0..1."""
    return x / MAX_VALUE


# What a client's pixels are divided by to get the features (0..255 -> 0..1).
PIXEL_SCALE = 255.0
# The classifier is trained on standardized features; the demo project sends the same constants
# to sagewire's preprocessing (`normalization()` of the training split; a unit test keeps them so).
CLASSIFIER_MEAN = 0.3055
CLASSIFIER_STD = 0.376


def normalization() -> tuple[float, float]:
    """Mean and standard deviation of the training features, rounded as the notebook records
    them (MNIST's are 0.1307 and 0.3081)."""
    x = features(load_split().x_train)
    return round(float(x.mean()), 4), round(float(x.std()), 4)


def to_pixels(x: FloatMatrix) -> Pixels:
    """What a client holds: 0..255 pixels, i.e. value * 255 / 16 rounded, one row per image."""
    return np.rint(x * (255.0 / MAX_VALUE)).astype(np.uint8)


def image_bytes(row: FloatMatrix, image_format: str, upscale: int = 1) -> bytes:
    """One digit as an encoded grayscale image (white ink on black), optionally enlarged."""
    image = Image.fromarray(to_pixels(row).reshape(SIDE, SIDE))
    if upscale > 1:
        image = image.resize((SIDE * upscale, SIDE * upscale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format=image_format, **({"quality": 95} if image_format == "JPEG" else {}))
    return out.getvalue()


def csv_rows(x: FloatMatrix) -> str:
    return "".join(",".join(str(int(v)) for v in row) + "\n" for row in to_pixels(x))


# MNIST-shaped digits: each 8x8 digit, as 0..255 pixels, resized with Pillow's bilinear filter
# to 20x20 (MNIST's digits are fitted to a 20x20 box) and padded with 4 black pixels on every
# side to 28x28 (MNIST centres the box by its centre of mass; here it is simply centred). The
# features are the 784 pixels / 255 in 0..1, row-major, as the SageMaker examples' MNIST pickle.
MNIST_SIDE = 28
MNIST_BOX = 20
MNIST_FEATURES = MNIST_SIDE * MNIST_SIDE


def mnist_pixels(x: FloatMatrix) -> Pixels:
    """8x8 digits (values 0..16) as 28x28 uint8 images, one row of 784 pixels per digit."""
    margin = (MNIST_SIDE - MNIST_BOX) // 2
    out = np.zeros((len(x), MNIST_SIDE, MNIST_SIDE), dtype=np.uint8)
    for index, row in enumerate(to_pixels(x)):
        small = Image.fromarray(row.reshape(SIDE, SIDE))
        box = small.resize((MNIST_BOX, MNIST_BOX), Image.Resampling.BILINEAR)
        out[index, margin : margin + MNIST_BOX, margin : margin + MNIST_BOX] = np.asarray(box)
    return out.reshape(len(x), MNIST_FEATURES)


@lru_cache(maxsize=1)
def load_mnist_split() -> Split:
    """The same split as `load_split`, as MNIST-shaped features in 0..1."""
    split = load_split()
    return Split(
        x_train=mnist_pixels(split.x_train) / PIXEL_SCALE,
        y_train=split.y_train,
        x_test=mnist_pixels(split.x_test) / PIXEL_SCALE,
        y_test=split.y_test,
    )


def mnist_png(row: FloatMatrix) -> bytes:
    """One MNIST-shaped digit (784 features in 0..1) as a 28x28 grayscale PNG."""
    pixels = np.rint(row * PIXEL_SCALE).astype(np.uint8).reshape(MNIST_SIDE, MNIST_SIDE)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()
