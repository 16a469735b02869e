"""WordPiece subwords (Wu et al. 2016): vocabularies learned by Hugging Face
`tokenizers`, words split in the graph with core TensorFlow ops only.

Rare and unseen words (German compounds, inflections) become known pieces instead of
`[UNK]`. tensorflow-text's WordPiece ops are not core ops, so the stock model server
may lack them; the split here is the same greedy longest-match-first rule, written
with `tf.strings` and a lookup, and gives exactly the pieces `tokenizers` gives.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import tensorflow as tf
import tokenizers

CONTINUATION = "##"  # marks a piece that continues a word


def learn_wordpieces(sentences: Iterable[list[str]], size: int, unknown: str) -> list[str]:
    """A WordPiece vocabulary of about `size` pieces (pieces inside a word start with
    "##") learned from tokenised sentences; every character seen is one of them."""
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token=unknown))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    trainer = tokenizers.trainers.WordPieceTrainer(
        vocab_size=size + 1, special_tokens=[unknown], show_progress=False,
        continuing_subword_prefix=CONTINUATION)
    tokenizer.train_from_iterator((" ".join(words) for words in sentences), trainer)
    ranked = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return [piece for piece, _ in ranked if piece != unknown]


class WordPieceSplitter(keras.layers.Layer):
    """Words in, their pieces out: from each position the longest piece of the
    vocabulary. A word with no such split, or longer than `max_word_chars`
    characters, comes back whole: it is not in the vocabulary, so it looks up as the
    unknown token (as `tokenizers` gives it) yet still labels its position.

    Call: `words [N]` -> ragged `[N, pieces]` strings.
    """

    def __init__(self, pieces: list[str], max_word_chars: int = 100, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.max_word_chars = max_word_chars
        self.lookup = keras.layers.StringLookup(vocabulary=pieces or [CONTINUATION],
                                                num_oov_indices=1, mask_token=None)
        self.max_piece_chars = max([len(p.removeprefix(CONTINUATION)) for p in pieces] or [1])

    def call(self, words):
        unique, index = tf.unique(words)  # sentences repeat words: split each once
        pieces, kept = self._split(unique)
        return tf.gather(tf.ragged.boolean_mask(pieces, kept), index)

    def _split(self, words):
        """`(pieces [N, steps], kept [N, steps])`: one greedy piece per word per step."""
        length = tf.strings.length(words, unit="UTF8_CHAR")
        sizes = tf.range(1, self.max_piece_chars + 1)[None, :]  # (1, K)
        texts = tf.broadcast_to(words[:, None], [tf.size(words), self.max_piece_chars])

        def step(position, pieces, kept, failed):
            active = (position < length) & ~failed
            fits = (position[:, None] + sizes <= length[:, None]) & active[:, None]
            start = tf.where(fits, position[:, None], 0)
            text = tf.strings.substr(texts, start, tf.where(fits, sizes, 0), unit="UTF8_CHAR")
            text = tf.where(start > 0, CONTINUATION + text, text)
            known = fits & (self.lookup(text) > 0)  # (N, K)
            best = tf.reduce_max(tf.where(known, sizes, 0), axis=-1)  # chars; 0: none
            piece = tf.gather(text, tf.maximum(best - 1, 0), batch_dims=1)
            return (position + best, pieces.write(pieces.size(), piece),
                    kept.write(kept.size(), active & (best > 0)), failed | (active & (best == 0)))

        too_long = length > self.max_word_chars  # failed from the start
        # Step 0 holds the whole word, kept for the words that fail.
        pieces = tf.TensorArray(tf.string, size=0, dynamic_size=True, element_shape=[None])
        kept = tf.TensorArray(tf.bool, size=0, dynamic_size=True, element_shape=[None])
        pieces = pieces.write(0, words)
        kept = kept.write(0, too_long)
        _, pieces, kept, failed = tf.while_loop(
            lambda position, pieces, kept, failed: tf.reduce_any((position < length) & ~failed),
            step, [tf.zeros_like(length), pieces, kept, too_long])
        kept = tf.concat([failed[None], kept.stack()[1:] & ~failed[None]], 0)
        return tf.transpose(pieces.stack()), tf.transpose(kept)
