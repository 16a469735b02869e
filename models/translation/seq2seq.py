"""The translation network: encoder + attention decoder, trained by teacher forcing."""

from __future__ import annotations

import keras

from models.translation.layers import AttentionDecoder, Seq2SeqEncoder


def build_seq2seq(source_size: int, target_size: int, embedding_dim: int = 128,
                  units: int = 256, attention: bool = True, cell: str = "gru",
                  reverse_source: bool = False, dropout: float = 0.0,
                  word_dropout: float = 0.0) -> keras.Model:
    """`{"source_ids", "target_ids"}` (teacher-forced `<s> w1 .. wn`) ->
    `{"logits" [batch, steps, target_size], "attention" [batch, steps, positions]}`.
    Layers are named `encoder` and `decoder` for step-by-step decoding."""
    source_ids = keras.Input((None,), dtype="int32", name="source_ids")
    target_ids = keras.Input((None,), dtype="int32", name="target_ids")
    encoder = Seq2SeqEncoder(source_size, embedding_dim, units, cell, reverse_source, dropout,
                             word_dropout, name="encoder")
    decoder = AttentionDecoder(target_size, embedding_dim, units, attention, dropout,
                               word_dropout, name="decoder")
    memory, state, mask = encoder(source_ids)
    logits, weights = decoder(target_ids, memory, state, mask)
    return keras.Model({"source_ids": source_ids, "target_ids": target_ids},
                       {"logits": logits, "attention": weights}, name="seq2seq")
