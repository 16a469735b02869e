"""The one-way flow of DESIGN.md, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Who may import whom among our packages (DESIGN.md), at any depth: an import inside a
# function counts as much as one at the top. `tfstack` is the command that gathers
# every package's sub-commands.
ALLOWED = {
    "contract": set(),
    "models": set(),
    "export": {"models", "contract"},
    "serving": {"contract"},
    "clients": {"contract"},
    "tfstack": {"models", "export", "serving", "clients", "contract"},
}
OURS = set(ALLOWED)


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_flow_allows(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            imported_packages(path) & (OURS - ALLOWED[package] - {package}))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_an_import_inside_a_function_is_seen(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from serving import server\n    import models.cli\n")
    assert imported_packages(module) >= {"serving", "models"}


def test_the_contract_imports_no_tensorflow():
    for path in (ROOT / "contract").rglob("*.py"):
        assert imported_packages(path) <= {
            "__future__", "collections", "dataclasses", "functools", "math", "os", "re",
            "numpy", "google", "ml_dtypes", "opentelemetry", "contract"}, path


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
    # TF Serving's messages are declared in contract/protos.py, so a client-only
    # install has neither TensorFlow nor tensorflow-serving-api; only a handler that
    # runs a SavedModel itself (Beam workers) may import TensorFlow, when it runs
    offenders = {str(path.relative_to(ROOT)): sorted(module_level_imports(path) & HEAVY)
                 for path in (ROOT / "clients").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}
