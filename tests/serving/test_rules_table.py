"""docs/serving.md's table of TF Serving's rules is kept true: each message is in the
server's code, and each test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (?P<rule>[^|]+) \| (?P<source>[^|]+) \| `(?P<message>[^`]+)` \| "
                 r"`(?P<test>[^`]+)` \|$")
ROWS = [m.groupdict() for line in (ROOT / "docs/serving.md").read_text().splitlines()
        if (m := ROW.match(line))]
SERVER_CODE = "".join(p.read_text() for p in (ROOT / "serving").glob("*.py"))


def test_the_table_has_rules():
    assert len(ROWS) >= 10


@pytest.mark.parametrize("row", ROWS, ids=[r["rule"][:40] for r in ROWS])
def test_each_message_is_the_servers(row):
    # the message may be split over adjacent string literals in the code
    pieces = [piece for piece in re.split(r"\{[^}]*\}", row["message"]) if piece.strip()]
    joined = re.sub(r'"\s*\n\s*f?"', "", SERVER_CODE)
    for piece in pieces:
        assert piece in joined, f"{piece!r} is not in serving/"


@pytest.mark.parametrize("row", ROWS, ids=[r["rule"][:40] for r in ROWS])
def test_each_named_test_exists(row):
    path, name = row["test"].split("::")
    tree = ast.parse((ROOT / path).read_text())
    assert name in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert row["source"].strip().startswith("`")
