"""Training settings of the translation model as plain data (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

# Sized for Tatoeba German-English (150k training pairs) on 2 CPU cores. `quick` is
# what `make up` trains on a first run: a smaller model on the pairs of up to 10 words,
# for 5 minutes of training. `full` trains until validation loss stops improving or 80
# minutes run out (bench/translator_bleu.py prints both).
PROFILES: dict[str, dict] = {
    "quick": dict(epochs=10, max_minutes=5, max_train_words=10, units=128, embedding_dim=96,
                  max_vocabulary=8000, word_dropout=0.0, label_smoothing=0.0),
    "full": dict(epochs=30, max_minutes=80, patience=2),
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
    # Low-resource regularisers (Sennrich & Zhang 2019): whole source and previous-target
    # words dropped, and that share of each target's probability spread over the
    # vocabulary. Together, with attention: validation BLEU 5.2 -> 6.7, test 5.3 -> 7.6
    # (beam), 16 epochs instead of 11; the no-attention baseline gets 1.5, so attention
    # now leads by +6.1 (bench/translator_bleu.py).
    word_dropout: float = 0.1
    label_smoothing: float = 0.1
    max_vocabulary: int = 10000  # words (or pieces) per language; rarer ones: [UNK]
    # WordPiece subwords instead of words: rare and unseen words become known pieces.
    # Full profile, 4,000 pieces a language, seeds 1337 / 2: validation BLEU 7.9 / 7.9
    # against 6.7 / 7.4 for words, yet test 7.7 / 7.4 (beam) and 6.5 / 6.6 (greedy)
    # against 7.6 / 7.2 and 6.8 / 6.8. Pieces help the no-attention baseline more (test
    # 2.4 / 2.5 against 1.5 / 1.2), so attention leads by +5.2 / +4.9 instead of +6.1 /
    # +6.0, and training takes 72-82 min instead of 57-63. Hence off by default.
    subwords: bool = False
    # Also train on the Ding dictionary's word and phrase entries (up to 3 words a side)
    # whose words are all in the vocabularies: +1.1 BLEU (beam) with attention, within
    # +-0.3 without (bench/translator_bleu.py). Needs the dictionary even with a TSV --data.
    lexicon: bool = False
    max_train_words: int = 20  # longer training pairs are left out
    max_source_length: int = 50  # served sentences are truncated to this many positions
    max_target_length: int = 60
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 3  # epochs without a better validation loss; 0: train all epochs
    max_minutes: float | None = None  # stop after the epoch that would overrun this
    beam_width: int = 4
    alpha: float = 1.0
    limit: int | None = None  # use at most this many pairs (tests, quick looks)
    seed: int = 1337
    verbose: int = 1
