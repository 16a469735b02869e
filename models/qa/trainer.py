"""Training the DMN+ on bAbI: `tfstack train qa`."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.qa.augment import EntityPermutation, answer_word_ids, copied_answer_classes
from models.qa.babi import Example, load_tasks
from models.qa.batches import story_batches
from models.qa.config import QATrainConfig
from models.qa.dmn import build_dmn
from models.qa.preprocessor import BabiPreprocessor, vocabulary

logger = logging.getLogger(__name__)

MODEL_FILE, PREPROCESSOR_FILE, ANSWERS_FILE = "model.keras", "preprocessor.json", "answers.txt"


@dataclass(frozen=True)
class QAResult:
    """Where the model went and its held-out accuracy, overall and per task."""

    model_dir: Path
    test_accuracy: float
    task_accuracy: dict[int, float]
    # Share of test questions whose last pass attends most to a supporting fact.
    task_attention: dict[int, float]
    epochs_run: int
    seconds: float
    # Best validation score (`config.monitor`) of each restart; the model kept is the best.
    validation_scores: tuple[float, ...] = ()


def encode(preprocessor: BabiPreprocessor, examples: list[Example],
           answers: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Model inputs and answer ids (-1 for an answer never seen in training)."""
    fact_ids, question_ids, _ = preprocessor(
        tf.constant(["\n".join(e.facts) for e in examples]),
        tf.constant([e.question for e in examples]))
    index = {answer: i for i, answer in enumerate(answers)}
    labels = np.array([index.get(e.answer_text, -1) for e in examples])
    return {"fact_ids": fact_ids.numpy(), "question_ids": question_ids.numpy()}, labels


def train_qa(config: QATrainConfig) -> QAResult:
    """Trains on the chosen tasks (validation carved from train), reports test
    accuracy per task, and saves the model, the tokenizer settings and the answers."""
    started = time.monotonic()
    train = load_tasks(config.task_list(), "train", config.data)
    test = load_tasks(config.task_list(), "test", config.data)
    train, validation = split_validation(train, config.validation_fraction, config.seed)
    words, answers = vocabulary(train)
    preprocessor = BabiPreprocessor(
        words, min(config.max_facts, max(len(e.facts) for e in train)), config.max_words)
    x, y = _targets(config, preprocessor, train, answers)
    held = _targets(config, preprocessor, validation, answers)
    scores, model, history = [], None, None
    for restart in range(config.restarts):  # the model with the best validation score wins
        run = replace(config, seed=config.seed + restart)
        candidate, fitted = _train_run(run, len(words), answers, preprocessor, train, (x, y),
                                       held)
        key, mode = _monitor(run)
        scores.append(float(min(fitted.history[key]) if mode == "min"
                            else max(fitted.history[key])))
        # progress only: the scores are part of the printed result
        logger.debug("restart %d (seed %d): best %s %.4f", restart, run.seed, key, scores[-1])
        if scores[-1] == (min(scores) if mode == "min" else max(scores)):
            model, history = candidate, fitted
    task_accuracy, task_attention = evaluate(model, preprocessor, answers, test)
    out = _save(config, model, preprocessor, answers)
    result = QAResult(out, float(np.mean(list(task_accuracy.values()))), task_accuracy,
                      task_attention, len(history.epoch), time.monotonic() - started,
                      tuple(scores))
    (out / "metrics.json").write_text(json.dumps(
        {**asdict(result), "model_dir": str(out), "config": asdict(config)}, indent=2) + "\n")
    return result


def _train_run(config: QATrainConfig, vocab_size: int, answers: list[str],
               preprocessor: BabiPreprocessor, train: list[Example], encoded: tuple[dict, dict],
               held: tuple[dict, dict]) -> tuple[keras.Model, keras.callbacks.History]:
    """One model built and trained from `config.seed`."""
    keras.utils.set_random_seed(config.seed)
    model = build_dmn(vocab_size, len(answers), preprocessor.max_facts, config.max_words,
                      config.units, config.passes, config.dropout, config.input_fusion,
                      config.temporal, config.episode, config.update)
    permutation = (_permutation(config, *encoded, train, preprocessor, answers)
                   if config.permute_entities else None)
    return model, _fit(config, model, encoded, held, permutation)


def _permutation(config: QATrainConfig, x: dict, y: dict, train: list[Example],
                 preprocessor: BabiPreprocessor, answers: list[str]) -> EntityPermutation:
    """Renaming of story entities for training batches (all training answers are
    known, so `x` and `y` keep every example of `train`)."""
    id_vocabulary = preprocessor.lookup.get_vocabulary()
    word_of_answer = answer_word_ids(id_vocabulary, answers)
    tasks = np.array([e.task for e in train])
    classes = copied_answer_classes(x["fact_ids"], y["answer"], tasks, word_of_answer)
    logger.info("entities permuted per task: %s",
                {t: [str(id_vocabulary[i]) for i in c] for t, c in classes.items()})
    return EntityPermutation(tasks, classes, word_of_answer, config.seed)


def _fit(config: QATrainConfig, model: keras.Model, train: tuple[dict, dict],
         validation: tuple[dict, dict], permutation: EntityPermutation | None = None,
         ) -> keras.callbacks.History:
    """Answers-only training, or answers and gates with `config.supporting_facts`, on
    batches of stories of similar length (entities renamed with `permutation`)."""
    answer = model.get_layer("answer").output
    loss = keras.losses.SparseCategoricalCrossentropy()
    if config.supporting_facts:
        trainable = keras.Model(model.inputs, {"answer": answer,
                                               "gates": model.get_layer("gates").output})
        loss = {"answer": loss, "gates": keras.losses.SparseCategoricalCrossentropy(
            ignore_class=-1)}
    else:
        trainable = keras.Model(model.inputs, answer)
        train, validation = ((x, y["answer"]) for x, y in (train, validation))
    trainable.compile(
        optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay),
        loss=loss, metrics={"answer": ["accuracy"]} if config.supporting_facts else ["accuracy"])
    monitor, mode = _monitor(config)
    return trainable.fit(
        story_batches(*train, config.batch_size, config.seed, permutation),
        epochs=config.epochs, verbose=config.verbose, shuffle=False,  # shuffled by tf.data
        validation_data=story_batches(*validation, 256),
        callbacks=[keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=config.patience, restore_best_weights=True)])


def _monitor(config: QATrainConfig) -> tuple[str, str]:
    """The validation figure early stopping and restarts go by, and its better side."""
    monitor = config.monitor
    if config.supporting_facts:
        monitor = monitor.replace("val_accuracy", "val_answer_accuracy")
    return monitor, "min" if monitor.endswith("loss") else "max"


def _targets(config: QATrainConfig, preprocessor: BabiPreprocessor, examples: list[Example],
             answers: list[str]) -> tuple[dict, dict]:
    """Inputs, answer ids and per-pass supporting facts of the examples whose answer is
    known."""
    x, y = encode(preprocessor, examples, answers)
    kept = y >= 0
    gates = supporting_targets(examples, config.passes, preprocessor.max_facts)
    return {k: v[kept] for k, v in x.items()}, {"answer": y[kept], "gates": gates[kept]}


def supporting_targets(examples: list[Example], passes: int, max_facts: int) -> np.ndarray:
    """Per pass, the fact it should attend to: the supporting facts in their listed
    order, the last one repeated; -1 (ignored) where it fell out of the last `max_facts`."""
    targets = np.full((len(examples), passes), -1, dtype=np.int64)
    for i, e in enumerate(examples):
        for t in range(passes if e.supporting else 0):
            fact = e.supporting[min(t, len(e.supporting) - 1)] - _cut(e, max_facts)
            targets[i, t] = fact if fact >= 0 else -1
    return targets


def split_validation(examples: list[Example], fraction: float, seed: int,
                     ) -> tuple[list[Example], list[Example]]:
    """Training and validation examples, whole stories to one side: questions about a
    story share its facts, so splitting them would leak validation into training."""
    stories = sorted({(e.task, e.story) for e in examples})
    random.Random(seed).shuffle(stories)
    held = set(stories[:round(len(stories) * fraction)])
    return ([e for e in examples if (e.task, e.story) not in held],
            [e for e in examples if (e.task, e.story) in held])


def evaluate(model: keras.Model, preprocessor: BabiPreprocessor, answers: list[str],
             examples: list[Example]) -> tuple[dict[int, float], dict[int, float]]:
    """Held-out accuracy per task, and per task the share of questions whose last
    pass attends most to a supporting fact (answers-only training never sees them)."""
    x, y = encode(preprocessor, examples, answers)
    outputs = model.predict(x, verbose=0, batch_size=256)
    correct = outputs["answer"].argmax(-1) == y
    on_support = strongest_on_supporting(outputs["gates"], examples, preprocessor.max_facts)
    tasks = np.array([e.task for e in examples])
    per_task = sorted(set(tasks))
    return ({int(t): float(np.mean(correct[tasks == t])) for t in per_task},
            {int(t): float(np.mean(on_support[tasks == t])) for t in per_task})


def strongest_on_supporting(gates: np.ndarray, examples: list[Example],
                            max_facts: int) -> np.ndarray:
    """Whether each question's strongest last-pass gate is on one of its supporting
    facts; gates index the story's last `max_facts` facts."""
    strongest = gates[:, -1].argmax(axis=-1)
    return np.array([int(s) + _cut(e, max_facts) in e.supporting
                     for s, e in zip(strongest, examples, strict=True)], dtype=bool)


def _cut(example: Example, max_facts: int) -> int:
    """How many of the story's oldest facts the preprocessor leaves out."""
    return max(0, len(example.facts) - max_facts)


def load_trained(model_dir: str | Path) -> tuple[keras.Model, BabiPreprocessor, list[str]]:
    """The model, tokenizer and answer list saved by `train_qa`."""
    model_dir = Path(model_dir)
    model = keras.models.load_model(model_dir / MODEL_FILE)
    preprocessor = BabiPreprocessor(**json.loads((model_dir / PREPROCESSOR_FILE).read_text()))
    return model, preprocessor, (model_dir / ANSWERS_FILE).read_text().splitlines()


def _save(config: QATrainConfig, model, preprocessor, answers) -> Path:
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    settings = {k: preprocessor.get_config()[k] for k in ("words", "max_facts", "max_words")}
    (out / PREPROCESSOR_FILE).write_text(json.dumps(settings) + "\n")
    (out / ANSWERS_FILE).write_text("\n".join(answers) + "\n")
    return out
