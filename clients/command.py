"""The `tfstack` command: one parser whose sub-commands each package registers
through the `tfstack.commands` entry-point group, so packages stay independent."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "tfstack.commands"


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every registered package's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tfstack", description="Train, export, serve and call Keras models "
                                    "over TensorFlow Serving's protocol.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        entry_point.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parses `argv`, runs the chosen sub-command and returns its exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
