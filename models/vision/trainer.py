"""Training the image classifier: `tfstack train classifier`."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras

from models.vision.alexnet import AlexNetClassifier
from models.vision.config import ClassifierTrainConfig
from models.vision.datasets import batches, load_image_data
from models.vision.presets import PRESETS

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"
METRICS_FILE = "metrics.json"



@dataclass(frozen=True)
class TrainResult:
    """Where the trained model went and how well it does on the test split."""

    model_dir: Path
    test_accuracy: float
    test_loss: float
    epochs_run: int
    seconds: float


def augmentation(seed: int) -> keras.Sequential:
    """Mild geometric augmentation: mirror images and shifts of up to 10%."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed + 1),
        ],
        name="augmentation",
    )


def train_classifier(config: ClassifierTrainConfig) -> TrainResult:
    """Trains, evaluates on the held-out test split, and saves the model with its
    class names (`labels.txt`, one per line, in label-index order)."""
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    data = load_image_data(config.source, config.validation_size, config.limit, config.seed)
    model = AlexNetClassifier.from_preset(
        config.preset, num_classes=len(data.class_names), **config.overrides
    )
    size, channels = model.image_size, model.channels
    train = batches(data.train, config.batch_size, size, channels,
                    augmentation(config.seed) if config.augment else None, config.seed)
    validation = batches(data.validation, config.batch_size, size, channels)
    model.compile(
        optimizer=keras.optimizers.AdamW(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = model.fit(
        train, validation_data=validation, epochs=config.epochs,
        callbacks=_callbacks(out, config), verbose=config.verbose, shuffle=False,
    )
    loss, accuracy = model.evaluate(
        batches(data.test, config.batch_size, size, channels), verbose=0
    )
    model.save(out / MODEL_FILE)
    (out / LABELS_FILE).write_text("\n".join(data.class_names) + "\n")
    result = TrainResult(out, float(accuracy), float(loss), len(history.epoch),
                         time.monotonic() - started)
    _write_metrics(out, config, result, history.history)
    return result  # printed by the command, not logged


def load_trained(model_dir: str | Path) -> tuple[AlexNetClassifier, tuple[str, ...]]:
    """Loads a model saved by `train_classifier` together with its class names."""
    model_dir = Path(model_dir)
    model = keras.models.load_model(model_dir / MODEL_FILE)
    class_names = tuple((model_dir / LABELS_FILE).read_text().splitlines())
    return model, class_names


def cosine_decay(initial: float, epochs: int):
    """Per-epoch cosine decay from `initial` towards zero over the run."""
    return lambda epoch: initial * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1)))


def _callbacks(out: Path, config: ClassifierTrainConfig) -> list[keras.callbacks.Callback]:
    (out / "checkpoints").mkdir(exist_ok=True)
    return [
        keras.callbacks.ModelCheckpoint(
            out / "checkpoints" / "best.keras", monitor="val_accuracy", save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.LearningRateScheduler(cosine_decay(config.learning_rate, config.epochs)),
        keras.callbacks.TensorBoard(log_dir=str(out / "logs")),
    ]


def _write_metrics(out: Path, config: ClassifierTrainConfig, result: TrainResult,
                   history: dict[str, list[float]]) -> None:
    """metrics.json: test figures, the learning curve (validation figures by epoch: the
    ones to compare settings by), the config and the preset."""
    metrics = {
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 1),
        "config": asdict(config),
        "preset": PRESETS.get(config.preset),
        "history": {name: [float(x) for x in values] for name, values in history.items()},
    }
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
