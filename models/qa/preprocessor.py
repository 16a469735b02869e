"""Tokenizing stories and questions in the graph: the same ops in training and serving.

Lower-case, invalid UTF-8 replaced, punctuation split off, whitespace tokens; words outside the
training vocabulary map to the OOV id (1), padding is 0. A story is one fact per
line; only its last `max_facts` facts are kept (the most recent ones matter).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from models.qa.babi import Example


def normalize(text: tf.Tensor) -> tf.Tensor:
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8")  # bad bytes -> U+FFFD
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"([?.!,;:])", r" \1 ")
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def vocabulary(examples: list[Example]) -> tuple[list[str], list[str]]:
    """Words of facts and questions, and answers, from training examples only."""
    words, answers = set(), set()
    for example in examples:
        for text in (*example.facts, example.question):
            words.update(normalize(tf.constant(text)).numpy().decode().split())
        answers.add(example.answer_text)
    return sorted(words), sorted(answers)


@keras.saving.register_keras_serializable(package="tfstack")
class BabiPreprocessor(keras.layers.Layer):
    """Strings in, padded word ids out.

    Args:
        words: list of str. The word vocabulary (without padding and OOV).
        max_facts: int. Facts kept per story (the last ones).
        max_words: int. Words kept per fact and per question.

    Call: `(story [batch], question [batch])` strings ->
    `(fact_ids [batch, facts, max_words], question_ids [batch, max_words],
    facts [batch, facts] strings, "" for padding)`, where `facts` is the batch's
    longest story (at least 1, at most `max_facts`): short stories cost little.
    """

    def __init__(self, words: list[str], max_facts: int = 20, max_words: int = 12, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.words, self.max_facts, self.max_words = list(words), max_facts, max_words
        self.lookup = keras.layers.StringLookup(vocabulary=self.words, mask_token="",
                                                num_oov_indices=1, name="word_ids")

    def _ids(self, text: tf.Tensor) -> tf.Tensor:
        tokens = tf.strings.split(normalize(text))  # ragged (..., words)
        return self.lookup(tokens)

    def call(self, story: tf.Tensor, question: tf.Tensor):
        lines = tf.strings.split(tf.strings.strip(story), "\n")  # (batch, lines) ragged
        lines = tf.ragged.boolean_mask(lines, tf.strings.length(tf.strings.strip(lines)) > 0)
        facts = lines[:, -self.max_facts:]  # the most recent facts
        width = tf.maximum(facts.bounding_shape(axis=1), 1)  # the batch's longest story
        fact_text = facts.to_tensor("", shape=tf.stack([-1, width]))
        fact_ids = self._ids(fact_text).to_tensor(0, shape=tf.stack([-1, width,
                                                                     self.max_words]))
        question_ids = self._ids(question).to_tensor(0, shape=[None, self.max_words])
        return fact_ids, question_ids, tf.strings.strip(fact_text)

    def get_config(self) -> dict:
        return {**super().get_config(), "words": self.words, "max_facts": self.max_facts,
                "max_words": self.max_words}
