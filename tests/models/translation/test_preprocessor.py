"""The translator's in-graph detokenizer: joining words and copying unknown ones."""

from __future__ import annotations

import pytest
import tensorflow as tf

from models.translation.preprocessor import EOS, UNK, TranslationPreprocessor

SOURCE = [["wo", "ist", "mainz", "?", EOS]]


def detokenize(ids: list[int], peaks: list[int] | None) -> tuple[str, list[str]]:
    """Translation and tokens of one sentence whose step t attends to `peaks[t]`."""
    preprocessor = TranslationPreprocessor(["wo", "ist"], ["where", "is", "?"])
    attention = None
    if peaks is not None:
        attention = tf.one_hot([peaks], len(SOURCE[0])) * 0.9 + 0.02
    text, tokens = preprocessor.detokenize(tf.constant([ids]), tf.constant([len(ids)]),
                                           tf.constant(SOURCE), attention)
    return text.numpy()[0].decode(), [t.decode() for t in tokens.numpy()[0]]


def test_words_are_joined_without_space_before_punctuation_and_capitalised():
    assert detokenize([4, 5, 6], None)[0] == "Where is?"


def test_unknown_word_becomes_the_source_word_it_attends_to():
    text, tokens = detokenize([4, 5, 1, 6], peaks=[0, 1, 2, 3])
    assert text == "Where is mainz?"
    assert tokens == ["where", "is", "mainz", "?"]


def test_unknown_word_attending_to_the_end_marker_stays_unknown():
    assert detokenize([4, 5, 1], peaks=[0, 1, 4])[1][2] == UNK


def test_without_attention_weights_unknown_words_stay_unknown():
    preprocessor = TranslationPreprocessor(["wo"], ["where"])
    text, _ = preprocessor.detokenize(tf.constant([[4, 1]]), tf.constant([2]),
                                      tf.constant([["wo", "x", EOS]]), tf.zeros([1, 2, 3]))
    assert text.numpy()[0].decode() == f"Where {UNK}"


@pytest.mark.parametrize("peak", [2, 3, 4])
def test_with_subwords_an_unknown_word_copies_the_whole_source_word_of_its_piece(peak):
    preprocessor = TranslationPreprocessor(["wo", "ist", "ma", "##in", "##z"],
                                           ["where", "is", "?", "##s"], subwords=True)
    source = [["wo", "ist", "ma", "##in", "##z", "?", EOS]]
    attention = tf.one_hot([[0, 1, peak, 5]], len(source[0])) * 0.9 + 0.01
    text, tokens = preprocessor.detokenize(tf.constant([[4, 5, 1, 6]]), tf.constant([4]),
                                           tf.constant(source), attention)
    assert text.numpy()[0].decode() == "Where is mainz?"
    assert tokens.numpy()[0][2].decode() == "mainz"
