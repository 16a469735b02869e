"""Training batches of stories of similar length, each padded only to its longest
story. bAbI stories run from 2 to 70 kept facts (9 on average over the 20 tasks), so
batches padded to the longest story of the whole set spend most of their work on
padding; tf.data's length buckets keep batches random but short.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from models.length_buckets import bucket_by_length

# Rows, inputs and targets -> inputs and targets (entity renaming), once per epoch.
Transform = Callable[[np.ndarray, dict, object], tuple[dict, object]]

# Upper bounds (exclusive) of the story lengths, in facts, that share batches.
BUCKET_BOUNDARIES = (4, 7, 10, 13, 17, 25, 40, 60)


def story_lengths(fact_ids: np.ndarray) -> np.ndarray:
    """Real facts per story (padding facts hold only word id 0, and come last)."""
    return np.any(fact_ids != 0, axis=-1).sum(axis=-1)


def story_batches(x: dict, y, batch_size: int, seed: int | None = None,
                  transform: Transform | None = None) -> tf.data.Dataset:
    """`(x, y)` batches for `Model.fit`, stories of similar length together, the facts
    axis cut to the longest story of each batch.

    Args:
        x: dict of `fact_ids` (examples, facts, words) and `question_ids`
            (examples, words).
        y: targets (examples, ...), or a dict of them.
        batch_size: int.
        seed: int, to shuffle the examples anew on every pass; None: keep their order.
        transform: applied to all examples at the start of every pass, as
            `transform(rows, x, y)` (e.g. `EntityPermutation`); None: none.
    """
    lengths = np.maximum(story_lengths(x["fact_ids"]), 1)  # at least one fact is kept
    rows = np.arange(len(lengths))

    def whole_set():  # once per pass, so the transform draws anew
        yield (*(transform(rows, x, y) if transform else (x, y)), lengths)

    def spec(value: np.ndarray) -> tf.TensorSpec:
        return tf.TensorSpec((None, *value.shape[1:]), tf.as_dtype(value.dtype))

    signature = ({k: spec(v) for k, v in x.items()},
                 {k: spec(v) for k, v in y.items()} if isinstance(y, dict) else spec(y),
                 spec(lengths))
    dataset = tf.data.Dataset.from_generator(whole_set, output_signature=signature).unbatch()
    if seed is not None:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda x, y, n: ({**x, "fact_ids": x["fact_ids"][:n]}, y))
    return bucket_by_length(dataset, lengths, lambda x, y: tf.shape(x["fact_ids"])[0],
                            BUCKET_BOUNDARIES, batch_size)
