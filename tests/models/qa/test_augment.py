"""Entity permutation of bAbI training examples: which words, and consistent renaming."""

from __future__ import annotations

import numpy as np
import pytest

from models.qa.augment import EntityPermutation, answer_word_ids, copied_answer_classes
from models.qa.babi import load_tasks
from models.qa.batches import StoryBatches
from models.qa.preprocessor import BabiPreprocessor, vocabulary
from models.qa.trainer import encode

pytestmark = pytest.mark.babi
LOCATIONS = ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"]


def _encoded(tasks: list[int]):
    examples = load_tasks(tasks, "train")
    words, answers = vocabulary(examples)
    preprocessor = BabiPreprocessor(words, 70, 16)
    x, y = encode(preprocessor, examples, answers)
    return x, y, np.array([e.task for e in examples]), preprocessor.lookup.get_vocabulary(), answers


def test_only_tasks_answering_with_a_story_word_are_permuted():
    # Task 2 answers a location named in the story; task 6 answers yes/no; task 20
    # answers "Where will Yann go?" from world knowledge (hungry -> kitchen).
    x, y, tasks, words, answers = _encoded([2, 6, 20])
    classes = copied_answer_classes(x["fact_ids"], y, tasks, answer_word_ids(words, answers))
    assert {t: [words[i] for i in c] for t, c in classes.items()} == {2: LOCATIONS}


def test_each_example_is_renamed_by_one_permutation_of_its_entities():
    x, y, tasks, words, answers = _encoded([2])
    word_of_answer = answer_word_ids(words, answers)
    classes = copied_answer_classes(x["fact_ids"], y, tasks, word_of_answer)
    entities = set(classes[2].tolist())
    permuted = StoryBatches(x, y, 64, seed=0,
                            transform=EntityPermutation(tasks, classes, word_of_answer, 0))
    moved = 0
    for rows, new_x, new_y in permuted:
        for r, row in enumerate(rows):
            facts = new_x["fact_ids"].shape[1]
            old = np.concatenate([x["fact_ids"][row, :facts].ravel(), x["question_ids"][row],
                                  [word_of_answer[y[row]]]])
            new = np.concatenate([new_x["fact_ids"][r].ravel(), new_x["question_ids"][r],
                                  [word_of_answer[new_y[r]]]])
            pairs = set(zip(old.tolist(), new.tolist(), strict=True))
            renaming = dict(pairs)
            assert len(pairs) == len(renaming)  # a function
            assert len(set(renaming.values())) == len(renaming)  # one-to-one
            for before, after in renaming.items():
                assert after == before or {before, after} <= entities
            moved += renaming[word_of_answer[y[row]]] != word_of_answer[y[row]]
    assert moved > 0.7 * len(y)  # with 6 locations, 5 of 6 answers change


def test_each_epoch_draws_new_names_and_other_targets_follow_their_rows():
    x, y, tasks, words, answers = _encoded([2])
    word_of_answer = answer_word_ids(words, answers)
    classes = copied_answer_classes(x["fact_ids"], y, tasks, word_of_answer)
    gates = np.arange(len(y))
    permuted = StoryBatches(x, {"answer": y, "gates": gates}, len(y), seed=0,
                            transform=EntityPermutation(tasks, classes, word_of_answer, 0))
    rows, _, first = next(iter(permuted))
    np.testing.assert_array_equal(first["gates"], gates[rows])
    rows_again, _, second = next(iter(permuted))
    by_row = dict(zip(rows_again.tolist(), second["answer"].tolist(), strict=True))
    again = np.array([by_row[r] for r in rows.tolist()])
    assert np.mean(again != first["answer"]) > 0.5
