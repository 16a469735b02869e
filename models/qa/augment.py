"""Entity permutation for training: in tasks whose answer is a word copied from the
story, each training example gets those words consistently renamed by a fresh random
permutation, in its facts, question and answer. The logic of the story is unchanged,
but the model can no longer memorise which story ends in which answer; it has to read
(entity anonymisation as in Hermann et al. 2015, *Teaching Machines to Read and
Comprehend*). Training only: validation and test data are never touched.
"""

from __future__ import annotations

import numpy as np


def answer_word_ids(id_vocabulary: list[str], answers: list[str]) -> np.ndarray:
    """For each answer, its word id: its index in `id_vocabulary` (the word lookup's own
    vocabulary, padding and OOV included), or -1 for answers that are not one story word."""
    index = {word: i for i, word in enumerate(id_vocabulary)}
    return np.array([index.get(answer.lower(), -1) for answer in answers])


def copied_answer_classes(fact_ids: np.ndarray, labels: np.ndarray, tasks: np.ndarray,
                          word_of_answer: np.ndarray, share: float = 0.9,
                          ) -> dict[int, np.ndarray]:
    """Per task, the word ids to permute: the answer words of tasks in which at least
    `share` of the questions answer with a word of their own story. Tasks answering
    yes/no, counts or paths, or from world knowledge, get none."""
    words = word_of_answer[labels]  # (examples,)
    copied = (words >= 0) & np.any(fact_ids == words[:, None, None], axis=(1, 2))
    classes = {}
    for task in np.unique(tasks):
        mine = tasks == task
        entities = np.unique(words[mine & copied])
        if copied[mine].mean() >= share and len(entities) > 1:
            classes[int(task)] = entities
    return classes


class EntityPermutation:
    """Renames each example's task entities at random: a transform of the training
    examples (`story_batches`), with new names drawn on every call.

    Args:
        tasks: (examples,) task of each example.
        classes: from `copied_answer_classes`.
        word_of_answer: from `answer_word_ids`.
        seed: int. Seeds the permutations.
    """

    def __init__(self, tasks: np.ndarray, classes: dict[int, np.ndarray],
                 word_of_answer: np.ndarray, seed: int):
        self.tasks, self.classes, self.word_of_answer = tasks, classes, word_of_answer
        self.rng = np.random.default_rng(seed)
        known = word_of_answer >= 0
        # At least one entry, for runs whose answers are never a word (yes/no tasks).
        self.answer_of_word = np.full(max(int(word_of_answer.max()), 0) + 1, -1)
        self.answer_of_word[word_of_answer[known]] = np.flatnonzero(known)

    def __call__(self, rows: np.ndarray, x: dict, y):
        """Inputs and targets of the examples `rows`, renamed. `y` is answer ids, or a
        dict holding them under "answer" (other targets pass through unchanged)."""
        vocab = int(max(x["fact_ids"].max(), x["question_ids"].max(),
                        len(self.answer_of_word) - 1)) + 1
        renaming = self._renaming(rows, vocab)  # (batch, vocab): old word id -> new
        facts = x["fact_ids"]
        x = {"fact_ids": np.take_along_axis(
                 renaming, facts.reshape(len(rows), -1), axis=1).reshape(facts.shape),
             "question_ids": np.take_along_axis(renaming, x["question_ids"], 1)}
        labels = y["answer"] if isinstance(y, dict) else y
        answer = self._renamed_answers(labels, renaming)
        return x, ({**y, "answer": answer} if isinstance(y, dict) else answer)

    def _renaming(self, rows: np.ndarray, vocab: int) -> np.ndarray:
        renaming = np.tile(np.arange(vocab), (len(rows), 1))
        for row, task in enumerate(self.tasks[rows]):
            entities = self.classes.get(int(task))
            if entities is not None:
                renaming[row, entities] = self.rng.permutation(entities)
        return renaming

    def _renamed_answers(self, labels: np.ndarray, renaming: np.ndarray) -> np.ndarray:
        words = self.word_of_answer[labels]
        renamed = self.answer_of_word[renaming[np.arange(len(labels)), np.maximum(words, 0)]]
        return np.where((words >= 0) & (renamed >= 0), renamed, labels)
