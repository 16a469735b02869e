"""The `tfstack` command: one parser whose sub-commands each package registers
through the `tfstack.commands` entry-point group, so packages stay independent.

Registering imports no TensorFlow (each package imports it in its handlers), so a
client command starts in a fraction of a second. A package whose dependencies
this install lacks (a client-only install has no TensorFlow) still gets its
command, which says what to install.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from tfstack.quiet import quiet_tensorflow

ENTRY_POINT_GROUP = "tfstack.commands"
# The extra that installs what a command needs (pyproject.toml), by command and by
# entry point.
EXTRAS = {"train": "train", "export": "train", "label": "train", "serve": "serve"}
# Top-level modules of those extras: a command missing one says what to install.
OPTIONAL_MODULES = {"tensorflow", "keras", "tensorflow_serving", "tensorflow_datasets",
                    "tensorboard", "sacrebleu", "tokenizers", "aiohttp", "prometheus_client",
                    "grpc_reflection"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with every registered package's sub-commands; given the `command`
    about to run, only the packages up to the one that registers it (in name order,
    `client` first), so that a client command loads no other package."""
    parser = argparse.ArgumentParser(
        prog="tfstack", description="Train, export, serve and call Keras models "
                                    "over TensorFlow Serving's protocol.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, and TensorFlow's own logs (quiet by default)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            entry_point.load()(commands)
        except ImportError as e:
            if entry_point.name not in commands.choices:
                _add_unavailable(commands, entry_point.name, e)
        if command is not None and command in commands.choices:
            break
    return parser


def _add_unavailable(commands: argparse._SubParsersAction, name: str, error: ImportError):
    """A stand-in for a package's command: takes any arguments, says what to install."""
    hint = f"pip install 'tfstack[{EXTRAS.get(name, 'all')}]'"
    stand_in = commands.add_parser(name, help=f"(not installed here: {hint})", add_help=False,
                                   prefix_chars="\0")  # every argument is taken as is
    stand_in.add_argument("arguments", nargs="*")

    def unavailable(args: argparse.Namespace) -> int:
        missing = error.name or str(error)
        print(f"error: tfstack {name} needs {missing}, which this install lacks: {hint}",
              file=sys.stderr)
        return 2

    stand_in.set_defaults(handler=unavailable)


def global_flags(argv: list[str]) -> tuple[bool, str | None]:
    """Whether `-v`/`--verbose` comes before the sub-command (where the flag belongs),
    and the sub-command's name (None without one)."""
    verbose = False
    for token in argv:
        if not token.startswith("-"):
            return verbose, token
        verbose = verbose or token in ("-v", "--verbose")
    return verbose, None


def main(argv: list[str] | None = None) -> int:
    """Parses `argv`, runs the chosen sub-command and returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # the same numbers, -v or not
    verbose, command = global_flags(argv)
    if not verbose:
        quiet_tensorflow()  # before anything can import TensorFlow
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in OPTIONAL_MODULES:
            raise
        extra = EXTRAS.get(args.command, "all")
        print(f"error: tfstack {args.command} needs {e.name}, which this install lacks: "
              f"pip install 'tfstack[{extra}]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
