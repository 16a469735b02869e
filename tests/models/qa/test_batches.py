"""Training batches: every example once per epoch, padding cut to the batch's longest
story, short batches when story lengths vary, and a dataset `fit` can take."""

from __future__ import annotations

import numpy as np

from models.qa.batches import StoryBatches, bucketed_batches, story_lengths


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


def test_each_epoch_holds_every_example_once_in_a_new_order():
    rng = np.random.default_rng(0)
    first, second = (bucketed_batches(LENGTHS, 32, rng) for _ in range(2))
    for epoch in (first, second):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(len(LENGTHS)))
        assert max(len(b) for b in epoch) == 32
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))


def test_batches_are_cut_to_their_longest_story_and_lose_no_fact():
    x = stories(LENGTHS)
    y = np.arange(len(LENGTHS))
    assert np.array_equal(story_lengths(x["fact_ids"]), LENGTHS)
    widths = []
    for rows, bx, by in StoryBatches(x, y, 32, seed=0):
        widths.append(bx["fact_ids"].shape[1])
        assert widths[-1] == LENGTHS[rows].max()
        np.testing.assert_array_equal(bx["fact_ids"], x["fact_ids"][rows, :widths[-1]])
        np.testing.assert_array_equal(bx["question_ids"], x["question_ids"][rows])
        np.testing.assert_array_equal(by, y[rows])
    # Random batches of 32 would nearly all hold a 70-fact story (1 - 0.9**32 = 97%).
    assert np.mean(widths) < 0.5 * LENGTHS.max()


def test_the_dataset_leaves_the_facts_axis_open_and_reshuffles_per_pass():
    x = stories(LENGTHS[:200])
    batches = StoryBatches(x, {"answer": np.arange(200)}, 16, seed=0)
    dataset = batches.dataset()
    assert dataset.element_spec[0]["fact_ids"].shape.as_list() == [None, None, 4]
    assert int(dataset.cardinality()) == len(batches) == 13
    passes = [[(bx["fact_ids"].shape[1], by["answer"].numpy().tolist())
               for bx, by in dataset] for _ in range(2)]
    assert len({width for width, _ in passes[0]}) > 1
    assert sorted(sum((a for _, a in passes[0]), [])) == list(range(200))
    assert passes[0] != passes[1]
