"""`tfstack export`: writing trained models as new versions of the model repository."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `export` (with one sub-command per model) to the `tfstack` command."""
    parser = commands.add_parser("export", help="export a trained model as a new version")
    models = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    classifier = models.add_parser(
        "classifier", help="image classifier: image bytes in, top-k labels out")
    classifier.add_argument("--model-dir", default="artifacts/classifier",
                            help="where `tfstack train classifier` saved the model")
    classifier.add_argument("--repository", default="model_repository")
    classifier.add_argument("--top-k", type=int, default=5,
                            help="labels returned per image")
    classifier.set_defaults(handler=_export_classifier)


def _export_classifier(args: argparse.Namespace) -> int:
    from export.classifier import export_classifier

    version, path = export_classifier(args.model_dir, args.repository, args.top_k)
    print(f"exported classifier version {version} to {path}")
    return 0
