"""`tfstack train`: training each model family."""

from __future__ import annotations

import argparse
import dataclasses


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `train` (with one sub-command per model) to the `tfstack` command."""
    parser = commands.add_parser("train", help="train a model")
    models = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    _register_classifier(models)


def _register_classifier(models: argparse._SubParsersAction) -> None:
    from models.vision.config import PROFILES, ClassifierTrainConfig
    from models.vision.presets import PRESETS

    defaults = ClassifierTrainConfig()
    parser = models.add_parser(
        "classifier", help="AlexNet-style CNN (default: Fashion-MNIST)",
        description="Train the image classifier and save it with its class names.")
    parser.add_argument("--source", default=defaults.source,
                        help="fashion_mnist | tfds:NAME | folder of IDX files | image folder "
                             "(one sub-folder per class)")
    parser.add_argument("--preset", default=defaults.preset, choices=sorted(PRESETS))
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full",
                        help="full: train to convergence (default); quick: a few epochs")
    parser.add_argument("--epochs", type=int, help="overrides the profile's epochs")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="early stopping patience, in epochs")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit", type=int, help="use at most this many images per split")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.set_defaults(handler=_train_classifier)


def _train_classifier(args: argparse.Namespace) -> int:
    from models.vision.config import PROFILES, ClassifierTrainConfig
    from models.vision.trainer import train_classifier

    settings = {**vars(args), **PROFILES[args.profile]}
    if args.epochs:
        settings["epochs"] = args.epochs
    fields = {f.name for f in dataclasses.fields(ClassifierTrainConfig)}
    result = train_classifier(
        ClassifierTrainConfig(**{k: v for k, v in settings.items() if k in fields})
    )
    print(f"test accuracy {result.test_accuracy:.4f} after {result.epochs_run} epochs "
          f"in {result.seconds:.0f} s; saved to {result.model_dir}")
    return 0
