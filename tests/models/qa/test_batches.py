"""Training batches: every example once per pass, padding cut to the batch's longest
story, short batches when story lengths vary, and a new order on every pass."""

from __future__ import annotations

import numpy as np

from models.qa.batches import story_batches, story_lengths


def stories(lengths, facts=70, words=4, seed=0):
    """Word ids of stories with the given numbers of real facts, right-padded."""
    rng = np.random.default_rng(seed)
    fact_ids = np.zeros((len(lengths), facts, words), np.int32)
    for row, n in enumerate(lengths):
        fact_ids[row, :n] = rng.integers(2, 30, (n, words))
    question_ids = rng.integers(2, 30, (len(lengths), words)).astype(np.int32)
    return {"fact_ids": fact_ids, "question_ids": question_ids}


# Most stories short, a few long: the shape of bAbI's 20 tasks taken together.
LENGTHS = np.random.default_rng(1).choice([2, 6, 9, 15, 43, 70], size=1000,
                                          p=[.15, .4, .2, .15, .05, .05])


def _passes(dataset, count=2):
    return [list(dataset.as_numpy_iterator()) for _ in range(count)]


def test_each_pass_holds_every_example_once_cut_to_its_batch_and_losing_no_fact():
    x = stories(LENGTHS)
    assert np.array_equal(story_lengths(x["fact_ids"]), LENGTHS)
    dataset = story_batches(x, np.arange(len(LENGTHS)), 32, seed=0)
    first, second = _passes(dataset)
    assert len(first) == len(second) == int(dataset.cardinality())  # Keras relies on it
    widths = []
    for batches in (first, second):
        assert sorted(np.concatenate([by for _, by in batches]).tolist()) == \
            list(range(len(LENGTHS)))
    for bx, rows in first:
        assert len(rows) <= 32
        widths.append(bx["fact_ids"].shape[1])
        assert widths[-1] == LENGTHS[rows].max()
        np.testing.assert_array_equal(bx["fact_ids"], x["fact_ids"][rows, :widths[-1]])
        np.testing.assert_array_equal(bx["question_ids"], x["question_ids"][rows])
    # Random batches of 32 would nearly all hold a 70-fact story (1 - 0.9**32 = 97%).
    assert np.mean(widths) < 0.5 * LENGTHS.max()
    order = [np.concatenate([by for _, by in batches]) for batches in (first, second)]
    assert not np.array_equal(*order)


def test_a_transform_is_applied_on_every_pass_and_dict_targets_follow():
    x = stories(LENGTHS[:100])
    calls = []

    def shift_questions(rows, xs, ys):
        calls.append(len(rows))
        return {**xs, "question_ids": xs["question_ids"] + len(calls)}, ys

    y = {"answer": np.arange(100), "gates": np.arange(100) * 10}
    for count, batches in enumerate(_passes(story_batches(x, y, 16, seed=0,
                                                          transform=shift_questions)), 1):
        for bx, by in batches:
            np.testing.assert_array_equal(by["gates"], by["answer"] * 10)
            np.testing.assert_array_equal(bx["question_ids"],
                                          x["question_ids"][by["answer"]] + count)
    assert calls == [100, 100]
