"""Client sub-commands of `tfstack`: `classify`, `score`, `ask`, `translate` and `status`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from contract.defaults import TOP_K

if TYPE_CHECKING:
    from clients.client import ServingClient

logger = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the client sub-commands to the `tfstack` command."""
    classify = commands.add_parser("classify", help="top-k labels of image files, over gRPC")
    classify.add_argument("files", nargs="+", type=Path, metavar="FILE",
                          help="JPEG/PNG/BMP/GIF images")
    classify.add_argument("--top-k", type=int, default=TOP_K)
    classify.add_argument("--model", default="classifier")
    classify.add_argument("--json", action="store_true", help="print JSON lines")
    _add_batch_flag(classify, "images")
    _add_server_flags(classify)
    classify.set_defaults(handler=_classify)

    _register_score(commands)

    ask = commands.add_parser("ask", help="ask the QA model questions about a story",
                              description="Prints each question's answer, in order, with "
                                          "the facts the last memory pass attended to.")
    ask.add_argument("questions", nargs="+", metavar="QUESTION", help="questions, each quoted")
    ask.add_argument("--story", type=Path, required=True, help="text file, one fact a line")
    ask.add_argument("--gates", type=Path, metavar="PNG",
                     help="save a heatmap of the memory passes' attention over the facts; "
                          "with several questions, one file each (out-1.png, ...)")
    ask.add_argument("--model", default="qa")
    ask.add_argument("--json", action="store_true",
                     help="print one JSON object per question, everything included")
    _add_batch_flag(ask, "questions")
    _add_server_flags(ask)
    ask.set_defaults(handler=_ask)

    translate = commands.add_parser(
        "translate", help="translate sentences with the translator model",
        description="Prints one translation per sentence, in order, with its score "
                    "(length-normalised log-probability, 0 is best).")
    translate.add_argument("sentences", nargs="+", metavar="SENTENCE",
                           help="source sentences, each quoted")
    translate.add_argument("--greedy", action="store_true",
                           help="greedy decoding instead of beam search (faster)")
    translate.add_argument("--attention", type=Path, metavar="PNG",
                           help="save a heatmap of the attention; with several sentences, "
                                "one file each: out.png becomes out-1.png, out-2.png, ...")
    translate.add_argument("--model", default="translator")
    translate.add_argument("--json", action="store_true",
                           help="print one JSON object per sentence, attention included")
    _add_batch_flag(translate, "sentences")
    _add_server_flags(translate)
    translate.set_defaults(handler=_translate)

    status = commands.add_parser("status", help="versions and states of served models")
    status.add_argument("model", nargs="?", metavar="MODEL",
                        help="one model (default: every tfstack endpoint)")
    _add_server_flags(status)
    status.set_defaults(handler=_status)


def _ask(args: argparse.Namespace) -> int:
    from clients.errors import ClientError

    if not args.story.is_file():
        print(f"error: no such file: {args.story}", file=sys.stderr)
        return 2
    try:
        with _connect(args) as client:
            answers = client.ask(args.story.read_text(encoding="utf-8"), args.questions,
                                 model=args.model, batch_size=args.batch_size)
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.gates:
        from clients.plots import plot_gates

        for path, question, answer in zip(_numbered(args.gates, len(answers)), args.questions,
                                          answers, strict=True):
            plot_gates(answer, question, path)
    for answer in answers:
        if args.json:
            print(json.dumps(asdict(answer)))
            continue
        print(f"{answer.answer}  (probability {answer.probability:.3f})")
        for fact, gate in answer.supporting():
            print(f"  {gate:.2f}  {fact}")
    return 0


def _translate(args: argparse.Namespace) -> int:
    from clients.errors import ClientError

    try:
        with _connect(args) as client:
            results = client.translate(args.sentences, greedy=args.greedy, model=args.model,
                                       batch_size=args.batch_size)
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.attention:
        from clients.plots import plot_attention

        for path, result in zip(_numbered(args.attention, len(results)), results, strict=True):
            plot_attention(result, path)
    for sentence, result in zip(args.sentences, results, strict=True):
        if args.json:
            print(json.dumps({"source": sentence, **asdict(result)}, ensure_ascii=False))
        else:
            print(f"{result.translation}  (score {result.score:.3f})")
    return 0


def _numbered(path: Path, count: int) -> list[Path]:
    """`path` itself for one file, else `stem-1.suffix`, `stem-2.suffix`, ..."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


def _register_score(commands: argparse._SubParsersAction) -> None:
    from clients.channels import add_security_flags
    from clients.scoring.config import ScoreConfig
    from clients.scoring.files import INPUT_FORMATS, OUTPUT_FORMATS

    defaults = ScoreConfig(model="", input="", output="")
    score = commands.add_parser(
        "score", help="batch-score a file or folder into JSONL/CSV, resumably",
        description="One result row per input, in input order; --resume skips what the "
                    "output already holds, so every input ends up there exactly once.")
    score.add_argument("model", help="endpoint, e.g. classifier")
    score.add_argument("input", help="folder of images, or a text/JSONL/CSV/TSV file")
    score.add_argument("-o", "--output", required=True, help="results, .jsonl or .csv")
    score.add_argument("--input-format", choices=INPUT_FORMATS, help="default: from the path")
    score.add_argument("--output-format", choices=OUTPUT_FORMATS,
                       help="default: from the extension")
    score.add_argument("--column", help="JSONL/CSV field holding each input")
    score.add_argument("--id-column", default=defaults.id_column,
                       help="JSONL/CSV field holding each input's id")
    score.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help="inputs per request, at most the server's max_batch_size "
                            "(default: %(default)s)")
    score.add_argument("--concurrency", type=int, default=defaults.concurrency,
                       help="batches in flight")
    score.add_argument("--retries", type=int, default=defaults.retries,
                       help="retries of a batch on UNAVAILABLE/DEADLINE_EXCEEDED/"
                            "RESOURCE_EXHAUSTED")
    score.add_argument("--max-errors", type=int, help="stop after this many error rows")
    score.add_argument("--resume", action="store_true", help="continue an interrupted run")
    score.add_argument("--top-k", type=int, default=defaults.top_k)
    score.add_argument("--no-progress", dest="progress", action="store_false")
    score.add_argument("--server", default=defaults.server,
                       help="HOST:PORT, several IP:PORT comma-separated, or dns:///NAME:PORT")
    score.add_argument("--deadline", type=float, default=defaults.deadline,
                       help="seconds per request")
    add_security_flags(score)
    beam = score.add_argument_group(
        "Apache Beam (pip install 'tfstack[beam]')",
        "With --runner the same job runs as a Beam pipeline; arguments tfstack does not "
        "know are Beam pipeline options (--direct_num_workers=2, --project=..., "
        "--temp_location=gs://...).")
    beam.add_argument("--runner", help="DirectRunner, DataflowRunner, FlinkRunner, "
                                       "SparkRunner, ...")
    beam.add_argument("--num-shards", type=int, default=0, metavar="N",
                      help="output files OUTPUT-SSSSS-of-NNNNN; 1: the one file OUTPUT, "
                           "rows in input order (default: as the runner decides)")
    beam.add_argument("--model-path", metavar="DIR",
                      help="run this SavedModel (model_repository/classifier/N, gs://...) "
                           "in each worker instead of calling --server")
    _keep_unknown_args(score)
    score.set_defaults(handler=_score)


def _keep_unknown_args(parser: argparse.ArgumentParser) -> None:
    """Puts the arguments `parser` does not know in `args.pipeline_args` instead of
    refusing them (Beam's parse_known_args idiom, within a sub-command)."""
    parse_known_args = parser.parse_known_args

    def keeping(args=None, namespace=None):
        namespace, unknown = parse_known_args(args, namespace)
        namespace.pipeline_args = [*getattr(namespace, "pipeline_args", ()), *unknown]
        return namespace, []

    parser.parse_known_args = keeping


def _score(args: argparse.Namespace) -> int:
    from clients.errors import ClientError
    from clients.scoring.files import OutputFailed
    from clients.scoring.local import ServerUnavailable, score

    try:
        config = _score_config(args)
        if args.runner:
            return _score_with_beam(config)
        summary = score(config)
    except OutputFailed as e:  # a full disk: the run stops, resumable
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ClientError as e:  # an answer the server got wrong: the run stops, resumable
        print(f"error: {e}; the rows written before are whole: run again with --resume "
              "once the server answers as it should", file=sys.stderr)
        return 1
    except ServerUnavailable as e:
        print(f"error: the server stayed unavailable: {e}\n{config.output}: {e.summary}; "
              "every row written is complete: run again with --resume to continue",
              file=sys.stderr)
        return 1
    print(f"{config.output}: {summary}", file=sys.stderr)
    return 1 if summary.stopped_early else 0


def _score_config(args: argparse.Namespace):
    """The run's config: `BeamConfig` with --runner, else `ScoreConfig`. A flag only
    the other runner reads is refused (ValueError), not ignored."""
    import dataclasses

    from clients.channels import security_from_args
    from clients.scoring.config import BeamConfig, ScoreConfig

    runner, other = (BeamConfig, ScoreConfig) if args.runner else (ScoreConfig, BeamConfig)
    own = {f.name for f in dataclasses.fields(runner)}
    values = {**vars(args), "pipeline_args": tuple(args.pipeline_args)}
    defaults = other(model="", input="", output="")
    theirs = {f.name for f in dataclasses.fields(other)} - own - {"runner", "progress"}
    given = [name for name in theirs if values[name] != getattr(defaults, name)]
    if given and args.runner:
        raise ValueError(f"{', '.join(_flag(name) for name in sorted(given))}: for the local "
                         "scorer; a Beam run writes its output whole or not at all")
    if given:
        flags = args.pipeline_args or [_flag(name) for name in sorted(given)]
        raise ValueError(f"{' '.join(flags)}: Beam pipeline options need --runner")
    return runner(**{k: v for k, v in values.items() if k in own and v is not None},
                  security=security_from_args(args))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _score_with_beam(config) -> int:
    """`tfstack score --runner ...`: the job as an Apache Beam pipeline."""
    try:
        from clients.scoring.beam import PipelineFailed, run_pipeline
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("apache_beam"):
            raise
        print("error: --runner needs Apache Beam: pip install 'tfstack[beam]'",
              file=sys.stderr)
        return 2
    try:
        summary = run_pipeline(config)
    except PipelineFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{config.output}: {summary}", file=sys.stderr)
    return 0


def _add_batch_flag(parser: argparse.ArgumentParser, inputs: str) -> None:
    from contract.defaults import BATCH_SIZE

    parser.add_argument("--batch-size", type=_positive, default=BATCH_SIZE, metavar="N",
                        help=f"{inputs} per request, at most the server's max_batch_size "
                             "(default: %(default)s)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    from clients.channels import add_security_flags
    from clients.client import DEFAULT_DEADLINE
    from contract.defaults import DEFAULT_TARGET

    parser.add_argument("--server", default=DEFAULT_TARGET, help="HOST:PORT of the server")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE,
                        help="seconds per call")
    add_security_flags(parser)


def _connect(args: argparse.Namespace) -> ServingClient:
    """A `ServingClient` for `--server` with the TLS and token flags; a bad flag (a
    missing file, a certificate without its key) exits with status 2 and says why."""
    from clients.channels import security_from_args
    from clients.client import ServingClient

    try:
        return ServingClient(args.server, args.deadline, security=security_from_args(args))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from e


def _classify(args: argparse.Namespace) -> int:
    from clients.errors import ClientError

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        with _connect(args) as client:
            results = client.classify(args.files, args.top_k, model=args.model,
                                      batch_size=args.batch_size)
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path, result in zip(args.files, results, strict=True):
        if args.json:
            print(json.dumps({"file": str(path), "labels": [asdict(x) for x in result.labels]}))
        else:
            labels = ", ".join(f"{label.name} {label.score:.3f}" for label in result.labels)
            print(f"{path}: {labels}")
    return 0


def _status(args: argparse.Namespace) -> int:
    """One line per version; without MODEL, every endpoint of the wire contract."""
    import grpc

    from clients.errors import ClientError
    from contract.endpoints import ENDPOINTS

    models = [args.model] if args.model else sorted(ENDPOINTS)
    with _connect(args) as client:
        for model in models:
            try:
                versions = client.status(model)
            except ClientError as e:
                if e.code != grpc.StatusCode.NOT_FOUND or args.model:
                    print(f"error: {e}", file=sys.stderr)
                    return 1
                print(f"{model}  not served")
                continue
            for v in versions:
                error = f"  {v.error_code}: {v.error_message}" if v.error_message else ""
                print(f"{model}  version {v.version}  {v.state}{error}")
    return 0
