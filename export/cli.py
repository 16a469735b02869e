"""`tfstack export`: writing trained models as new versions of the model repository."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from contract.defaults import MAX_WARMUP_RECORDS, TOP_K
from export.locations import DEFAULT_CONFIG_FILE, DEFAULT_REPOSITORY

_OP_PREFIX = re.compile(r"^\{\{[^}]*\}\}\s*")  # TensorFlow's "{{function_node ...}}"
_OP_SUFFIX = re.compile(r"\s*\[Op:\w+\]\s*$")


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `export` (with one sub-command per model) to the `tfstack` command."""
    parser = commands.add_parser("export", help="export a trained model as a new version")
    models = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    classifier = models.add_parser(
        "classifier", help="image classifier: image bytes in, top-k labels out")
    _add_export_flags(classifier, "classifier")
    classifier.add_argument("--top-k", type=int, default=TOP_K,
                            help="labels returned per image")
    classifier.add_argument(
        "--max-image-pixels", type=_positive, default=50_000_000, metavar="PIXELS",
        help="refuse (INVALID_ARGUMENT, before decoding) an image whose header declares "
             "more than this many pixels, width x height (default: %(default)s)")
    classifier.add_argument(
        "--max-request-pixels", type=_positive, default=None, metavar="PIXELS",
        help="refuse (INVALID_ARGUMENT, before decoding) a request whose images' headers "
             "declare more than this many pixels in all, at least --max-image-pixels "
             "(default: 100000000, or --max-image-pixels if more)")
    classifier.set_defaults(handler=_export_classifier)

    qa = models.add_parser("qa", help="question answering: story + question in, answer out")
    _add_export_flags(qa, "qa")
    qa.set_defaults(handler=_export_qa)

    translator = models.add_parser(
        "translator", help="translation: sentences in, translation + attention out")
    _add_export_flags(translator, "translator")
    translator.add_argument("--beam-width", type=int, default=4,
                            help="hypotheses kept by serving_default's beam search")
    translator.add_argument("--alpha", type=float, default=1.0,
                            help="length normalisation: score = log-prob / length ** alpha")
    translator.set_defaults(handler=_export_translator)

    warmup = commands.add_parser(
        "warmup", help="turn request logs into a version's warm-up records",
        description="Reads the TFRecord files a model's logging_config writes (each a "
                    "PredictionLog, the warm-up format) and writes their first requests "
                    "as VERSION_DIR/assets.extra/tf_serving_warmup_requests, replayed "
                    "before that version serves.")
    warmup.add_argument("version_dir", help="the version folder to warm up")
    warmup.add_argument("logs", nargs="+", help="request log files, oldest first")
    warmup.add_argument("--model", help="only this model's requests")
    warmup.add_argument("--max-records", type=_warmup_records, default=MAX_WARMUP_RECORDS,
                        help="requests kept, at most %(default)s: TF Serving refuses a "
                             "warm-up file with more (saved_model_warmup_util.cc)")
    warmup.set_defaults(handler=_warmup)

    label = commands.add_parser(
        "label", help="point a version label (stable, canary, ...) at a version",
        description="Edits the model config file; servers polling it apply the change.")
    label.add_argument("model")
    label.add_argument("label")
    label.add_argument("version", type=int, nargs="?",
                       help="the version; leave out with --remove")
    label.add_argument("--remove", action="store_true", help="drop the label")
    label.add_argument("--config", default=DEFAULT_CONFIG_FILE)
    label.set_defaults(handler=_label)


def _warmup_records(text: str) -> int:
    value = _positive(text)
    if value > MAX_WARMUP_RECORDS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_WARMUP_RECORDS}, which TF Serving replays; got {value}")
    return value


def _warmup(args: argparse.Namespace) -> int:
    import tensorflow as tf

    from export.warmup import records_from_logs, write_warmup

    try:
        records = records_from_logs(args.logs, args.model, args.max_records)
        if not records:
            print(f"error: no replayable requests in {', '.join(args.logs)}"
                  + (f" for model {args.model}" if args.model else ""), file=sys.stderr)
            return 1
        path = write_warmup(args.version_dir, records)
    except (OSError, ValueError, tf.errors.OpError) as e:  # unreadable, corrupt, full
        print(f"error: {_reason(e)}", file=sys.stderr)
        return 1
    print(f"{path}: {len(records)} warm-up records")
    return 0


def _add_export_flags(parser: argparse.ArgumentParser, model: str) -> None:
    """The flags every `tfstack export MODEL` takes: where from, where to, labels."""
    parser.add_argument("--model-dir", default=f"artifacts/{model}",
                        help=f"where `tfstack train {model}` saved the model")
    parser.add_argument("--repository", default=DEFAULT_REPOSITORY)
    parser.add_argument("--label", action="append", default=[], metavar="LABEL",
                        help="point this version label (e.g. canary) at the new version")
    parser.add_argument("--config", default=None,
                        help=f"TF Serving model config file to keep in step (default: "
                             f"{DEFAULT_CONFIG_FILE} for {DEFAULT_REPOSITORY}/, "
                             "REPOSITORY/models.config for any other repository)")


def _export_classifier(args: argparse.Namespace) -> int:
    from export.classifier import export_classifier

    return _export(args, "classifier", lambda: export_classifier(
        args.model_dir, args.repository, args.top_k, args.max_image_pixels,
        args.max_request_pixels))


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _export_qa(args: argparse.Namespace) -> int:
    from export.qa import export_qa

    return _export(args, "qa", lambda: export_qa(args.model_dir, args.repository))


def _export_translator(args: argparse.Namespace) -> int:
    from export.translator import export_translator

    return _export(args, "translator", lambda: export_translator(
        args.model_dir, args.repository, args.beam_width, args.alpha))


def _export(args: argparse.Namespace, model: str, export: Callable[[], tuple[int, Path]]
            ) -> int:
    """Writes the new version with `export`, then lists it. A write that fails (a full
    disk) is one line, not a traceback; `write_version` has left no version behind."""
    import tensorflow as tf

    try:
        version, path = export()
    except (OSError, tf.errors.OpError) as e:
        print(f"error: cannot export {model} to {args.repository}: {_reason(e)}; "
              "no version was added", file=sys.stderr)
        return 1
    return _list(args, model, version, path)


def _reason(error: Exception) -> str:
    """Why a write failed, in a few words: an OSError's, or the end of TensorFlow's
    file error ("{{function_node ...}} FILE; No space left on device [Op:SaveV2]")."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    message = _OP_SUFFIX.sub("", _OP_PREFIX.sub("", getattr(error, "message", str(error))))
    return message.strip().rpartition("; ")[2]


def _list(args: argparse.Namespace, model: str, version: int, path: Path) -> int:
    """Lists the new version in the model config, under the requested labels."""
    from export.model_config import config_file_for, register_model

    config = args.config or config_file_for(args.repository)
    try:
        register_model(config, model, path.parent, {label: version for label in args.label})
    except OSError as e:
        print(f"error: exported {model} version {version} to {path}, but cannot update "
              f"{config}: {_reason(e)}", file=sys.stderr)
        return 1
    print(f"exported {model} version {version} to {path}; listed in {config}"
          + (f" as {', '.join(args.label)}" if args.label else ""))
    return 0


def _label(args: argparse.Namespace) -> int:
    from export.model_config import set_label  # needs TF Serving's config messages

    if (args.version is None) != args.remove:
        print("error: give a VERSION, or --remove", file=sys.stderr)
        return 2
    try:
        set_label(args.config, args.model, args.label, None if args.remove else args.version)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.model}: label {args.label} "
          + ("removed" if args.remove else f"-> version {args.version}") + f" in {args.config}")
    return 0
