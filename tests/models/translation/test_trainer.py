"""What the translator trains on besides the sentence pairs, and its loss."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models.translation.config import TranslatorTrainConfig
from models.translation.corpus import SentencePair
from models.translation.preprocessor import TranslationPreprocessor
from models.translation.trainer import (
    fit_preprocessor,
    known_words,
    lexicon_pairs,
    masked_crossentropy,
    teacher_forcing,
)

NEXT_IDS = np.array([[3, 1, 0], [2, 0, 0]], np.int32)  # 0: padding


def _logits(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, 3, 5)).astype(np.float32)


def test_smoothed_loss_is_the_mixture_of_the_word_s_and_the_uniform_cross_entropy():
    logits = _logits()
    log_p = tf.nn.log_softmax(logits).numpy()
    real = NEXT_IDS != 0
    word = -np.take_along_axis(log_p, NEXT_IDS[..., None], -1)[..., 0]
    expected = (0.9 * word + 0.1 * -log_p.mean(-1))[real].mean()
    np.testing.assert_allclose(masked_crossentropy(0.1)(NEXT_IDS, logits), expected, rtol=1e-5)
    np.testing.assert_allclose(masked_crossentropy()(NEXT_IDS, logits), word[real].mean(),
                               rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_padded_positions_do_not_count(smoothing):
    logits, changed = _logits(), _logits()
    changed[NEXT_IDS == 0] = 50.0
    loss = masked_crossentropy(smoothing)
    np.testing.assert_allclose(loss(NEXT_IDS, logits), loss(NEXT_IDS, changed), rtol=1e-6)


def test_teacher_forcing_batches_are_counted_in_advance_and_hold_every_pair_once():
    words = "ein zwei drei vier fünf sechs sieben acht neun zehn elf zwölf".split()
    rng = np.random.default_rng(0)
    pairs = [SentencePair(" ".join(rng.choice(words, rng.integers(1, 6))),
                          " ".join(rng.choice(words, n)))
             for n in rng.integers(1, 13, size=150)]
    preprocessor = TranslationPreprocessor(words, words)
    want = sorted(tuple(row) for row in preprocessor.target_ids(
        tf.constant([p.target for p in pairs]))[1].numpy())
    dataset = teacher_forcing(preprocessor, pairs, batch_size=8, shuffle=True, seed=0)
    for _ in range(2):  # the count holds whatever order the shuffle gives
        batches = list(dataset.as_numpy_iterator())
        assert len(batches) == int(dataset.cardinality())  # Keras sizes each epoch by it
        got = sorted(tuple(row[row != 0]) for _, following in batches for row in following)
        assert got == want


@pytest.mark.trans
def test_lexicon_keeps_in_vocabulary_phrases_and_never_a_held_out_sentence():
    preprocessor = TranslationPreprocessor([], [])
    known = ({"aal", "blau", "in", "aspik"}, {"eel", "au", "bleu", "jellied"})
    pairs = lexicon_pairs(preprocessor, "de-en", [], known)
    assert {SentencePair("Aal", "Eel"), SentencePair("Aal blau", "Eel au bleu"),
            SentencePair("Aal in Aspik", "Jellied Eel")} <= set(pairs)
    held_out = [SentencePair("Aal blau!", "Blue eel!"), SentencePair("Sülze.", "Jellied eel.")]
    pairs = lexicon_pairs(preprocessor, "de-en", held_out, known)
    assert SentencePair("Aal", "Eel") in pairs
    assert SentencePair("Aal blau", "Eel au bleu") not in pairs  # a held-out source
    assert SentencePair("Aal in Aspik", "Jellied Eel") not in pairs  # a held-out target
    words = {w for p in pairs for w in p.source.lower().split()}
    assert words <= {"aal", "blau", "in", "aspik"}
    assert {w for p in pairs for w in p.target.lower().split()} <= {"eel", "au", "bleu",
                                                                      "jellied"}


def test_the_lexicon_knows_the_word_vocabularies_or_with_subwords_every_word():
    train = [SentencePair("Der Hund bellt.", "The dog barks."),
             SentencePair("Der Hund schläft.", "The dog sleeps.")]
    words = fit_preprocessor(train, TranslatorTrainConfig(max_vocabulary=4))
    assert words.source_words == [".", "der", "hund", "bellt"]
    pieces = fit_preprocessor(train, TranslatorTrainConfig(max_vocabulary=30, subwords=True))
    assert pieces.subwords and any(p.startswith("##") for p in pieces.source_words)
    for preprocessor in (words, pieces):
        assert known_words(preprocessor, train, 4) == (set(words.source_words),
                                                       set(words.target_words))
    assert known_words(pieces, train, None)[0] == {".", "der", "hund", "bellt", "schläft"}


def test_lexicon_without_the_dictionary_says_how_to_do_without(tmp_path, monkeypatch):
    from models.translation import corpus

    monkeypatch.delenv("TFSTACK_DATA_DIR", raising=False)
    monkeypatch.setattr(corpus, "DING_FILE", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="--no-lexicon"):
        lexicon_pairs(TranslationPreprocessor([], []), "de-en", [], ({"aal"}, {"eel"}))
