"""Image preprocessing shared by training and the exported serving graph.

Both paths bring images to the model's size and channels with these functions,
so a served image is seen exactly as the training images were.
"""

from __future__ import annotations

import tensorflow as tf


def fit_images(images: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """Converts `(batch, h, w, c)` images to `channels` and resizes them to
    `image_size`; returns float32 pixel values in 0-255."""
    images = tf.cast(images, tf.float32)
    have = images.shape[-1]
    if have != channels:
        if have == 4:
            images, have = images[..., :3], 3
        if channels == 1 and have == 3:
            images = tf.image.rgb_to_grayscale(images)
        elif channels == 3 and have == 1:
            images = tf.image.grayscale_to_rgb(images)
        elif have != channels:
            raise ValueError(f"cannot convert {have}-channel images to {channels} channels")
    if tuple(images.shape[1:3]) != tuple(image_size):
        images = tf.image.resize(images, image_size, antialias=True)
    return tf.clip_by_value(images, 0.0, 255.0)  # (batch, height, width, channels)


def decode_images(image_bytes: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """Decodes a `(batch,)` string tensor of JPEG/PNG/BMP/GIF files (first frame
    of a GIF) into `(batch, height, width, channels)` float32 pixels in 0-255."""

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return fit_images(image[None], image_size, channels)[0]

    return tf.map_fn(
        decode_one,
        image_bytes,
        fn_output_signature=tf.TensorSpec((*image_size, channels), tf.float32),
    )
