"""A client loads no TensorFlow: importing the client modules, or running a client
command, leaves `tensorflow`, `keras` and `tensorflow_serving` out of sys.modules;
the other packages' commands register without them too (TensorFlow loads in their
handlers only)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "keras", "tensorflow_serving", "tensorflow_datasets", "tensorboard")
REPORT = """
import json, sys
def report():
    print(json.dumps(sorted(sys.modules)), file=sys.__stderr__)
"""


def loaded(code: str) -> set[str]:
    """The modules (and their top-level packages) loaded by `code`, run in a fresh
    interpreter."""
    result = subprocess.run([sys.executable, "-c", REPORT + code], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    modules = json.loads(result.stderr.strip().splitlines()[-1])
    return set(modules) | {m.split(".")[0] for m in modules}


def command(*argv: str) -> str:
    return ("from tfstack.command import main\ntry:\n"
            f"    main({list(argv)!r})\nexcept SystemExit:\n    pass\nreport()")


def test_the_client_modules_import_no_tensorflow():
    modules = loaded("import clients.client, clients.cli, clients.async_client, "
                     "clients.scoring.local, clients.healthcheck, clients.plots\nreport()")
    assert "grpc" in modules and modules.isdisjoint(HEAVY)


@pytest.mark.parametrize("argv", [
    ("status", "--help"), ("status", "--server", "127.0.0.1:1", "--deadline", "2"),
    ("classify", "--help"), ("translate", "--help"), ("ask", "--help"), ("score", "--help"),
])
def test_client_commands_load_no_tensorflow_nor_the_other_packages(argv):
    modules = loaded(command(*argv))
    assert modules.isdisjoint(HEAVY)
    ours = {m for m in modules if m.split(".")[0] in ("models", "export", "serving")}
    assert ours == set()  # the wire contract is contract/, plain data


@pytest.mark.parametrize("argv", [("--help",), ("train", "--help"), ("train", "qa", "--help"),
                                  ("export", "--help"), ("serve", "--help"), ("label", "--help"),
                                  ("serve", "--port=not_a_number")])
def test_registering_every_command_loads_no_tensorflow(argv):
    assert loaded(command(*argv)).isdisjoint({"tensorflow", "keras", "tensorflow_datasets"})


@pytest.mark.parametrize("argv", [("label", "--help"), ("export", "--help")])
def test_label_and_export_register_without_tf_serving_messages(argv):
    # a client-only install lacks them: `label` must still be listed and say what to install
    assert loaded(command(*argv)).isdisjoint(HEAVY)


def test_the_base_install_is_the_client_and_all_adds_the_rest():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.match(r"[\w.-]+", r).group(0).lower() for r in requirements}

    base, extras = names(project["dependencies"]), project["optional-dependencies"]
    assert base.isdisjoint({"tensorflow", "keras", "tensorflow-serving-api",
                            "tensorflow-datasets", "tensorboard"})
    assert {"grpcio", "grpcio-health-checking", "protobuf", "numpy"} <= base
    assert extras["all"] == ["tfstack[train,serve]"]
    assert {"tensorflow", "tensorflow-serving-api"} <= names(extras["train"]) & names(
        extras["serve"])


def test_the_installed_command_and_every_package_are_in_the_wheel():
    """The `tfstack` script runs from anywhere (not only the checkout), so every
    top-level package is listed for setuptools to install."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert {name.removesuffix("*") for name in packages} == ours
    script = Path(sys.executable).with_name("tfstack")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                            timeout=120, cwd="/")
    assert result.returncode == 0 and "COMMAND" in result.stdout, result.stderr
