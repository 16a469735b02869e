"""Image sources: the IDX files, an image folder, and the batching pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.vision import fashion_mnist
from models.vision.datasets import batches, load_image_data

pytestmark = pytest.mark.fashion


def test_fashion_mnist_splits_are_disjoint_and_labelled():
    data = load_image_data("fashion_mnist", validation_size=500, limit=500)
    train = next(iter(data.train.batch(500)))
    validation = next(iter(data.validation.batch(500)))
    assert train[0].shape == (500, 28, 28, 1) and validation[0].shape == (500, 28, 28, 1)
    flat = lambda images: {bytes(x) for x in images.numpy().reshape(len(images), -1)}  # noqa: E731
    assert not flat(train[0]) & flat(validation[0])
    assert data.class_names == fashion_mnist.CLASS_NAMES


def test_image_folder_source_reads_class_subfolders(tmp_path, fashion_test_images):
    images, labels = fashion_test_images
    names = {0: "tshirt", 9: "boot"}
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label in names:
            folder = tmp_path / "train" / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[..., 0]).convert("RGB").save(folder / f"{index}.png")
    (tmp_path / "test").symlink_to(tmp_path / "train")
    data = load_image_data(str(tmp_path))
    assert data.class_names == ("boot", "tshirt")
    pixels, ids = next(iter(batches(data.test, 64, (28, 28), 1)))
    assert pixels.shape[1:] == (28, 28, 1)
    # Boots are darker at the top rows than T-shirts are: the labels match the pictures.
    top = pixels.numpy()[:, :8].mean(axis=(1, 2, 3))
    assert top[ids.numpy() == 0].mean() < top[ids.numpy() == 1].mean()


def test_unknown_source_says_what_is_accepted(tmp_path):
    with pytest.raises(ValueError, match="tfds:NAME"):
        load_image_data(str(tmp_path / "missing"))


def test_batches_resize_convert_and_shuffle_deterministically():
    data = load_image_data("fashion_mnist", validation_size=100, limit=256)
    first = next(iter(batches(data.train, 32, (32, 32), 3, shuffle_seed=7)))
    again = next(iter(batches(data.train, 32, (32, 32), 3, shuffle_seed=7)))
    assert first[0].shape == (32, 32, 32, 3)
    np.testing.assert_array_equal(first[1], again[1])


def test_tfds_source_gives_splits_class_names_and_int64_labels():
    import tensorflow_datasets as tfds

    # tfds's own offline generator: examples shaped by the real dataset's feature spec.
    with tfds.testing.mock_data(num_examples=12):
        data = load_image_data("tfds:fashion_mnist")
        image_spec, label_spec = data.train.element_spec
        assert image_spec.shape == (28, 28, 1) and label_spec.dtype.name == "int64"
        assert data.class_names == fashion_mnist.CLASS_NAMES
        pixels, _ = next(iter(batches(data.test, 4, (32, 32), 3)))
        assert pixels.shape == (4, 32, 32, 3)
