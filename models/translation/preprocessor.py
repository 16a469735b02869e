"""Sentences to token ids and back, in the graph: the same ops in training and serving.

Text is normalised by `TextNormalizer` and split on spaces into words, and with
`subwords` each word into WordPiece pieces; tokens outside the training vocabulary map
to the OOV token `[UNK]`. Source sentences keep their first `max_source_length - 1`
tokens and end with `</s>`, so even an empty string has one position to attend to.
Ids: 0 padding, 1 `[UNK]`, then the special tokens, then the vocabulary.
"""

from __future__ import annotations

import collections

import keras
import tensorflow as tf

from models.translation.normalization import TextNormalizer
from models.translation.wordpiece import CONTINUATION, WordPieceSplitter

PAD, UNK, BOS, EOS = "", "[UNK]", "<s>", "</s>"
SOURCE_SPECIALS, TARGET_SPECIALS = (EOS,), (BOS, EOS)


def build_vocabulary(tokenized: list[list[str]], max_size: int | None, min_count: int = 1,
                     ) -> list[str]:
    """The `max_size` (None: all) most frequent words (ties alphabetical) seen
    `min_count` times."""
    counts = collections.Counter(word for words in tokenized for word in words)
    ranked = sorted((w for w, c in counts.items() if c >= min_count),
                    key=lambda w: (-counts[w], w))
    return ranked[:max_size]


@keras.saving.register_keras_serializable(package="tfstack")
class TranslationPreprocessor(keras.layers.Layer):
    """Both languages' tokenizers, vocabularies and the detokenizer.

    Args:
        source_words: list of str. Source vocabulary (words, or pieces with
            `subwords`), without special tokens.
        target_words: list of str. Target vocabulary, likewise.
        max_source_length: int. Source positions kept, `</s>` included; longer
            sentences are truncated.
        max_target_length: int. Most target tokens decoded per sentence.
        subwords: bool. Tokens are WordPiece pieces of the words (`wordpiece.py`).
    """

    def __init__(self, source_words: list[str], target_words: list[str],
                 max_source_length: int = 50, max_target_length: int = 60,
                 subwords: bool = False, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.source_words, self.target_words = list(source_words), list(target_words)
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.subwords = subwords
        self.normalizer = TextNormalizer(name="normalizer")
        self.splitters = ({side: WordPieceSplitter(pieces, name=f"{side}_pieces")
                           for side, pieces in (("source", self.source_words),
                                                ("target", self.target_words))}
                          if subwords else {})
        self.source_lookup = self._lookup([*SOURCE_SPECIALS, *self.source_words], "source")
        self.target_lookup = self._lookup([*TARGET_SPECIALS, *self.target_words], "target")
        self.target_vocabulary = tf.constant(self.target_lookup.get_vocabulary())

    @staticmethod
    def _lookup(vocabulary: list[str], name: str) -> keras.layers.StringLookup:
        return keras.layers.StringLookup(vocabulary=vocabulary, mask_token=PAD,
                                         oov_token=UNK, num_oov_indices=1, name=name)

    @property
    def source_size(self) -> int:
        return len(self.source_words) + len(SOURCE_SPECIALS) + 2

    @property
    def target_size(self) -> int:
        return len(self.target_words) + len(TARGET_SPECIALS) + 2

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def bos_id(self) -> int:
        return 2

    @property
    def eos_id(self) -> int:
        return 3

    def build(self, input_shape=None):
        self.built = True  # tables only, nothing to build

    def words(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Normalised words, `(batch, words)` ragged."""
        return tf.strings.split(self.normalizer(text))

    def tokenize(self, text: tf.Tensor, side: str, limit: int) -> tf.RaggedTensor:
        """The first `limit` words, or with `subwords` pieces of the words, of the
        "source" or "target" language: `(batch, tokens)` ragged."""
        words = self.words(text)[:, :limit]  # a word gives at least one piece
        if not self.subwords:
            return words
        pieces = self.splitters[side](words.flat_values)  # (words, pieces)
        return words.with_flat_values(pieces).merge_dims(1, 2)[:, :limit]

    def call(self, text: tf.Tensor):
        """`text [batch]` -> `(source_ids [batch, positions], source_tokens [batch,
        positions])`, `</s>` last, padded with 0 and ""."""
        words = self.tokenize(text, "source", self.max_source_length - 1)
        tokens = tf.concat([words, tf.fill([tf.shape(text)[0], 1], EOS)], axis=1)
        return self.source_lookup(tokens).to_tensor(0), tokens.to_tensor(PAD)

    def target_ids(self, text: tf.Tensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Teacher forcing: `(<s> w1 .. wn, w1 .. wn </s>)` ids, ragged."""
        ids = self.target_lookup(self.tokenize(text, "target", self.max_target_length))
        batch = tf.shape(text)[0]
        bos = tf.fill([batch, 1], tf.constant(self.bos_id, ids.dtype))
        eos = tf.fill([batch, 1], tf.constant(self.eos_id, ids.dtype))
        return tf.concat([bos, ids], axis=1), tf.concat([ids, eos], axis=1)

    def detokenize(self, ids: tf.Tensor, lengths: tf.Tensor,
                   source_tokens: tf.Tensor | None = None,
                   attention: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """`ids [batch, steps]` and token counts -> `(sentences [batch], tokens [batch,
        steps])`: tokens joined (pieces into their words), no space before closing
        punctuation, first letter upper-cased. Given the source tokens and the
        attention, each `[UNK]` becomes the source word it attended to most (Luong et
        al. 2015; with `subwords`, the whole word of that piece): names and numbers
        outside the vocabulary are copied through."""
        tokens = tf.gather(self.target_vocabulary, ids)
        if attention is not None:
            tokens = self._replace_unknown(ids, tokens, source_tokens, attention)
        kept = tf.sequence_mask(lengths, tf.shape(ids)[1])
        tokens = tf.where(kept, tokens, PAD)
        text = tf.strings.reduce_join(tf.ragged.boolean_mask(tokens, kept), axis=1,
                                      separator=" ")
        if self.subwords:
            text = tf.strings.regex_replace(text, "(^| )" + CONTINUATION, "")
        text = tf.strings.regex_replace(text, r" ([.,!?;:…)\]])", r"\1")
        text = tf.strings.regex_replace(text, r"([(\[¿¡]) ", r"\1")
        text = text + " "  # so that "" has a first character too
        length = tf.strings.length(text, unit="UTF8_CHAR")
        first = tf.strings.upper(tf.strings.substr(text, 0, 1, unit="UTF8_CHAR"),
                                 encoding="utf-8")
        rest = tf.strings.substr(text, tf.ones_like(length), length, unit="UTF8_CHAR")
        return tf.strings.strip(first + rest), tokens

    def _replace_unknown(self, ids, tokens, source_tokens, attention):
        peak = tf.argmax(attention, -1, output_type=tf.int32)  # (batch, steps)
        if self.subwords:
            source_tokens, peak = self._whole_words(source_tokens, peak)
        aligned = tf.gather(source_tokens, peak, batch_dims=1)  # (batch, steps)
        copy = (tf.equal(ids, self.unk_id) & (tf.reduce_max(attention, -1) > 0)  # baseline: none
                & tf.not_equal(aligned, EOS) & tf.not_equal(aligned, PAD))
        return tf.where(copy, aligned, tokens)

    @staticmethod
    def _whole_words(pieces, positions):
        """`(words [batch, pieces], word_positions)`: the source pieces joined into
        their words, and the word each of `positions` falls in, so a copy stands alone
        rather than continuing the previous target word."""
        batch, count = tf.shape(pieces)[0], tf.shape(pieces)[1]
        starts = ~tf.strings.regex_full_match(pieces, CONTINUATION + ".*")
        word = tf.maximum(tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, 0)
        segments = word + tf.range(batch)[:, None] * count  # one segment per word
        joined = tf.strings.unsorted_segment_join(
            tf.strings.regex_replace(pieces, "^" + CONTINUATION, ""), segments, batch * count)
        return (tf.reshape(joined, [batch, count]),
                tf.gather(word, positions, batch_dims=1))

    def get_config(self) -> dict:
        return {**super().get_config(), "source_words": self.source_words,
                "target_words": self.target_words,
                "max_source_length": self.max_source_length,
                "max_target_length": self.max_target_length, "subwords": self.subwords}
