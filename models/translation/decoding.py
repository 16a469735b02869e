"""Greedy and beam-search decoding as TensorFlow loops (`tf.while_loop`), so a whole
batch is translated inside one exported graph.

Both stop a sentence at `</s>` or at its length limit, `min(max_length, 2 * source
positions + 10)`, and score it by its log-probability divided by `length ** alpha`
(`</s>` counted), the length normalisation of Wu et al. (2016) with a plain length.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from models.translation.layers import AttentionDecoder, Seq2SeqEncoder

_NEG = -1e9


@dataclass(frozen=True)
class Decoded:
    """Best hypothesis per sentence: `ids [batch, steps]` (0 after the end),
    `lengths [batch]` (words, `</s>` excluded), `scores [batch]`, `attention
    [batch, steps, positions]` (0 beyond the words and the source)."""

    ids: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor
    attention: tf.Tensor


def length_limits(mask: tf.Tensor, max_length: int) -> tf.Tensor:
    """Steps allowed per sentence, relative to its source length."""
    positions = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    return tf.minimum(2 * positions + 10, max_length)


def greedy_search(encoder: Seq2SeqEncoder, decoder: AttentionDecoder, source_ids: tf.Tensor,
                  bos_id: int, eos_id: int, max_length: int, alpha: float = 1.0) -> Decoded:
    """The most probable next word at every step."""
    memory, state, mask = encoder(source_ids)
    keys = decoder.keys(memory)
    batch, positions = tf.shape(memory)[0], tf.shape(memory)[1]
    limits = length_limits(mask, max_length)
    steps = tf.reduce_max(limits)

    def body(t, tokens, state, done, log_prob, lengths, ids, attention):
        log_probs, state, weights = decoder.step(tokens, state, memory, keys, mask)
        tokens = tf.where(done, 0, tf.argmax(_allowed(log_probs), -1, output_type=tf.int32))
        log_prob += tf.where(done, 0.0, tf.gather(log_probs, tokens, batch_dims=1))
        ids = _write(ids, t, tokens, 1)
        attention = _write(attention, t, tf.where(done[:, None], 0.0, weights), 1)
        lengths = tf.where(done, lengths, t + 1)
        done = done | (tokens == eos_id) | (t + 1 >= limits)
        return t + 1, tokens, state, done, log_prob, lengths, ids, attention

    loop = (tf.constant(0), tf.fill([batch], bos_id), state, tf.zeros([batch], tf.bool),
            tf.zeros([batch]), tf.zeros([batch], tf.int32), tf.zeros([batch, steps], tf.int32),
            tf.zeros([batch, steps, positions]))
    _, _, _, _, log_prob, lengths, ids, attention = _loop(steps, body, loop)
    return _finish(ids, lengths, log_prob, attention, eos_id, alpha)


def beam_search(encoder: Seq2SeqEncoder, decoder: AttentionDecoder, source_ids: tf.Tensor,
                bos_id: int, eos_id: int, max_length: int, width: int = 4,
                alpha: float = 1.0) -> Decoded:
    """Keeps the `width` most probable prefixes of each sentence; finished ones carry
    on unchanged. The best by normalised score wins."""
    memory, state, mask = encoder(source_ids)
    batch, positions = tf.shape(memory)[0], tf.shape(memory)[1]
    limits = tf.repeat(length_limits(mask, max_length)[:, None], width, axis=1)  # (b, k)
    steps = tf.reduce_max(limits)
    memory, state, mask = (tf.repeat(x, width, axis=0) for x in (memory, state, mask))
    keys = decoder.keys(memory)

    def body(t, tokens, state, done, log_prob, lengths, ids, attention):
        log_probs, state, weights = decoder.step(tf.reshape(tokens, [-1]), state, memory,
                                                 keys, mask)
        vocabulary = tf.shape(log_probs)[-1]
        log_probs = tf.reshape(_allowed(log_probs), [batch, width, -1])
        log_probs = tf.where(done[..., None], _only_padding(vocabulary), log_probs)
        total = tf.reshape(log_prob[..., None] + log_probs, [batch, -1])  # (b, k * vocab)
        log_prob, best = tf.math.top_k(total, width)
        parent, tokens = best // vocabulary, best % vocabulary  # (b, k)
        state = tf.reshape(tf.gather(tf.reshape(state, [batch, width, -1]), parent,
                                     batch_dims=1), [batch * width, -1])
        weights = tf.gather(tf.reshape(weights, [batch, width, -1]), parent, batch_dims=1)
        done, lengths, ids, attention = (tf.gather(x, parent, batch_dims=1)
                                         for x in (done, lengths, ids, attention))
        ids = _write(ids, t, tokens, 2)
        attention = _write(attention, t, tf.where(done[..., None], 0.0, weights), 2)
        lengths = tf.where(done, lengths, t + 1)
        done = done | (tokens == eos_id) | (t + 1 >= limits)
        return t + 1, tokens, state, done, log_prob, lengths, ids, attention

    first = tf.concat([tf.zeros([batch, 1]), tf.fill([batch, width - 1], _NEG)], axis=1)
    loop = (tf.constant(0), tf.fill([batch, width], bos_id), state,
            tf.zeros([batch, width], tf.bool), first, tf.zeros([batch, width], tf.int32),
            tf.zeros([batch, width, steps], tf.int32),
            tf.zeros([batch, width, steps, positions]))
    _, _, _, _, log_prob, lengths, ids, attention = _loop(steps, body, loop)
    normalized = log_prob / tf.pow(tf.cast(tf.maximum(lengths, 1), tf.float32), alpha)
    best = tf.argmax(normalized, axis=1, output_type=tf.int32)
    pick = lambda x: tf.gather(x, best, batch_dims=1)  # noqa: E731
    return _finish(pick(ids), pick(lengths), pick(log_prob), pick(attention), eos_id, alpha)


def _loop(steps: tf.Tensor, body, loop_vars: tuple) -> tuple:
    """Runs `body` until every hypothesis is done or `steps` are taken; the loop
    variables keep their static shapes (reshapes inside would lose them)."""

    def step(*current):
        updated = body(*current)
        for old, new in zip(current, updated, strict=True):
            new.set_shape(old.shape)
        return updated

    return tf.while_loop(lambda t, _tokens, _state, done, *_: (t < steps)
                         & ~tf.reduce_all(done), step, loop_vars)


def _allowed(log_probs: tf.Tensor) -> tf.Tensor:
    """Padding and `<s>` (ids 0 and 2) are never generated."""
    banned = tf.one_hot([0, 2], tf.shape(log_probs)[-1], on_value=True, off_value=False)
    return tf.where(tf.reduce_any(banned, 0), _NEG, log_probs)


def _only_padding(vocabulary: tf.Tensor) -> tf.Tensor:
    """A finished hypothesis continues with padding at no cost."""
    return tf.where(tf.range(vocabulary) == 0, 0.0, _NEG)


def _write(buffer: tf.Tensor, t: tf.Tensor, values: tf.Tensor, axis: int) -> tf.Tensor:
    """`buffer` with index `t` of its time axis `axis` set to `values`."""
    column = tf.one_hot(t, tf.shape(buffer)[axis], on_value=True, off_value=False)
    column = tf.reshape(column, [1] * axis + [-1] + [1] * (len(buffer.shape) - axis - 1))
    return tf.where(column, tf.expand_dims(values, axis), buffer)


def _finish(ids, lengths, log_prob, attention, eos_id: int, alpha: float) -> Decoded:
    """Drops `</s>`, zeroes what lies beyond each translation, trims shared padding."""
    last = tf.gather(ids, tf.maximum(lengths - 1, 0), batch_dims=1)
    words = lengths - tf.cast((last == eos_id) & (lengths > 0), tf.int32)
    kept = tf.sequence_mask(words, tf.shape(ids)[1])
    steps = tf.reduce_max(tf.concat([words, [0]], 0))
    score = log_prob / tf.pow(tf.cast(tf.maximum(lengths, 1), tf.float32), alpha)
    return Decoded(ids=tf.where(kept, ids, 0)[:, :steps], lengths=words, scores=score,
                   attention=tf.where(kept[..., None], attention, 0.0)[:, :steps])
