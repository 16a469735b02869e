"""Training settings of the translation model as plain data (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

# `quick` is what `make up` trains on a first run (a few minutes on 2 cores); `full`
# trains until validation loss stops improving (at most 8 epochs, ~17 min on 2 cores).
PROFILES: dict[str, dict] = {
    "quick": dict(epochs=2, max_train_words=12),
    "full": dict(epochs=8),
}


@dataclass(frozen=True)
class TranslatorTrainConfig:
    """Settings of a seq2seq training run (teacher forcing, masked loss)."""

    data: str | None = None  # Ding dictionary or TSV file; default: Debian trans-de-en
    direction: str = "de-en"
    tsv_languages: str = "en-de"  # column order of a TSV file (manythings' deu.txt)
    output_dir: str = "artifacts/translator"
    attention: bool = True  # False: the plain seq2seq baseline
    cell: str = "gru"  # encoder cell: gru | lstm
    reverse_source: bool = False
    embedding_dim: int = 96
    units: int = 128
    dropout: float = 0.2
    max_vocabulary: int = 10000  # words per language; rarer ones become [UNK]
    max_train_words: int = 20  # longer training pairs are left out
    max_source_length: int = 50  # served sentences are truncated to this many positions
    max_target_length: int = 60
    epochs: int = 8
    batch_size: int = 16  # larger batches stall at the unigram loss on this data
    learning_rate: float = 1e-3
    patience: int = 2  # epochs without a better validation loss; 0: train all epochs
    beam_width: int = 4
    alpha: float = 1.0
    limit: int | None = None  # use at most this many pairs (tests, quick looks)
    seed: int = 1337
    verbose: int = 1
