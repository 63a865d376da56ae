"""The data sets the devstack puts in its bucket: MNIST-shaped digits and tabular CSV."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from devstack import channels, datasets, digits


def test_mnist_shaped_digits_sit_in_a_centred_20x20_box() -> None:
    split = digits.load_mnist_split()
    assert split.x_train.shape == (len(digits.load_split().x_train), 784)
    assert split.x_train.min() >= 0.0
    assert split.x_train.max() <= 1.0
    images = split.x_train.reshape(-1, 28, 28)
    border = np.ones((28, 28), dtype=bool)
    border[4:24, 4:24] = False
    assert not images[:, border].any()
    # Bilinear upsampling keeps each digit's shape: back down to 8x8 it is the original.
    first = np.rint(images[0, 4:24, 4:24] * 255).astype(np.uint8)
    small = Image.fromarray(first).resize((8, 8), Image.Resampling.BOX)
    original = digits.to_pixels(digits.load_split().x_train[:1]).reshape(8, 8)
    assert np.abs(np.asarray(small, dtype=int) - original).mean() < 20


def test_a_28x28_png_round_trips() -> None:
    row = digits.load_mnist_split().x_test[0]
    image = Image.open(io.BytesIO(digits.mnist_png(row)))
    assert image.size == (28, 28)
    np.testing.assert_allclose(np.asarray(image).reshape(-1) / 255.0, row, atol=1 / 255)


def test_every_uploaded_object_reads_as_its_channel() -> None:
    objects = datasets.objects()
    assert sorted(objects) == [
        "datasets/breast-cancer/train/breast-cancer.csv",
        "datasets/breast-cancer/validation/breast-cancer.csv",
        "datasets/diabetes/train/diabetes.csv",
        "datasets/diabetes/validation/diabetes.csv",
        "datasets/digits28/test/digits28.rec",
        "datasets/digits28/train/digits28.rec",
    ]
    digits28 = channels.read_recordio(objects["datasets/digits28/train/digits28.rec"])
    np.testing.assert_allclose(digits28.x, digits.load_mnist_split().x_train, atol=1e-6)
    assert digits28.y is not None
    np.testing.assert_array_equal(digits28.y, digits.load_mnist_split().y_train)
    cancer = channels.read_csv(objects["datasets/breast-cancer/train/breast-cancer.csv"])
    assert cancer.x.shape[1] == 30
    assert cancer.y is not None
    assert set(cancer.y) == {0.0, 1.0}
    diabetes = channels.read_csv(objects["datasets/diabetes/validation/diabetes.csv"])
    assert diabetes.x.shape == (88, 10)
