"""Training settings of the classifier as plain data (no TensorFlow import)."""

from __future__ import annotations

from dataclasses import dataclass, field

# `quick` is what `make up` trains on a first run; `full` trains to convergence
# (early stopping ends it sooner when validation loss stalls). Four epochs are too few
# for augmentation to pay: validation accuracy 0.916 without it, 0.887 with it
# (docs/models/classifier.md).
PROFILES: dict[str, dict] = {
    "quick": dict(epochs=4, augment=False),
    "full": dict(epochs=15),
}


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Settings of a classifier training run; the defaults train the `full` profile
    on Fashion-MNIST."""

    source: str = "fashion_mnist"
    preset: str = "fashion_mnist"
    output_dir: str = "artifacts/classifier"
    epochs: int = PROFILES["full"]["epochs"]
    batch_size: int = 128
    learning_rate: float = 2e-3
    patience: int = 3
    augment: bool = True
    seed: int = 1337
    limit: int | None = None
    validation_size: int = 5000
    verbose: int = 1
    overrides: dict = field(default_factory=dict)
