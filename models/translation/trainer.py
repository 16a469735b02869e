"""Training the translator: `tfstack train translator`.

Teacher forcing with a loss masked on padding, early stopping on validation loss,
and corpus BLEU (sacreBLEU, case-insensitive) on the held-out test split, greedy and
beam search.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from models.downloads import DataNotFound
from models.length_buckets import bucket_by_length
from models.time_budget import TimeBudget
from models.translation.config import TranslatorTrainConfig
from models.translation.corpus import (
    SentencePair,
    load_corpus,
    locate_ding,
    read_ding,
    read_ding_phrases,
    split_pairs,
)
from models.translation.preprocessor import UNK, TranslationPreprocessor, build_vocabulary
from models.translation.seq2seq import build_seq2seq
from models.translation.translator import Translator
from models.translation.wordpiece import learn_wordpieces

logger = logging.getLogger(__name__)

MODEL_FILE, PREPROCESSOR_FILE, CHECKPOINT_FILE = ("model.keras", "preprocessor.json",
                                                  "checkpoint.weights.h5")
HISTORY_FILE = "history.csv"
# Upper bounds (exclusive) of the target lengths, in words, that share batches.
BUCKET_BOUNDARIES = (6, 9, 12, 16)


@dataclass(frozen=True)
class TranslatorResult:
    """Where the model went, its test BLEU (greedy and beam), its validation BLEU (beam:
    the figure to compare settings by), the data sizes and the corpus release."""

    model_dir: Path
    bleu_greedy: float
    bleu_beam: float
    bleu_validation: float
    pairs: dict[str, int]
    epochs_run: int
    seconds: float
    corpus: dict | None = None  # the Tatoeba release read: path, sha256, release, pairs
    chrf_beam: float = 0.0
    bleu_out_of_domain: float | None = None  # beam, on the Ding dictionary's test sentences
    # Only with --max-minutes: the minutes asked for, whether they stopped training, and
    # after how many epochs (`TimeBudget.report`).
    time_budget: dict | None = None


def train_translator(config: TranslatorTrainConfig,
                     clock: Callable[[], float] = time.monotonic) -> TranslatorResult:
    """Trains on the train split for `config.epochs` (fewer only with `patience` or
    `max_minutes`, whose budget is read from `clock`), reports test BLEU and saves the
    model with its vocabularies."""
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    pairs, release = load_corpus(config.data, config.direction, config.tsv_languages,
                                 config.corpus)
    if config.limit:
        pairs = pairs[: config.limit]
    splits = split_pairs(pairs)
    preprocessor = fit_preprocessor(splits["train"], config)
    train = _short(preprocessor, splits["train"], config.max_train_words)
    lexicon = lexicon_pairs(preprocessor, config.direction,
                            splits["validation"] + splits["test"],
                            known_words(preprocessor, splits["train"],
                                        None if config.subwords else config.max_vocabulary),
                            ) if config.lexicon else []
    validation = _short(preprocessor, splits["validation"], config.max_train_words)
    model = build_seq2seq(preprocessor.source_size, preprocessor.target_size,
                          config.embedding_dim, config.units, config.attention, config.cell,
                          config.reverse_source, config.dropout, config.word_dropout)
    trainable = keras.Model(model.inputs, model.output["logits"])
    trainable.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=5.0),
                      loss=masked_crossentropy(config.label_smoothing))
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    callbacks = _callbacks(config, out, clock)
    history = trainable.fit(
        teacher_forcing(preprocessor, train + lexicon, config.batch_size, shuffle=True,
                        seed=config.seed),
        validation_data=teacher_forcing(preprocessor, validation, config.batch_size),
        epochs=config.epochs, verbose=config.verbose, callbacks=callbacks,
        shuffle=False)  # the dataset shuffles itself, every epoch
    save(out, model, preprocessor)  # before the slow evaluation, so nothing trained is lost
    translator = Translator(model, preprocessor, config.beam_width, config.alpha)
    test = splits["test"]
    greedy, beam = evaluate(translator, test, greedy=True), evaluate(translator, test)
    result = TranslatorResult(
        out, greedy["bleu"], beam["bleu"], evaluate(translator, splits["validation"])["bleu"],
        {"train": len(train), "lexicon": len(lexicon), "validation": len(validation),
         "test": len(test)},
        len(history.epoch), time.monotonic() - started, asdict(release) if release else None,
        beam["chrf"], out_of_domain(translator, config),
        next((c.report() for c in callbacks if isinstance(c, TimeBudget)), None))
    (out / "metrics.json").write_text(json.dumps(
        {**asdict(result), "model_dir": str(out), "config": asdict(config),
         "history": {k: [float(x) for x in v] for k, v in history.history.items()}},
        indent=2) + "\n")
    return result


def out_of_domain(translator: Translator, config: TranslatorTrainConfig) -> float | None:
    """Beam BLEU on the Ding dictionary's held-out sentences when training on all of
    another corpus and the dictionary is installed; None otherwise."""
    if config.corpus == "ding" or config.data or config.limit:
        return None
    try:
        ding = split_pairs(read_ding(locate_ding(), config.direction))["test"]
    except FileNotFoundError:
        return None
    return evaluate(translator, ding)["bleu"]


def masked_crossentropy(label_smoothing: float = 0.0):
    """Cross-entropy of the next-word logits averaged over real (non-padding) words; with
    `label_smoothing`, that share of each target's probability is spread uniformly over
    the vocabulary (Szegedy et al. 2016), against over-confident decoders."""
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

    def smoothed(next_ids, logits):
        next_ids = tf.cast(next_ids, "int32")
        losses = keras.losses.categorical_crossentropy(
            tf.one_hot(next_ids, tf.shape(logits)[-1]), logits, from_logits=True,
            label_smoothing=label_smoothing)
        real = tf.cast(next_ids != 0, losses.dtype)
        return tf.reduce_sum(losses * real) / tf.maximum(tf.reduce_sum(real), 1.0)

    return smoothed


def _callbacks(config: TranslatorTrainConfig, out: Path, clock: Callable[[], float],
               ) -> list[keras.callbacks.Callback]:
    """Best-on-validation checkpoints, the loss of each epoch in history.csv, early
    stopping unless `patience` is 0, and a stop before `max_minutes` run out on `clock`."""
    callbacks = [keras.callbacks.ModelCheckpoint(out / CHECKPOINT_FILE, save_best_only=True,
                                                 save_weights_only=True),
                 keras.callbacks.CSVLogger(out / HISTORY_FILE)]  # the learning curve, live
    if config.patience or config.max_minutes:
        callbacks.append(keras.callbacks.EarlyStopping(patience=config.patience or config.epochs,
                                                       restore_best_weights=True))
    if config.max_minutes:
        callbacks.append(TimeBudget(config.max_minutes, clock))
    return callbacks


def fit_preprocessor(train: list[SentencePair],
                     config: TranslatorTrainConfig) -> TranslationPreprocessor:
    """Tokenizers with vocabularies from the training pairs only: the most frequent
    words, or with `subwords` WordPiece pieces learned from them."""
    probe = TranslationPreprocessor([], [])
    sides = [_words(probe, [getattr(p, side) for p in train]) for side in ("source", "target")]
    if config.subwords:
        vocabularies = [learn_wordpieces(words, config.max_vocabulary, UNK) for words in sides]
    else:
        vocabularies = [build_vocabulary(words, config.max_vocabulary) for words in sides]
    return TranslationPreprocessor(*vocabularies, config.max_source_length,
                                   config.max_target_length, subwords=config.subwords)


def known_words(preprocessor: TranslationPreprocessor, train: list[SentencePair],
                max_size: int | None) -> tuple[set[str], set[str]]:
    """Each language's words in the training pairs, the `max_size` most frequent if
    given: the words a word-level model knows (with subwords, every word is read)."""
    return tuple(set(build_vocabulary(_words(preprocessor, [getattr(p, side) for p in train]),
                                      max_size)) for side in ("source", "target"))


def lexicon_pairs(preprocessor: TranslationPreprocessor, direction: str,
                  held_out: list[SentencePair], known: tuple[set[str], set[str]],
                  ) -> list[SentencePair]:
    """The Ding dictionary's word and phrase pairs whose words are all `known` (source,
    target), so they teach the translation of words seen once or twice, less any whose
    source or target is a held-out sentence without its punctuation."""
    try:
        phrases = read_ding_phrases(locate_ding(), direction)
    except DataNotFound as e:  # --data names the sentence pairs here, not the dictionary
        raise e.but(flag=None, also=["train on sentence pairs only: --no-lexicon"]) from e
    kept = list(phrases)
    for side, vocabulary in zip(("source", "target"), known, strict=True):
        held = {_bare(words) for words in _words(preprocessor,
                                                 [getattr(p, side) for p in held_out])}
        words = _words(preprocessor, [getattr(p, side) for p in kept])
        kept = [p for p, w in zip(kept, words, strict=True)
                if vocabulary.issuperset(w) and _bare(w) not in held]
    return kept


def _bare(words: list[str]) -> str:
    return " ".join(word for word in words if word.isalnum())


def _words(preprocessor: TranslationPreprocessor, texts: list[str]) -> list[list[str]]:
    if not texts:
        return []
    tokens = preprocessor.words(tf.constant(texts)).to_list()
    return [[word.decode() for word in words] for words in tokens]


def _short(preprocessor, pairs: list[SentencePair], max_words: int) -> list[SentencePair]:
    """The pairs whose both sides have at most `max_words` words."""
    if not pairs:
        return []
    lengths = [preprocessor.words(tf.constant([getattr(p, side) for p in pairs]))
               .row_lengths().numpy() for side in ("source", "target")]
    return [p for p, a, b in zip(pairs, *lengths, strict=True) if a <= max_words and b <= max_words]


def teacher_forcing(preprocessor: TranslationPreprocessor, pairs: list[SentencePair],
                    batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """`({"source_ids", "target_ids"}, next_ids)` batches, bucketed by length so
    little padding is computed."""
    source_ids, _ = preprocessor(tf.constant([p.source for p in pairs]))
    target_in, target_out = preprocessor.target_ids(tf.constant([p.target for p in pairs]))
    rows = [(s[s != 0], i, o) for s, i, o in zip(
        source_ids.numpy().astype(np.int32), target_in.numpy(), target_out.numpy(), strict=True)]

    def generate():
        for source, target, following in rows:
            yield {"source_ids": source, "target_ids": np.asarray(target, np.int32)}, \
                np.asarray(following, np.int32)

    spec = tf.TensorSpec([None], tf.int32)
    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=({"source_ids": spec, "target_ids": spec}, spec))
    if shuffle:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    return bucket_by_length(dataset, np.array([len(o) for _, _, o in rows]),
                            lambda x, y: tf.shape(y)[0], BUCKET_BOUNDARIES, batch_size)


def translate_all(translator: Translator, texts: list[str], greedy: bool = False,
                  batch_size: int = 64) -> list[str]:
    """Translations of `texts`, in order, by the compiled decoding, run on batches of
    sentences of similar length (a batch decodes as long as its longest sentence)."""
    run = tf.function(lambda text: translator.translate(text, greedy)["translation"],
                      input_signature=[tf.TensorSpec([None], tf.string)])
    order = sorted(range(len(texts)), key=lambda i: len(texts[i].split()))
    translations = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        for i, text in zip(chunk, run(tf.constant([texts[i] for i in chunk])).numpy(),
                           strict=True):
            translations[i] = text.decode()
    return translations


def evaluate(translator: Translator, pairs: list[SentencePair], greedy: bool = False,
             ) -> dict[str, float]:
    """Case-insensitive corpus BLEU (sacreBLEU, 13a tokenization) and chrF of the
    translations of the distinct sources of `pairs`, every target of a source being a
    reference."""
    references: dict[str, list[str]] = {}
    for pair in pairs:
        references.setdefault(pair.source, []).append(pair.target)
    if not references:
        return {"bleu": 0.0, "chrf": 0.0}
    hypotheses = translate_all(translator, list(references), greedy)
    streams = [list(s) for s in itertools.zip_longest(*references.values(), fillvalue=None)]
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, streams, lowercase=True).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, streams).score}


def save(out: Path, model: keras.Model, preprocessor: TranslationPreprocessor) -> None:
    model.save(out / MODEL_FILE)
    settings = {k: preprocessor.get_config()[k] for k in
                ("source_words", "target_words", "max_source_length", "max_target_length",
                 "subwords")}
    (out / PREPROCESSOR_FILE).write_text(json.dumps(settings, ensure_ascii=False) + "\n")


def load_trained(model_dir: str | Path, beam_width: int = 4, alpha: float = 1.0,
                 ) -> Translator:
    """The translator saved by `train_translator`."""
    model_dir = Path(model_dir)
    model = keras.models.load_model(model_dir / MODEL_FILE)
    settings = json.loads((model_dir / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
    return Translator(model, TranslationPreprocessor(**settings), beam_width, alpha)
