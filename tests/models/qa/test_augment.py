"""Entity permutation of bAbI training examples: which words, and consistent renaming."""

from __future__ import annotations

import numpy as np
import pytest

from models.qa.augment import EntityPermutation, answer_word_ids, copied_answer_classes
from models.qa.babi import load_tasks
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


def _permuted(x, y, tasks, classes, word_of_answer):
    rows = np.arange(len(tasks))
    return rows, EntityPermutation(tasks, classes, word_of_answer, seed=0)(rows, x, y)


def test_each_example_is_renamed_by_one_permutation_of_its_entities():
    x, y, tasks, words, answers = _encoded([2])
    word_of_answer = answer_word_ids(words, answers)
    classes = copied_answer_classes(x["fact_ids"], y, tasks, word_of_answer)
    entities = set(classes[2].tolist())
    rows, (new_x, new_y) = _permuted(x, y, tasks, classes, word_of_answer)
    moved = 0
    for row in rows:
        old = np.concatenate([x["fact_ids"][row].ravel(), x["question_ids"][row],
                              [word_of_answer[y[row]]]])
        new = np.concatenate([new_x["fact_ids"][row].ravel(), new_x["question_ids"][row],
                              [word_of_answer[new_y[row]]]])
        pairs = set(zip(old.tolist(), new.tolist(), strict=True))
        renaming = dict(pairs)
        assert len(pairs) == len(renaming)  # a function
        assert len(set(renaming.values())) == len(renaming)  # one-to-one
        for before, after in renaming.items():
            assert after == before or {before, after} <= entities
        moved += renaming[word_of_answer[y[row]]] != word_of_answer[y[row]]
    assert moved > 0.7 * len(y)  # with 6 locations, 5 of 6 answers change


def test_tasks_without_word_answers_pass_through_unchanged():
    x, y, tasks, words, answers = _encoded([18])  # yes/no answers only
    word_of_answer = answer_word_ids(words, answers)
    assert word_of_answer.max() == -1
    _, (new_x, new_y) = _permuted(x, y, tasks, {}, word_of_answer)
    for key in x:
        np.testing.assert_array_equal(new_x[key], x[key])
    np.testing.assert_array_equal(new_y, y)


def test_each_call_draws_new_names_and_other_targets_stay():
    x, y, tasks, words, answers = _encoded([2])
    word_of_answer = answer_word_ids(words, answers)
    classes = copied_answer_classes(x["fact_ids"], y, tasks, word_of_answer)
    gates = np.arange(len(y))
    permutation = EntityPermutation(tasks, classes, word_of_answer, seed=0)
    rows = np.arange(len(y))
    _, first = permutation(rows, x, {"answer": y, "gates": gates})
    _, second = permutation(rows, x, {"answer": y, "gates": gates})
    np.testing.assert_array_equal(first["gates"], gates)
    assert np.mean(second["answer"] != first["answer"]) > 0.5
