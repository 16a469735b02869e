"""Sentences in, translations with their scores and attention out: the decoding the
exported signatures run, usable in-process as well."""

from __future__ import annotations

import keras
import tensorflow as tf

from models.translation.decoding import Decoded, beam_search, greedy_search
from models.translation.preprocessor import TranslationPreprocessor


class Translator:
    """The trained network with its tokenizers, decoding greedily or by beam search.

    Args:
        model: keras.Model. From `build_seq2seq` (layers `encoder`, `decoder`).
        preprocessor: TranslationPreprocessor. The vocabularies it was trained with.
        beam_width: int. Hypotheses kept per sentence by `translate`.
        alpha: float. Length normalisation exponent of the score.

    Example:
        >>> Translator(model, preprocessor).translate(tf.constant(["Wo ist er?"]))
    """

    def __init__(self, model: keras.Model, preprocessor: TranslationPreprocessor,
                 beam_width: int = 4, alpha: float = 1.0):
        self.model, self.preprocessor = model, preprocessor
        self.beam_width, self.alpha = beam_width, alpha

    def decode(self, source_ids: tf.Tensor, greedy: bool = False) -> Decoded:
        """Best target ids for `source_ids [batch, positions]`."""
        encoder, decoder = self.model.get_layer("encoder"), self.model.get_layer("decoder")
        settings = dict(bos_id=self.preprocessor.bos_id, eos_id=self.preprocessor.eos_id,
                        max_length=self.preprocessor.max_target_length, alpha=self.alpha)
        if greedy:
            return greedy_search(encoder, decoder, source_ids, **settings)
        return beam_search(encoder, decoder, source_ids, width=self.beam_width, **settings)

    def translate(self, text: tf.Tensor, greedy: bool = False) -> dict[str, tf.Tensor]:
        """`text [batch]` -> `translation [batch]`, `score [batch]`, `attention [batch,
        target words, source positions]`, `source_tokens`, `target_tokens`."""
        count = tf.shape(text)[0]
        # Keras RNNs reject an empty batch: decode one empty sentence and return none.
        text = tf.cond(count > 0, lambda: text, lambda: tf.constant([""]))
        source_ids, source_tokens = self.preprocessor(text)
        decoded = self.decode(tf.cast(source_ids, tf.int32), greedy)
        translation, target_tokens = self.preprocessor.detokenize(
            decoded.ids, decoded.lengths, source_tokens, decoded.attention)
        outputs = {"translation": translation, "score": decoded.scores,
                   "attention": decoded.attention, "source_tokens": source_tokens,
                   "target_tokens": target_tokens}
        return {key: value[:count] for key, value in outputs.items()}
