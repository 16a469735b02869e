"""Entity permutation for training: in tasks whose answer is a word copied from the
story, each training example gets those words consistently renamed by a fresh random
permutation, in its facts, question and answer. The logic of the story is unchanged,
but the model can no longer memorise which story ends in which answer; it has to read
(entity anonymisation as in Hermann et al. 2015, *Teaching Machines to Read and
Comprehend*). Training only: validation and test data are never touched.
"""

from __future__ import annotations

import keras
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


class PermutedEntities(keras.utils.PyDataset):
    """Shuffled training batches with each example's task entities renamed at random.

    Args:
        x: dict of `fact_ids` (examples, facts, words) and `question_ids`
            (examples, words).
        y: answer ids (examples,), or a dict holding them under "answer" (other
            targets, such as gate targets, pass through unchanged).
        tasks: (examples,) task of each example.
        classes: from `copied_answer_classes`.
        word_of_answer: from `answer_word_ids`.
        batch_size: int.
        seed: int. Seeds the shuffling and the permutations.
    """

    def __init__(self, x: dict, y, tasks: np.ndarray, classes: dict[int, np.ndarray],
                 word_of_answer: np.ndarray, batch_size: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.tasks, self.classes = x, y, tasks, classes
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        vocab = int(max(x["fact_ids"].max(), x["question_ids"].max(), word_of_answer.max())) + 1
        self.answer_of_word = np.full(vocab, -1)
        known = word_of_answer >= 0
        self.answer_of_word[word_of_answer[known]] = np.flatnonzero(known)
        self.word_of_answer = word_of_answer
        self.order = self.rng.permutation(len(tasks))

    def __len__(self) -> int:
        return -(-len(self.tasks) // self.batch_size)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.tasks))

    def rows(self, index: int) -> np.ndarray:
        """The examples in batch `index` of this epoch."""
        return self.order[index * self.batch_size:(index + 1) * self.batch_size]

    def __getitem__(self, index: int):
        rows = self.rows(index)
        renaming = self._renaming(rows)  # (batch, vocab): old word id -> new
        facts = self.x["fact_ids"][rows]
        x = {"fact_ids": np.take_along_axis(
                 renaming, facts.reshape(len(rows), -1), axis=1).reshape(facts.shape),
             "question_ids": np.take_along_axis(renaming, self.x["question_ids"][rows], 1)}
        labels = self.y["answer"] if isinstance(self.y, dict) else self.y
        answer = self._renamed_answers(labels[rows], renaming)
        if not isinstance(self.y, dict):
            return x, answer
        return x, {**{k: v[rows] for k, v in self.y.items()}, "answer": answer}

    def _renaming(self, rows: np.ndarray) -> np.ndarray:
        renaming = np.tile(np.arange(len(self.answer_of_word)), (len(rows), 1))
        for row, task in enumerate(self.tasks[rows]):
            entities = self.classes.get(int(task))
            if entities is not None:
                renaming[row, entities] = self.rng.permutation(entities)
        return renaming

    def _renamed_answers(self, labels: np.ndarray, renaming: np.ndarray) -> np.ndarray:
        words = self.word_of_answer[labels]
        renamed = self.answer_of_word[renaming[np.arange(len(labels)), np.maximum(words, 0)]]
        return np.where((words >= 0) & (renamed >= 0), renamed, labels)
