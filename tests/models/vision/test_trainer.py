"""The trainer learns Fashion-MNIST: held-out accuracy far above chance, with its
class names and training artefacts saved beside the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.vision import fashion_mnist
from models.vision.trainer import load_trained

pytestmark = pytest.mark.fashion


def test_held_out_accuracy_is_far_above_chance(trained_classifier):
    assert trained_classifier.test_accuracy > 0.6  # chance is 0.1
    assert trained_classifier.epochs_run >= 1


def test_saved_model_predicts_held_out_images(trained_classifier, fashion_test_images):
    model, class_names = load_trained(trained_classifier.model_dir)
    images, labels = fashion_test_images
    predicted = model.predict(images.astype("float32"), verbose=0).argmax(axis=1)
    assert np.mean(predicted == labels) > 0.6
    assert class_names == fashion_mnist.CLASS_NAMES


def test_run_leaves_checkpoint_logs_and_metrics(trained_classifier):
    out = trained_classifier.model_dir
    assert (out / "checkpoints" / "best.keras").is_file()
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(trained_classifier.test_accuracy)
    assert metrics["config"]["seed"] == 1337
