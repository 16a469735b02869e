"""Exporting the image classifier with its serving signatures and warm-up records.

The bytes signature reads each image's header before decoding it and refuses, with
INVALID_ARGUMENT, an image of more pixels than the export's `max_image_pixels`: a
PNG of a few hundred KB can declare 20000x20000 pixels and decode to gigabytes. It
also refuses a request whose images declare more than `max_request_pixels` in all:
64 small PNGs can each declare 49 MP.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from contract.defaults import TOP_K
from contract.endpoints import CLASSIFIER, DEFAULT_SIGNATURE
from export.repository import write_version
from export.warmup import predict_log, write_warmup
from models.vision.image_headers import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_REQUEST_PIXELS,
    checked_sizes,
)
from models.vision.preprocessing import decode_images
from models.vision.trainer import load_trained

logger = logging.getLogger(__name__)

PIXELS_SIGNATURE = "predict_pixels"

def classifier_archive(model: keras.Model, class_names: tuple[str, ...],
                       top_k: int = TOP_K,
                       max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                       max_request_pixels: int | None = None,
                       ) -> keras.export.ExportArchive:
    """The classifier's SavedModel: decoding (of images up to `max_image_pixels`
    pixels, `max_request_pixels` a request: by default 100 MP or `max_image_pixels` if
    more), resizing and top-k labelling in the graph."""
    if len(class_names) != model.output.shape[-1]:
        raise ValueError(
            f"{len(class_names)} class names for a model with {model.output.shape[-1]} outputs"
        )
    size, channels = tuple(model.input.shape[1:3]), model.input.shape[3]
    if max_image_pixels < size[0] * size[1]:
        raise ValueError(f"max_image_pixels={max_image_pixels} is below the model's own input "
                         f"size {size[0]}x{size[1]}; give at least {size[0] * size[1]}")
    if max_request_pixels is None:
        max_request_pixels = max(DEFAULT_MAX_REQUEST_PIXELS, max_image_pixels)
    if max_request_pixels < max_image_pixels:
        raise ValueError(f"max_request_pixels={max_request_pixels} is below max_image_pixels="
                         f"{max_image_pixels}, so an image allowed alone would be refused; "
                         f"give at least {max_image_pixels}")
    k = min(top_k, len(class_names))
    names = tf.constant(class_names)
    by_bytes, by_pixels = (CLASSIFIER.signature(n) for n in (DEFAULT_SIGNATURE, PIXELS_SIGNATURE))

    def labelled(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        scores, ids = tf.math.top_k(probabilities, k)  # (batch, k)
        return {"classes": tf.gather(names, ids), "scores": scores,
                "class_ids": tf.cast(ids, tf.int64)}

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        image_bytes = checked_sizes(image_bytes, max_image_pixels, max_request_pixels)
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
                      top_k: int = TOP_K,
                      max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                      max_request_pixels: int | None = None,
                      ) -> tuple[int, Path]:
    """Writes the trained model in `model_dir` as the next version of
    `<repository>/classifier`, refusing images over `max_image_pixels` pixels and
    requests over `max_request_pixels`; returns the version and its folder."""
    model, class_names = load_trained(model_dir)
    size, channels = tuple(model.input.shape[1:3]), model.input.shape[3]
    archive = classifier_archive(model, class_names, top_k, max_image_pixels,
                                 max_request_pixels)

    def write(path: Path) -> None:
        archive.write_out(str(path), verbose=False)
        write_warmup(path, warmup_records(size, channels))

    version, path = write_version(Path(repository) / CLASSIFIER.model_name, write)
    logger.info("exported %s version %d to %s", CLASSIFIER.model_name, version, path)
    return version, path
