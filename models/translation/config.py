"""Training settings of the translation model as plain data (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

# Sized for Tatoeba German-English (150k training pairs) on 2 CPU cores. Each profile
# trains a fixed number of epochs, every one of them (no early stop, no clock), so the
# same command gives the same model on a busy machine or a quiet one. `quick` is what
# `make up` trains on a first run: a smaller model on the pairs of up to 10 words, 2
# epochs (test BLEU 29.8, about 6 minutes on 2 cores). `full`: 3 epochs (test BLEU
# 40.4, about 90 minutes; validation loss still falling). bench/translator_bleu.py
# prints both; docs/models/translator.md has the figures.
PROFILES: dict[str, dict] = {
    "quick": dict(epochs=2, patience=0, max_train_words=10, units=128, embedding_dim=96,
                  max_vocabulary=6000, word_dropout=0.0, label_smoothing=0.0, batch_size=256,
                  learning_rate=3e-3),
    "full": dict(epochs=3, patience=0),
}


@dataclass(frozen=True)
class TranslatorTrainConfig:
    """Settings of a seq2seq training run (teacher forcing, masked loss)."""

    corpus: str = "tatoeba"  # tatoeba | ding (the Ding dictionary's sentences)
    data: str | None = None  # a pairs file or folder; default: the corpus where found
    direction: str = "de-en"
    tsv_languages: str = "en-de"  # column order of a TSV file (manythings' deu.txt)
    output_dir: str = "artifacts/translator"
    attention: bool = True  # False: the plain seq2seq baseline
    cell: str = "gru"  # encoder cell: gru | lstm
    reverse_source: bool = False
    embedding_dim: int = 128
    units: int = 256
    dropout: float = 0.2
    # Regularisers (Sennrich & Zhang 2019): whole source and previous-target words
    # dropped, and that share of each target's probability spread over the vocabulary
    # (their effect on the Ding corpus: docs/models/translator.md).
    word_dropout: float = 0.1
    label_smoothing: float = 0.1
    max_vocabulary: int = 10000  # words (or pieces) per language; rarer ones: [UNK]
    # WordPiece subwords instead of words: rare and unseen words become known pieces.
    # Not yet measured on Tatoeba; on Ding they did not win on test (model card).
    subwords: bool = False
    # Also train on the Ding dictionary's word and phrase entries (up to 3 words a side)
    # whose words are all in the vocabularies; off, as Ding is the out-of-domain test set.
    lexicon: bool = False
    max_train_words: int = 20  # longer training pairs are left out
    max_source_length: int = 50  # served sentences are truncated to this many positions
    max_target_length: int = 60
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 3  # epochs without a better validation loss; 0: train all epochs
    # Only when asked for (--max-minutes): stop after the epoch that would overrun this
    # many minutes of training, so the epochs run depend on the machine's speed.
    max_minutes: float | None = None
    beam_width: int = 4
    alpha: float = 1.0
    limit: int | None = None  # use at most this many pairs (tests, quick looks)
    seed: int = 1337
    verbose: int = 1
