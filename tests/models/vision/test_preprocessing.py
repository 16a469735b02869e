"""Decoding and fitting images in the graph, for every accepted format."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from models.vision.preprocessing import decode_images, fit_images


def encoded(array: np.ndarray, fmt: str, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def gradient() -> np.ndarray:
    row = np.linspace(0, 255, 28).astype(np.uint8)
    return np.tile(row, (28, 1))  # grey, brighter to the right


@pytest.mark.parametrize("fmt,mode", [("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB"),
                                      ("BMP", "RGB"), ("GIF", "P")])
def test_every_format_decodes_to_the_model_input(gradient, fmt, mode):
    pixels = decode_images(tf.constant([encoded(gradient, fmt, mode)]), (28, 28), 1).numpy()
    assert pixels.shape == (1, 28, 28, 1) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[0, :, :, 0], gradient, atol=12)


def test_colour_image_is_resized_and_converted_to_grey():
    image = np.zeros((56, 84, 3), np.uint8)
    image[..., 1] = 255  # pure green
    pixels = decode_images(tf.constant([encoded(image, "PNG", "RGB")]), (28, 28), 1).numpy()
    assert pixels.shape == (1, 28, 28, 1)
    np.testing.assert_allclose(pixels, 255 * 0.587, atol=1.0)  # ITU-R 601 luma of green


def test_grey_image_is_converted_to_colour(gradient):
    pixels = decode_images(tf.constant([encoded(gradient, "PNG", "L")]), (14, 14), 3).numpy()
    assert pixels.shape == (1, 14, 14, 3)
    np.testing.assert_allclose(pixels[..., 0], pixels[..., 2])


@pytest.mark.parametrize("data", [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n"])
def test_undecodable_bytes_raise_invalid_argument(data):
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_images(tf.constant([data]), (28, 28), 1)


def test_fit_images_keeps_values_in_range():
    images = tf.constant(np.full((2, 10, 10, 3), 255, np.uint8))
    fitted = fit_images(images, (20, 20), 1).numpy()
    assert fitted.shape == (2, 20, 20, 1)
    assert fitted.max() <= 255.0 and fitted.min() >= 254.0
