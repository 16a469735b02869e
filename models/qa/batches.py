"""Training batches of stories of similar length, each padded only to its longest
story. bAbI stories run from 2 to 70 kept facts (9 on average over the 20 tasks), so
batches padded to the longest story of the whole set spend most of their work on
padding; sorting within pools of batches keeps batches random but short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

# Rows, inputs and targets of one batch -> inputs and targets (entity renaming).
Transform = Callable[[np.ndarray, dict, object], tuple[dict, object]]


def story_lengths(fact_ids: np.ndarray) -> np.ndarray:
    """Real facts per story (padding facts hold only word id 0, and come last)."""
    return np.any(fact_ids != 0, axis=-1).sum(axis=-1)


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                     pool: int = 20) -> list[np.ndarray]:
    """Row indices of each batch: rows in a random order, sorted by length within
    pools of `pool` batches, cut into batches, and the batches shuffled."""
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), pool * batch_size):
        chunk = order[start:start + pool * batch_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class StoryBatches:
    """An epoch of batches per iteration, freshly shuffled each time, facts cut to the
    longest story of the batch.

    Args:
        x: dict of `fact_ids` (examples, facts, words) and `question_ids`
            (examples, words).
        y: targets (examples, ...), or a dict of them.
        batch_size: int.
        seed: int. Seeds the order of every epoch.
        transform: applied to each batch as `transform(rows, x, y)` (e.g.
            `EntityPermutation`); None: batches as they are.
    """

    def __init__(self, x: dict, y, batch_size: int, seed: int,
                 transform: Transform | None = None):
        self.x, self.y, self.batch_size, self.transform = x, y, batch_size, transform
        self.lengths = story_lengths(x["fact_ids"])
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict, object]]:
        """`(rows, x, y)` for each batch of a new epoch."""
        for rows in bucketed_batches(self.lengths, self.batch_size, self.rng):
            facts = max(1, int(self.lengths[rows].max()))
            x = {"fact_ids": self.x["fact_ids"][rows, :facts],
                 "question_ids": self.x["question_ids"][rows]}
            y = ({k: v[rows] for k, v in self.y.items()} if isinstance(self.y, dict)
                 else self.y[rows])
            yield (rows, *self.transform(rows, x, y)) if self.transform else (rows, x, y)

    def dataset(self) -> tf.data.Dataset:
        """The batches as a `tf.data.Dataset` for `Model.fit`: each pass over it is a
        new epoch; the facts axis is left unknown."""
        def spec(value: np.ndarray, unknown: tuple[int, ...] = (0,)) -> tf.TensorSpec:
            shape = [None if axis in unknown else n for axis, n in enumerate(value.shape)]
            return tf.TensorSpec(shape, tf.as_dtype(value.dtype))

        x_spec = {"fact_ids": spec(self.x["fact_ids"], (0, 1)),
                  "question_ids": spec(self.x["question_ids"])}
        y_spec = ({k: spec(v) for k, v in self.y.items()} if isinstance(self.y, dict)
                  else spec(self.y))
        batches = tf.data.Dataset.from_generator(
            lambda: ((x, y) for _, x, y in self), output_signature=(x_spec, y_spec))
        return batches.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
