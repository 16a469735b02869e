"""Image classification data from any of the supported sources, as tf.data pipelines.

A source is one of:
- `fashion_mnist` (or a directory holding the four IDX files): the official files;
- a directory with one sub-folder per class (optionally under `train/` and `test/`);
- `tfds:NAME`: a tensorflow-datasets dataset with `train` and `test` splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.vision import fashion_mnist
from models.vision.preprocessing import fit_images

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass
class ImageData:
    """Unbatched `(image uint8/float32 [h, w, c], label int64)` splits and class names."""

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    class_names: tuple[str, ...]


def load_image_data(source: str = "fashion_mnist", validation_size: int = 5000,
                    limit: int | None = None, seed: int = 0) -> ImageData:
    """Loads `source` (see module docstring); `limit` caps each split's size."""
    if source.startswith("tfds:"):
        data = _from_tfds(source[len("tfds:"):])
    elif source == "fashion_mnist" or _is_idx_dir(Path(source)):
        data = _from_idx(None if source == "fashion_mnist" else source, validation_size, seed)
    elif Path(source).is_dir():
        data = _from_folder(Path(source), seed)
    else:
        raise ValueError(
            f"unknown image source {source!r}: give 'fashion_mnist', 'tfds:NAME', a folder "
            "of IDX files, or a folder with one sub-folder of images per class"
        )
    if limit:
        data.train, data.validation, data.test = (
            split.take(limit) for split in (data.train, data.validation, data.test)
        )
    return data


def batches(split: tf.data.Dataset, batch_size: int, image_size: tuple[int, int],
            channels: int, augment: keras.Layer | None = None,
            shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches a split at the model's size and channels, shuffling and augmenting
    when asked (augmentation runs here, so the exported model carries none)."""
    if shuffle_seed is not None:
        split = split.shuffle(20_000, seed=shuffle_seed, reshuffle_each_iteration=True)
    split = split.batch(batch_size).map(
        lambda x, y: (fit_images(x, image_size, channels), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    if augment is not None:
        split = split.map(lambda x, y: (augment(x, training=True), y),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return split.prefetch(tf.data.AUTOTUNE)


def _is_idx_dir(path: Path) -> bool:
    return all((path / name).is_file() for name, _ in fashion_mnist.FILES.values())


def _from_idx(path: str | None, validation_size: int, seed: int) -> ImageData:
    (train_x, train_y), (test_x, test_y) = fashion_mnist.load(path)
    order = np.random.default_rng(seed).permutation(len(train_x))
    val, train = order[:validation_size], order[validation_size:]
    slices = tf.data.Dataset.from_tensor_slices
    return ImageData(
        train=slices((train_x[train], train_y[train])),
        validation=slices((train_x[val], train_y[val])),
        test=slices((test_x, test_y)),
        class_names=fashion_mnist.CLASS_NAMES,
    )


def _from_folder(root: Path, seed: int) -> ImageData:
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if has_splits else root

    def read(directory: Path, **kwargs) -> tf.data.Dataset:
        return keras.utils.image_dataset_from_directory(
            directory, batch_size=None, label_mode="int", color_mode="rgb",
            seed=seed, verbose=False, **kwargs,
        )

    train, validation = read(train_root, validation_split=0.1, subset="both")
    test = read(root / "test", shuffle=False) if has_splits else validation
    return ImageData(*(_int64_labels(split) for split in (train, validation, test)),
                     class_names=tuple(train.class_names))


def _from_tfds(name: str) -> ImageData:
    """A tensorflow-datasets dataset; `$TFSTACK_DATA_DIR` holds prepared copies offline."""
    import tensorflow_datasets as tfds

    (train, validation, test), info = tfds.load(
        name, split=["train[:90%]", "train[90%:]", "test"], as_supervised=True,
        with_info=True, data_dir=os.environ.get("TFSTACK_DATA_DIR"),
    )
    labels = info.features[info.supervised_keys[1]]
    return ImageData(*(_int64_labels(split) for split in (train, validation, test)),
                     class_names=tuple(labels.names))


def _int64_labels(split: tf.data.Dataset) -> tf.data.Dataset:
    return split.map(lambda x, y: (x, tf.cast(y, tf.int64)))
