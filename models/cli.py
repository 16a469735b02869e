"""`tfstack train`: training each model family."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import traceback


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `train` (with one sub-command per model) to the `tfstack` command."""
    parser = commands.add_parser("train", help="train a model")
    models = parser.add_subparsers(dest="model", required=True, metavar="MODEL")
    _register_classifier(models)
    _register_qa(models)
    _register_translator(models)


def training_config(args: argparse.Namespace, config_class: type, profiles: dict):
    """The training config: its own defaults, under the profile's settings, under the
    flags the user gave. A flag for a setting some profile sets defaults to None, so
    that leaving it out keeps the profile's value."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    settings = {**profiles[args.profile], **given}
    fields = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: v for k, v in settings.items() if k in fields})


def _register_translator(models: argparse._SubParsersAction) -> None:
    from models.translation.config import PROFILES, TranslatorTrainConfig

    defaults = TranslatorTrainConfig()
    parser = models.add_parser(
        "translator", help="seq2seq with Bahdanau attention (default: German -> English)",
        description="Train on sentence pairs and print sacreBLEU on the held-out test split.")
    parser.add_argument("--corpus", choices=("tatoeba", "ding"), default=defaults.corpus,
                        help="Tatoeba German-English (default; found in $TFSTACK_DATA_DIR, "
                             "../shared/data or downloaded) or the Ding dictionary's "
                             "sentences (Debian trans-de-en)")
    parser.add_argument("--data", help="a pairs file instead: deu-eng.zip, deu.txt or any "
                                       "tab-separated file, or a Ding dictionary file")
    parser.add_argument("--direction", default=defaults.direction, help="de-en or en-de")
    parser.add_argument("--tsv-languages", default=defaults.tsv_languages,
                        help="column order of a tab-separated file")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: smaller model, 2 epochs (default, as make up trains); "
                             "full: larger model, 3 epochs")
    parser.add_argument("--no-attention", dest="attention", action="store_false",
                        help="the plain seq2seq baseline: no attention")
    parser.add_argument("--cell", choices=("gru", "lstm"), default=defaults.cell,
                        help="encoder cell")
    parser.add_argument("--reverse-source", action="store_true",
                        help="read source sentences backwards")
    parser.add_argument("--lexicon", dest="lexicon", action="store_true", default=None,
                        help="also train on the Ding dictionary's word and phrase pairs "
                             "(default off: its sentences are the out-of-domain test set)")
    parser.add_argument("--no-lexicon", dest="lexicon", action="store_false", default=None,
                        help="train on sentence pairs only (the default)")
    parser.add_argument("--subwords", action="store_true", default=None,
                        help="WordPiece subword tokens instead of words")
    parser.add_argument("--max-vocabulary", type=int,
                        help="words (or pieces) per language "
                             f"(default: {defaults.max_vocabulary})")
    parser.add_argument("--epochs", type=int, help="overrides the profile's epochs")
    parser.add_argument("--units", type=int, help="overrides the profile's hidden size")
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--word-dropout", type=float,
                        help="share of whole words dropped from the inputs in training "
                             f"(default: {defaults.word_dropout}; quick profile: 0)")
    parser.add_argument("--label-smoothing", type=float,
                        help="share of each target word's probability spread over the "
                             f"vocabulary in the loss (default: {defaults.label_smoothing}; "
                             "quick profile: 0)")
    parser.add_argument("--batch-size", type=int,
                        help=f"(default: the profile's, else {defaults.batch_size})")
    parser.add_argument("--learning-rate", type=float,
                        help=f"(default: the profile's, else {defaults.learning_rate})")
    parser.add_argument("--patience", type=int,
                        help=f"(default: the profile's, else {defaults.patience})")
    parser.add_argument("--max-minutes", type=float,
                        help="stop after the epoch that would overrun this many minutes of "
                             "training, so fewer epochs on a slower machine (default: none; "
                             "each profile trains a fixed number of epochs)")
    parser.add_argument("--limit", type=int, help="use at most this many sentence pairs")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.set_defaults(handler=_train_translator)


def _train_translator(args: argparse.Namespace) -> int:
    from models.translation.config import PROFILES, TranslatorTrainConfig
    from models.translation.trainer import train_translator

    try:
        result = train_translator(training_config(args, TranslatorTrainConfig, PROFILES))
    except (FileNotFoundError, ValueError) as e:
        return failed(args, e)
    if result.corpus:
        print(f"corpus: {result.corpus['path']} (release {result.corpus['release']}, "
              f"sha256 {result.corpus['sha256']}, {result.corpus['pairs']} pairs)")
    print(f"test BLEU {result.bleu_beam:.1f} (beam), {result.bleu_greedy:.1f} (greedy) on "
          f"{result.pairs['test']} held-out pairs (validation {result.bleu_validation:.1f}, "
          f"beam); {result.epochs_run} epochs in {result.seconds:.0f} s"
          f"{_budget_note(result.time_budget)}; saved to {result.model_dir}")
    return 0


def _budget_note(budget: dict | None) -> str:
    """What --max-minutes did, for the result line ("" without it)."""
    if not budget:
        return ""
    if budget["stopped_training"]:
        return (f" (--max-minutes {budget['max_minutes']:g} stopped training after epoch "
                f"{budget['after_epochs']})")
    return f" (--max-minutes {budget['max_minutes']:g} did not stop training)"


def failed(args: argparse.Namespace, error: Exception) -> int:
    """Prints `error` as one message on stderr (after its traceback with `tfstack -v`)
    and gives the exit status of a failed run, 1."""
    if getattr(args, "verbose", False):
        traceback.print_exception(error)
    print(f"error: {error}", file=sys.stderr)
    return 1


def _register_qa(models: argparse._SubParsersAction) -> None:
    from models.qa.config import PROFILES, QATrainConfig

    defaults = QATrainConfig()
    parser = models.add_parser(
        "qa", help="Dynamic Memory Network (DMN+) on the bAbI tasks",
        description="Train on bAbI tasks (answers only unless --supporting-facts) and print "
                    "per-task test accuracy.")
    parser.add_argument("--tasks", help='comma-separated task numbers, or "all" '
                                        "(default: the profile's)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: task 1 (default); full: all 20 tasks jointly")
    parser.add_argument("--data", help="folder of qaN_*_train.txt / _test.txt files; "
                                       "without it (or if it holds none): "
                                       "$TFSTACK_DATA_DIR/babi/en, ../shared/data/babi/en, "
                                       "~/.cache/tfstack/babi/en, then the official bAbI "
                                       "v1.2 download into that cache (SHA-256 checked)")
    parser.add_argument("--epochs", type=int, help="overrides the profile's epochs")
    add_qa_model_flags(parser)
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.set_defaults(handler=_train_qa)


def add_qa_model_flags(parser: argparse.ArgumentParser) -> None:
    """The DMN+ model and training flags, named as `QATrainConfig`'s fields; shared with
    bench/qa_babi.py."""
    from models.qa.config import EPISODES, FUSIONS, UPDATES, QATrainConfig

    defaults = QATrainConfig()
    parser.add_argument("--units", type=int, default=defaults.units)
    parser.add_argument("--passes", type=int, default=defaults.passes)
    parser.add_argument("--input-fusion", choices=FUSIONS, default=defaults.input_fusion,
                        help="how facts see each other: the DMN+ bidirectional GRU over "
                             "them (replacing them, or added to them), self-attention "
                             "among them, or none")
    parser.add_argument("--temporal", action=argparse.BooleanOptionalAction,
                        default=defaults.temporal, help="a learned vector per fact age")
    parser.add_argument("--episode", choices=EPISODES,
                        help="how a memory pass reads the facts it attends to: the DMN+ "
                             "attention GRU, or their gate-weighted sum "
                             f"(default: the profile's, else {defaults.episode})")
    parser.add_argument("--update", choices=UPDATES,
                        help="memory update per pass: the DMN+ untied ReLU layer, or "
                             "memory + episode (end-to-end memory networks) "
                             f"(default: the profile's, else {defaults.update})")
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--supporting-facts", action="store_true",
                        help="also train each pass's attention on the supporting facts "
                             "(strong supervision; default: answers only)")
    parser.add_argument("--permute-entities", action=argparse.BooleanOptionalAction,
                        help="rename the answer words of a story at random in each "
                             "training example, where the answer is a story word "
                             "(default: the profile's, else off)")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--patience", type=int,
                        help="early stopping patience, in epochs "
                             f"(default: the profile's, else {defaults.patience})")
    parser.add_argument("--monitor", choices=("val_loss", "val_accuracy"),
                        default=defaults.monitor, help="what early stopping watches")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--restarts", type=int,
                        help="train from this many seeds (--seed, --seed + 1, ...) and keep "
                             "the model with the best validation score "
                             f"(default: the profile's, else {defaults.restarts})")


def _train_qa(args: argparse.Namespace) -> int:
    from models.qa.config import PROFILES, QATrainConfig
    from models.qa.trainer import train_qa

    try:
        result = train_qa(training_config(args, QATrainConfig, PROFILES))
    except (FileNotFoundError, ValueError) as e:
        return failed(args, e)
    for task, accuracy in result.task_accuracy.items():
        print(f"task {task:2d}  test accuracy {accuracy:.3f}  error {100 * (1 - accuracy):5.1f}%"
              f"  last pass on a supporting fact {100 * result.task_attention[task]:5.1f}%")
    if len(result.validation_scores) > 1:
        print("best validation score per restart (seed, seed + 1, ...): "
              + ", ".join(f"{score:.3f}" for score in result.validation_scores))
    errors = [1 - a for a in result.task_accuracy.values()]
    print(f"mean error {100 * sum(errors) / len(errors):.1f}%, "
          f"{sum(e <= 0.05 for e in errors)} tasks >= 95%, {result.epochs_run} epochs "
          f"in {result.seconds:.0f} s; saved to {result.model_dir}")
    return 0


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
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="quick: a few epochs (default, as make up trains); full: train "
                             "to convergence")
    parser.add_argument("--epochs", type=int, help="overrides the profile's epochs")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="early stopping patience, in epochs")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction,
                        help="random flips and shifts of the training images (default: "
                             "on; quick profile: off)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit", type=int, help="use at most this many images per split")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.set_defaults(handler=_train_classifier)


def _train_classifier(args: argparse.Namespace) -> int:
    from models.vision.config import PROFILES, ClassifierTrainConfig
    from models.vision.trainer import train_classifier

    try:
        result = train_classifier(training_config(args, ClassifierTrainConfig, PROFILES))
    except (FileNotFoundError, ValueError) as e:
        return failed(args, e)
    print(f"test accuracy {result.test_accuracy:.4f} after {result.epochs_run} epochs "
          f"in {result.seconds:.0f} s; saved to {result.model_dir}")
    return 0
