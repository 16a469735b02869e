"""What the benchmarks share: real images, the newest exported model, timing."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tfstack.quiet import quiet_tensorflow

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
quiet_tensorflow()  # TensorFlow's logs off the benchmark's output, as for tfstack

import tensorflow as tf  # noqa: E402

from export.repository import versions  # noqa: E402


def sample_pngs(count: int) -> list[bytes]:
    """The first `count` official Fashion-MNIST test images, PNG-encoded."""
    from models.vision import fashion_mnist

    _, (images, _) = fashion_mnist.load()
    return [tf.io.encode_png(image).numpy() for image in images[:count]]


def model_root(repository: str, model: str = "classifier") -> tuple[Path, int]:
    """A model's folder and newest version; exits with advice if there is none."""
    root = Path(repository) / model
    found = versions(root)
    if not found:
        sys.exit(f"no {model} version in {root}; run `make up` first")
    return root, found[-1]


BENCH_REPOSITORY = Path("artifacts/bench/model_repository")


def classifier_root(repository: str) -> tuple[Path, int]:
    """The newest classifier version in `repository`; without one, a classifier
    trained for one short epoch into artifacts/bench/ on first use and reused after:
    the same network, so the same cost per image, only less accurate."""
    if versions(Path(repository) / "classifier"):
        return model_root(repository)
    if not versions(BENCH_REPOSITORY / "classifier"):
        from export.classifier import export_classifier
        from models.vision.config import ClassifierTrainConfig
        from models.vision.trainer import train_classifier

        print(f"no classifier in {repository}: training a quick one into {BENCH_REPOSITORY}",
              file=sys.stderr)
        trained = train_classifier(ClassifierTrainConfig(
            epochs=1, limit=2000, validation_size=500, augment=False, verbose=0,
            output_dir=str(BENCH_REPOSITORY.parent / "classifier")))
        export_classifier(trained.model_dir, BENCH_REPOSITORY)
    return model_root(str(BENCH_REPOSITORY))


def in_process_signature(root: Path, version: int):
    """The classifier's serving_default signature, loaded in this process."""
    return tf.saved_model.load(str(root / str(version))).signatures["serving_default"]


def rate(call, items: list, warmup: int = 20) -> float:
    """Calls per second of `call` over `items`, after a few untimed calls."""
    for item in items[:warmup]:
        call(item)
    started = time.perf_counter()
    for item in items:
        call(item)
    return len(items) / (time.perf_counter() - started)


def best_batched_rate(signature, images: list[bytes], sizes=(8, 16, 32, 64)) -> tuple[float, int]:
    """The highest images/s over whole-batch calls, and the batch size reaching it."""
    best = (0.0, 0)
    for size in sizes:
        batches = [images[i:i + size] for i in range(0, len(images) - size + 1, size)]
        signature(image_bytes=tf.constant(batches[0]))
        started = time.perf_counter()
        for batch in batches:
            signature(image_bytes=tf.constant(batch))
        best = max(best, (len(batches) * size / (time.perf_counter() - started), size))
    return best
