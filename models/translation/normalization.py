"""Unicode NFKC, lower case and punctuation splitting with core TensorFlow ops only.

Core TensorFlow has no Unicode normalisation op. tensorflow-text has one (and the stock
model server links its ops), but it pins the project to one exact TensorFlow release and
the embedded server would have to import it before loading. NFKC is applied as two
lookup tables built from Python's `unicodedata` when the layer is made: every character
whose NFKC form differs (ligatures, full-width forms, superscripts, ...), and every Latin
letter + combining mark that composes into one character. The same layer runs in training
and inside the exported graph, so both see identical text.
"""

from __future__ import annotations

import unicodedata

import keras
import tensorflow as tf

_PUNCTUATION = r"""([.,!?;:"()\[\]…¿¡«»])"""
_QUOTES = {"’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-"}


def _compatibility_table() -> tuple[list[str], list[str]]:
    keys, values = [], []
    for code in range(0x30000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        mapped = _QUOTES.get(char) or unicodedata.normalize("NFKC", char)
        if mapped != char:
            keys.append(char)
            values.append(mapped)
    return keys, values


def _composition_table() -> tuple[list[str], list[str]]:
    keys, values = [], []
    for base in range(0x41, 0x250):
        for mark in range(0x300, 0x370):
            pair = chr(base) + chr(mark)
            composed = unicodedata.normalize("NFC", pair)
            if len(composed) == 1:
                keys.append(pair)
                values.append(composed)
    return keys, values


class _Table(keras.layers.Layer):
    """Maps strings found among `keys` to their `values`; others to ""."""

    def __init__(self, keys: list[str], values: list[str], **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.lookup = keras.layers.StringLookup(vocabulary=keys, num_oov_indices=1,
                                                mask_token=None, output_mode="int")
        self.values = tf.constant(["", *values])

    def call(self, strings):
        return tf.gather(self.values, self.lookup(strings))


@keras.saving.register_keras_serializable(package="tfstack")
class TextNormalizer(keras.layers.Layer):
    """Strings in, normalised strings out: invalid UTF-8 replaced by U+FFFD, NFKC,
    typographic quotes and dashes made plain, lower case, punctuation split off,
    whitespace collapsed. Words keep inner apostrophes and hyphens."""

    def __init__(self, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.compatibility = _Table(*_compatibility_table(), name="compatibility")
        self.composition = _Table(*_composition_table(), name="composition")

    def call(self, text):
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8")
        chars = tf.strings.unicode_split(text, "UTF-8")  # (batch, chars) ragged
        flat, rows = chars.flat_values, chars.value_rowids()
        mapped = self.compatibility(flat)
        flat = tf.where(mapped != "", mapped, flat)
        flat = self._compose(flat, rows)
        text = tf.strings.reduce_join(chars.with_flat_values(flat), axis=1)
        text = tf.strings.lower(text, encoding="utf-8")
        text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 ")
        text = tf.strings.regex_replace(text, r"(^|\s)'(\S)", r"\1' \2")  # quotes, not
        text = tf.strings.regex_replace(text, r"(\S)'(\s|$)", r"\1 '\2")  # apostrophes
        return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))

    def _compose(self, flat, rows):
        """Joins a letter and the combining mark after it into one character."""
        following = tf.concat([flat[1:], [""]], 0)
        same_row = tf.concat([rows[1:] == rows[:-1], [False]], 0)
        composed = self.composition(flat + following)
        joined = same_row & (composed != "")
        absorbed = tf.concat([[False], joined[:-1]], 0)
        return tf.where(joined, composed, tf.where(absorbed, "", flat))
