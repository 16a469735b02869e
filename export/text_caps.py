"""Cutting request texts to a byte budget in the serving graph, before any tokenising.

In-graph normalisation costs tens of bytes of memory per input byte, and truncation to
the model's length comes after it: cutting each text first makes a request's cost and
its answer's size follow the budget, not what was sent. Core TensorFlow ops only.
"""

from __future__ import annotations

import tensorflow as tf

# Bytes of text allowed per token (word) the model reads: German words and their space
# take about 7 bytes, so only what the model would have truncated anyway is cut.
BYTES_PER_TOKEN = 32
# Characters a word (a run without whitespace) keeps: the longest words of a vocabulary
# are shorter, and a word beyond it is unknown to the model whatever its length.
MAX_WORD_CHARS = 64


def first_bytes(text: tf.Tensor, limit: int) -> tf.Tensor:
    """Each string cut to its first `limit` bytes at most, at a UTF-8 character
    boundary (a character the limit splits is left out)."""
    head = tf.strings.substr(text, 0, limit)
    # the first byte left out, if any: a UTF-8 continuation byte (10xxxxxx, no
    # character of its own) there means the last character kept is incomplete
    length = tf.strings.length(text)
    after = tf.strings.substr(text, tf.minimum(length, limit), tf.ones_like(length))
    split = (tf.strings.length(after) == 1) & (tf.strings.length(after, unit="UTF8_CHAR") == 0)
    chars = tf.strings.length(head, unit="UTF8_CHAR") - tf.cast(split, tf.int32)
    return tf.strings.substr(head, tf.zeros_like(chars), tf.maximum(chars, 0),
                             unit="UTF8_CHAR")


def last_lines(text: tf.Tensor, limit: int) -> tf.Tensor:
    """Each string of lines cut to the lines that start within its last `limit` bytes
    (a line cut at its start is left out, so no fact is read from its middle)."""
    length = tf.strings.length(text)
    start = tf.maximum(length - limit - 1, 0)  # one byte more: the newline before
    tail = tf.strings.substr(text, start, length - start)  # (batch,), <= limit + 1 bytes
    rest = tf.strings.reduce_join(tf.strings.split(tail, "\n")[:, 1:], axis=-1,
                                  separator="\n")
    return tf.where(length > limit, rest, tail)


def short_words(text: tf.Tensor, chars: int = MAX_WORD_CHARS) -> tf.Tensor:
    """Each run of non-whitespace characters cut to `chars` characters, so no token,
    nor a copy of it in an answer, is longer (invalid bytes first become U+FFFD, as
    the normalisers make them, so they cannot hide a longer word)."""
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8")
    return tf.strings.regex_replace(text, rf"(\S{{{chars}}})\S+", r"\1")
