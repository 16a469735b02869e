"""WordPiece subwords: the in-graph split against Hugging Face `tokenizers` on real
dictionary sentences, and words it cannot split."""

from __future__ import annotations

import pytest
import tensorflow as tf
import tokenizers

from models.translation.corpus import load_pairs
from models.translation.preprocessor import UNK, TranslationPreprocessor
from models.translation.wordpiece import WordPieceSplitter, learn_wordpieces

pytestmark = pytest.mark.trans


@pytest.fixture(scope="module")
def sentences() -> list[list[str]]:
    """Normalised words of 1,500 real German sentences of the dictionary."""
    texts = [p.source for p in load_pairs()[:1500]]
    words = TranslationPreprocessor([], []).words(tf.constant(texts)).to_list()
    return [[w.decode() for w in sentence] for sentence in words]


@pytest.fixture(scope="module")
def pieces(sentences) -> list[str]:
    return learn_wordpieces(sentences[:1000], 400, UNK)


def reference(pieces: list[str], words: list[str], max_word_chars: int) -> list[str]:
    """The pieces `tokenizers` gives for `words`."""
    model = tokenizers.models.WordPiece({p: i for i, p in enumerate([UNK, *pieces])},
                                        unk_token=UNK, max_input_chars_per_word=max_word_chars)
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    return tokenizer.encode(" ".join(words)).tokens


def test_the_split_in_the_graph_equals_tokenizers_on_unseen_sentences(pieces, sentences):
    words = [w for sentence in sentences[1000:] for w in sentence] + ["qxq", "über∆"]
    splitter = WordPieceSplitter(pieces, max_word_chars=12)
    got = [p.decode() for p in splitter(tf.constant(words)).flat_values.numpy()]
    known = set(pieces)
    assert [p if p in known else UNK for p in got] == reference(pieces, words, 12)
    assert any(p.startswith("##") for p in got)  # some words were split
    assert UNK in reference(pieces, words, 12)  # and some could not be


def test_a_word_that_cannot_be_split_comes_back_whole(pieces):
    splitter = WordPieceSplitter(pieces, max_word_chars=12)
    words = ["qxq", "a" * 13, "∆"]
    assert splitter(tf.constant(words)).to_list() == [[w.encode()] for w in words]


def test_every_training_word_splits_into_known_pieces(pieces, sentences):
    splitter = WordPieceSplitter(pieces)
    words = sorted({w for sentence in sentences[:1000] for w in sentence})
    got = {p.decode() for p in splitter(tf.constant(words)).flat_values.numpy()}
    assert got <= set(pieces)
    assert len(pieces) <= 400


def test_no_words_give_no_pieces(pieces):
    splitter = WordPieceSplitter(pieces)
    assert splitter(tf.constant([], tf.string)).to_list() == []


def test_subword_tokens_rejoin_into_the_normalised_words(pieces):
    preprocessor = TranslationPreprocessor(pieces, pieces, subwords=True)
    text = tf.constant(["Der Bahnhofsvorsteher pfiff, und der Zug fuhr ab."])
    _, tokens = preprocessor(text)
    tokens = [t.decode() for t in tokens.numpy()[0] if t]
    assert len(tokens) > 11 and tokens[-1] == "</s>"  # 10 words: some were split
    assert "bahnhofsvorsteher" not in tokens
    _, following = preprocessor.target_ids(text)
    ids = following.to_tensor()[:, :-1]  # without </s>
    joined, _ = preprocessor.detokenize(ids, tf.shape(ids)[1:])
    assert joined.numpy()[0].decode() == "Der bahnhofsvorsteher pfiff, und der zug fuhr ab."
