"""The network and its decoders: attention masks, greedy vs beam, save/load, variants."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.translation.decoding import beam_search, greedy_search
from models.translation.layers import word_dropout_layer
from models.translation.seq2seq import build_seq2seq
from tests.models.harness import run_model_saving_test, run_model_test

SOURCE = np.array([[5, 6, 7, 2, 0, 0], [3, 2, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0]], np.int32)
TARGET = np.array([[2, 7, 8, 9], [2, 9, 0, 0], [2, 4, 4, 0]], np.int32)


def _model(**kwargs) -> keras.Model:
    keras.utils.set_random_seed(7)
    return build_seq2seq(20, 30, embedding_dim=8, units=16, **kwargs)


def _decoders(model):
    return model.get_layer("encoder"), model.get_layer("decoder")


@pytest.mark.parametrize("variant", [{}, {"cell": "lstm"}, {"reverse_source": True}])
def test_attention_sums_to_one_over_real_source_positions_and_is_zero_on_padding(variant):
    outputs = _model(**variant)({"source_ids": SOURCE, "target_ids": TARGET})
    attention = outputs["attention"].numpy()  # (batch, steps, positions)
    assert outputs["logits"].shape == (3, 4, 30)
    real = SOURCE != 0
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.all(attention[~np.broadcast_to(real[:, None, :], attention.shape)] == 0)


@pytest.mark.parametrize("variant", [{}, {"cell": "lstm"}, {"reverse_source": True}])
def test_padding_does_not_change_the_translation(variant):
    model = _model(**variant)
    exact = {"source_ids": SOURCE[:1, :4], "target_ids": TARGET[:1]}
    padded = {"source_ids": SOURCE[:1], "target_ids": TARGET[:1]}
    run_model_test(model, exact, {"logits": (1, 4, 30), "attention": (1, 4, 4)},
                   padded_inputs=padded,
                   unpad=lambda out: {**out, "attention": out["attention"][..., :4]},
                   atol=1e-5)


def test_reversing_the_source_reads_it_backwards_but_keeps_positions():
    forward = _model()
    backward = _model(reverse_source=True)
    backward.set_weights(forward.get_weights())
    flipped = SOURCE.copy()
    flipped[0, :4] = flipped[0, :4][::-1]
    a = forward({"source_ids": SOURCE, "target_ids": TARGET})
    b = backward({"source_ids": flipped, "target_ids": TARGET})
    np.testing.assert_allclose(a["logits"][0], b["logits"][0], atol=1e-5)


def test_no_attention_baseline_returns_zero_attention():
    outputs = _model(attention=False)({"source_ids": SOURCE, "target_ids": TARGET})
    assert not np.any(outputs["attention"].numpy())


def test_beam_of_width_one_equals_greedy():
    encoder, decoder = _decoders(_model())
    greedy = greedy_search(encoder, decoder, tf.constant(SOURCE), 2, 3, max_length=12)
    beam = beam_search(encoder, decoder, tf.constant(SOURCE), 2, 3, max_length=12, width=1)
    np.testing.assert_array_equal(greedy.ids, beam.ids)
    np.testing.assert_array_equal(greedy.lengths, beam.lengths)
    np.testing.assert_allclose(greedy.scores, beam.scores, atol=1e-5)
    np.testing.assert_allclose(greedy.attention, beam.attention, atol=1e-6)


def test_wider_beam_finds_a_hypothesis_at_least_as_probable():
    encoder, decoder = _decoders(_model())
    greedy = greedy_search(encoder, decoder, tf.constant(SOURCE), 2, 3, max_length=12)
    beam = beam_search(encoder, decoder, tf.constant(SOURCE), 2, 3, max_length=12, width=4)
    assert np.all(beam.scores.numpy() >= greedy.scores.numpy() - 1e-5)


def test_decoded_lengths_respect_the_source_relative_limit_and_zero_the_rest():
    encoder, decoder = _decoders(_model())
    for decoded in (greedy_search(encoder, decoder, tf.constant(SOURCE), 2, 3, 9),
                    beam_search(encoder, decoder, tf.constant(SOURCE), 2, 3, 9, width=3)):
        lengths = decoded.lengths.numpy()
        assert np.all(lengths <= 9)
        steps = np.arange(decoded.ids.shape[1])
        beyond = steps[None, :] >= lengths[:, None]
        assert np.all(decoded.ids.numpy()[beyond] == 0)
        assert np.all(decoded.attention.numpy()[beyond] == 0)
        assert not np.any(decoded.ids.numpy() == 3)  # </s> is not part of the words


def test_decoding_compiles_into_one_graph():
    encoder, decoder = _decoders(_model())
    run = tf.function(lambda ids: beam_search(encoder, decoder, ids, 2, 3, 12, width=4).ids,
                      input_signature=[tf.TensorSpec([None, None], tf.int32)])
    eager = beam_search(encoder, decoder, tf.constant(SOURCE), 2, 3, 12, width=4).ids
    np.testing.assert_array_equal(run(tf.constant(SOURCE)), eager)


def test_word_dropout_zeroes_whole_words_in_training_only():
    keras.utils.set_random_seed(3)
    embedded = tf.ones([4, 50, 8])
    dropped = word_dropout_layer(0.5)(embedded, training=True).numpy()
    per_word = dropped.reshape(-1, 8)
    assert np.all((per_word == 0).all(-1) | (per_word == 2.0).all(-1))  # whole words
    assert 0.3 < (per_word == 0).all(-1).mean() < 0.7
    np.testing.assert_array_equal(word_dropout_layer(0.5)(embedded, training=False), embedded)


def test_word_dropout_changes_training_outputs_but_not_inference():
    model = _model(word_dropout=0.5)
    inputs = {"source_ids": SOURCE, "target_ids": TARGET}
    np.testing.assert_allclose(model(inputs)["logits"], model(inputs)["logits"])
    trained = [model(inputs, training=True)["logits"].numpy() for _ in range(2)]
    assert not np.allclose(*trained)


def test_save_and_load_keep_config_and_outputs(tmp_path):
    model = _model(cell="lstm", reverse_source=True, word_dropout=0.1)
    inputs = {"source_ids": SOURCE, "target_ids": TARGET}
    loaded = run_model_saving_test(model, inputs, tmp_path, layers=("encoder", "decoder"))
    assert loaded.get_layer("decoder").get_config()["word_dropout"] == 0.1


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="'gru' or 'lstm'"):
        _model(cell="rnn")
