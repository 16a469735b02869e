"""Exporting the image classifier with its serving signatures and warm-up records."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from export.contracts import CLASSIFIER, DEFAULT_SIGNATURE
from export.repository import write_version
from export.warmup import predict_log, write_warmup
from models.vision.preprocessing import decode_images
from models.vision.trainer import load_trained

logger = logging.getLogger(__name__)

PIXELS_SIGNATURE = "predict_pixels"
DEFAULT_TOP_K = 5


def classifier_archive(model: keras.Model, class_names: tuple[str, ...],
                       top_k: int = DEFAULT_TOP_K) -> keras.export.ExportArchive:
    """The classifier's SavedModel: decoding, resizing and top-k labelling in the graph."""
    if len(class_names) != model.output.shape[-1]:
        raise ValueError(
            f"{len(class_names)} class names for a model with {model.output.shape[-1]} outputs"
        )
    size, channels = tuple(model.input.shape[1:3]), model.input.shape[3]
    k = min(top_k, len(class_names))
    names = tf.constant(class_names)
    by_bytes, by_pixels = (CLASSIFIER.signature(n) for n in (DEFAULT_SIGNATURE, PIXELS_SIGNATURE))

    def labelled(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        scores, ids = tf.math.top_k(probabilities, k)  # (batch, k)
        return {"classes": tf.gather(names, ids), "scores": scores,
                "class_ids": tf.cast(ids, tf.int64)}

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        pixels = decode_images(image_bytes, size, channels)  # (batch, h, w, c)
        return labelled(model(pixels, training=False))

    def serve_pixels(pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        return labelled(model(pixels, training=False))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        DEFAULT_SIGNATURE, serve_bytes,
        [tf.TensorSpec([None], tf.string, name=by_bytes.inputs[0].key)],
    )
    archive.add_endpoint(
        PIXELS_SIGNATURE, serve_pixels,
        [tf.TensorSpec([None, *size, channels], tf.float32, name=by_pixels.inputs[0].key)],
    )
    return archive


def warmup_records(size: tuple[int, int], channels: int) -> list:
    """One request per signature, on a mid-grey image, so both graphs are traced."""
    pixels = np.full((1, *size, channels), 128.0, np.float32)
    png = tf.io.encode_png(tf.cast(pixels[0], tf.uint8)).numpy()
    return [
        predict_log(CLASSIFIER.model_name, DEFAULT_SIGNATURE,
                    {"image_bytes": np.array([png], dtype=object)}),
        predict_log(CLASSIFIER.model_name, PIXELS_SIGNATURE, {"pixels": pixels}),
    ]


def export_classifier(model_dir: str | Path = "artifacts/classifier",
                      repository: str | Path = "model_repository",
                      top_k: int = DEFAULT_TOP_K) -> tuple[int, Path]:
    """Writes the trained model in `model_dir` as the next version of
    `<repository>/classifier`; returns the version and its folder."""
    model, class_names = load_trained(model_dir)
    size, channels = tuple(model.input.shape[1:3]), model.input.shape[3]
    archive = classifier_archive(model, class_names, top_k)

    def write(path: Path) -> None:
        archive.write_out(str(path), verbose=False)
        write_warmup(path, warmup_records(size, channels))

    version, path = write_version(Path(repository) / CLASSIFIER.model_name, write)
    logger.info("exported %s version %d to %s", CLASSIFIER.model_name, version, path)
    return version, path
