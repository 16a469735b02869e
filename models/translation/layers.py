"""The encoder and the attention decoder of Bahdanau, Cho & Bengio (2015).

The encoder is a bidirectional GRU (or LSTM) over source embeddings. The decoder is a
GRU whose input at step t is the previous word and a context vector c_t: a weighted
sum of **all** encoder states, with weights a[t, s] from an additive (MLP) score of
the previous decoder state against each encoder state, softmax-normalised over the
real source positions. Without attention, c_t is absent and the decoder only starts
from the final encoder state (plain seq2seq).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfstack")
class Seq2SeqEncoder(keras.layers.Layer):
    """Source ids in, encoder states and the decoder's first state out.

    Args:
        vocabulary_size: int. Source ids, padding (0) included.
        embedding_dim: int. Word embedding size.
        units: int. Hidden size of each direction and of the decoder.
        cell: str. "gru" or "lstm".
        reverse_source: bool. Read the source backwards (Sutskever et al. 2014);
            states are returned in the original word order either way.
        dropout: float. Dropout on embeddings.
        word_dropout: float. Share of whole source words whose embedding is zeroed
            in training (Sennrich et al. 2016), so no single word is relied on.

    Call: `source_ids [batch, positions]` -> `(memory [batch, positions, 2 * units],
    initial_state [batch, units], mask [batch, positions])`.
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int = 128, units: int = 256,
                 cell: str = "gru", reverse_source: bool = False, dropout: float = 0.0,
                 word_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.vocabulary_size, self.embedding_dim, self.units = vocabulary_size, embedding_dim, units
        self.cell, self.reverse_source, self.dropout_rate = cell, reverse_source, dropout
        self.word_dropout_rate = word_dropout
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        recurrent = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
        self.rnn = keras.layers.Bidirectional(
            recurrent(units, return_sequences=True, return_state=True), name="rnn")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")
        self.dropout = keras.layers.Dropout(dropout)
        self.word_dropout = word_dropout_layer(word_dropout)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.rnn.build((None, None, self.embedding_dim))
        self.bridge.build((None, 2 * self.units))

    def call(self, source_ids, training=None):
        mask = tf.not_equal(source_ids, 0)
        lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)
        if self.reverse_source:
            source_ids = tf.reverse_sequence(source_ids, lengths, seq_axis=1, batch_axis=0)
        embedded = self.word_dropout(self.embedding(source_ids), training=training)
        embedded = self.dropout(embedded, training=training)
        memory, *states = self.rnn(embedded, mask=mask, training=training)
        if self.reverse_source:
            memory = tf.reverse_sequence(memory, lengths, seq_axis=1, batch_axis=0)
        forward, backward = states[0], states[len(states) // 2]  # final h of each direction
        initial_state = self.bridge(tf.concat([forward, backward], axis=-1))  # (batch, units)
        memory = memory * tf.cast(mask, memory.dtype)[..., None]  # (batch, positions, 2u)
        return memory, initial_state, mask

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "units": self.units, "cell": self.cell,
                "reverse_source": self.reverse_source, "dropout": self.dropout_rate,
                "word_dropout": self.word_dropout_rate}


@keras.saving.register_keras_serializable(package="tfstack")
class AttentionDecoder(keras.layers.Layer):
    """A GRU decoder with additive attention, run by teacher forcing or step by step.

    Args:
        vocabulary_size: int. Target ids, padding (0) included.
        embedding_dim: int. Word embedding size.
        units: int. Decoder state size (= the encoder's `units`).
        attention: bool. False gives the no-attention baseline.
        dropout: float. Dropout before the output layer.
        word_dropout: float. Share of whole previous-word embeddings zeroed in
            teacher-forced training.

    Call: `(target_ids [batch, steps], memory, initial_state, mask)` ->
    `(logits [batch, steps, vocabulary], attention [batch, steps, positions])`.
    """

    def __init__(self, vocabulary_size: int, embedding_dim: int = 128, units: int = 256,
                 attention: bool = True, dropout: float = 0.0, word_dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.embedding_dim, self.units = vocabulary_size, embedding_dim, units
        self.attention, self.dropout_rate = attention, dropout
        self.word_dropout_rate = word_dropout
        self.word_dropout = word_dropout_layer(word_dropout)
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.cell = keras.layers.GRUCell(units, name="cell")
        if attention:
            self.query = keras.layers.Dense(units, use_bias=False, name="query")
            self.key = keras.layers.Dense(units, use_bias=False, name="key")
            self.score = keras.layers.AdditiveAttention(use_scale=True, name="score")
        # Maxout, as in the paper: a tanh readout saturates under Adam and the decoder
        # stalls at the unigram distribution (gradients below it vanish).
        self.readout = keras.layers.Dense(2 * units, name="readout")
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(vocabulary_size, name="logits")

    def build(self, input_shape):
        context = 2 * self.units if self.attention else 0
        self.embedding.build((None,))
        self.cell.build((None, self.embedding_dim + context))
        if self.attention:
            self.query.build((None, self.units))
            self.key.build((None, None, 2 * self.units))
            self.score.build([(None, 1, self.units), (None, None, 2 * self.units),
                              (None, None, self.units)])
        self.readout.build((None, self.units + context + self.embedding_dim))
        self.output_layer.build((None, self.units))

    def keys(self, memory):
        """The key projection of the encoder states, computed once per sentence."""
        return self.key(memory) if self.attention else memory[..., :0]

    def recur(self, embedded, state, memory, keys, mask, training=None):
        """One decoder step before the output layer, from the previous word's embedding
        `[batch, dim]`: `(features, new_state, weights)`."""
        if self.attention:
            context, weights = self.score(
                [self.query(state)[:, None, :], memory, keys], mask=[None, mask],
                return_attention_scores=True)
            context, weights = context[:, 0], weights[:, 0]  # (batch, 2u), (batch, positions)
        else:
            context = memory[:, 0, :0]
            weights = tf.zeros_like(memory[..., 0])
        output, new_state = self.cell(tf.concat([embedded, context], -1), [state],
                                      training=training)
        features = tf.concat([output, context, embedded], -1)
        return features, new_state[0], weights

    def logits(self, features, training=None):
        """Deep output: one maxout layer (pairs of units) over [state; context; previous
        word]."""
        pieces = self.readout(features)
        hidden = tf.reduce_max(tf.reshape(pieces, tf.concat(
            [tf.shape(pieces)[:-1], [self.units, 2]], axis=0)), axis=-1)
        return self.output_layer(self.dropout(hidden, training=training))

    def step(self, token_ids, state, memory, keys, mask):
        """Inference step: `(log_probs [batch, vocabulary], new_state, weights)`."""
        features, state, weights = self.recur(self.embedding(token_ids), state, memory, keys,
                                              mask)
        return tf.nn.log_softmax(self.logits(features)), state, weights

    def call(self, target_ids, memory, initial_state, mask, training=None):
        keys = self.keys(memory)

        embedded = self.word_dropout(self.embedding(target_ids), training=training)

        def advance(carry, previous):
            state = carry[1]
            return self.recur(previous, state, memory, keys, mask, training)

        batch, positions = tf.shape(memory)[0], tf.shape(memory)[1]
        width = self.units + (2 * self.units if self.attention else 0) + self.embedding_dim
        first = (tf.zeros([batch, width]), initial_state, tf.zeros([batch, positions]))
        features, _, weights = tf.scan(advance, tf.transpose(embedded, [1, 0, 2]),
                                       initializer=first)
        features = tf.transpose(features, [1, 0, 2])  # (batch, steps, width)
        return self.logits(features, training), tf.transpose(weights, [1, 0, 2])

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "units": self.units,
                "attention": self.attention, "dropout": self.dropout_rate,
                "word_dropout": self.word_dropout_rate}


def word_dropout_layer(rate: float) -> keras.layers.Dropout:
    """Dropout of whole embeddings `[batch, steps, dim]`: one draw per word."""
    return keras.layers.Dropout(rate, noise_shape=(None, None, 1))
