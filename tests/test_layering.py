"""The one-way flow of DESIGN.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"models", "export", "serving", "clients"}
FORBIDDEN = {
    "models": OURS - {"models"},
    "export": {"serving", "clients"},
    "serving": {"models", "export", "clients"},
    "clients": {"models", "serving"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_the_flow_allows(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_contracts_import_no_tensorflow():
    assert imported_packages(ROOT / "export" / "contracts.py") <= {"__future__", "dataclasses"}


HEAVY = {"tensorflow", "keras", "tensorflow_serving", "tensorflow_datasets", "tensorboard"}


def module_level_imports(path: Path) -> set[str]:
    """The packages `path` imports when it is imported (not inside a function)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_clients_import_no_tensorflow():
    # TF Serving's messages are declared in clients/protos.py, so a client-only
    # install has neither TensorFlow nor tensorflow-serving-api; only a handler that
    # runs a SavedModel itself (Beam workers) may import TensorFlow, when it runs
    offenders = {str(path.relative_to(ROOT)): sorted(module_level_imports(path) & HEAVY)
                 for path in (ROOT / "clients").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
