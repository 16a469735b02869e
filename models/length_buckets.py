"""Batches of examples of similar length, each padded only to its own longest example,
with the number of batches known in advance, so Keras knows how long an epoch is."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf


def bucket_by_length(dataset: tf.data.Dataset, lengths: np.ndarray,
                     length_of: Callable[..., tf.Tensor], boundaries: Sequence[int],
                     batch_size: int) -> tf.data.Dataset:
    """`dataset` in batches of `tf.data`'s length buckets, with its exact batch count.

    Args:
        dataset: unbatched elements.
        lengths: each element's length, as `length_of` computes it, in numpy.
        length_of: an element's length, in TF (what buckets the element).
        boundaries: upper bounds (exclusive) of the buckets' lengths.
        batch_size: int. Each bucket ends with one partial batch.
    """
    dataset = dataset.bucket_by_sequence_length(
        length_of, list(boundaries), [batch_size] * (len(boundaries) + 1))
    # Whatever the order, each bucket gives ceil(n / batch_size) batches.
    per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    batches = int(sum(-(-n // batch_size) for n in per_bucket))
    return dataset.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(
        tf.data.AUTOTUNE)
