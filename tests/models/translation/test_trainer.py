"""Training pieces of the translator: the masked, smoothed loss and word dropout."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.translation.corpus import SentencePair
from models.translation.preprocessor import EOS, TranslationPreprocessor
from models.translation.trainer import SmoothedSequenceLoss, teacher_forcing

LABELS = np.array([[4, 5, 3, 0, 0], [6, 3, 0, 0, 0]], np.int32)  # 0: padding


def logits(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, 5, 8)).astype(np.float32)


def test_unsmoothed_loss_is_the_cross_entropy_of_real_positions_only():
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    np.testing.assert_allclose(float(SmoothedSequenceLoss()(LABELS, logits())),
                               float(expected(LABELS, logits())), rtol=1e-5)
    changed = logits()
    changed[:, 4] += 100.0  # padding positions only
    np.testing.assert_allclose(float(SmoothedSequenceLoss()(LABELS, changed)),
                               float(SmoothedSequenceLoss()(LABELS, logits())), rtol=1e-5)


def test_smoothing_penalises_certainty():
    certain = np.full((2, 5, 8), -20.0, np.float32)
    for row, labels in enumerate(LABELS):
        certain[row, np.arange(5), labels] = 20.0
    sharp, smooth = SmoothedSequenceLoss(0.0), SmoothedSequenceLoss(0.2)
    assert float(sharp(LABELS, certain)) < 1e-6
    assert float(smooth(LABELS, certain)) > 1.0  # mass is expected on the other words
    restored = keras.losses.deserialize(keras.losses.serialize(smooth))
    assert restored.label_smoothing == pytest.approx(0.2)


def source_ids(word_dropout: float) -> np.ndarray:
    words = [f"w{i}" for i in range(30)]
    preprocessor = TranslationPreprocessor(words, words)
    pairs = [SentencePair(" ".join(words[i:i + 8]), "w1 w2") for i in range(20)]
    batches = teacher_forcing(preprocessor, pairs, batch_size=20, seed=3,
                              word_dropout=word_dropout)
    ids = np.concatenate([x["source_ids"].numpy().ravel() for x, _ in batches])
    eos = int(preprocessor.source_lookup(tf.constant(EOS)))
    return ids, eos, preprocessor.unk_id


def test_word_dropout_turns_a_share_of_source_words_into_unknown_and_keeps_the_end():
    kept, eos, unk = source_ids(0.0)
    dropped, _, _ = source_ids(0.3)
    assert not np.any(kept == unk)
    assert np.array_equal(dropped == eos, kept == eos)  # every </s> stays
    words = (kept != 0) & (kept != eos)
    share = np.mean(dropped[words] == unk)
    assert 0.15 < share < 0.45
    assert np.array_equal(dropped[dropped != unk], kept[dropped != unk])
