"""One TensorFlow release end to end: TFSERVING_VERSION in .env is the release of
the TF Serving image, of the `tensorflow` that writes the exports, and of the
stubs the embedded server speaks."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import tensorflow as tf
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
           if "=" in line and not line.startswith("#"))
RELEASE = ENV["TFSERVING_VERSION"]
PINNED = ("tensorflow", "tensorflow-serving-api")


def pins() -> dict[str, str]:
    """The `name==version` requirements of pyproject.toml, in its dependencies and its
    extras; a package pinned in several places is pinned to one version."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"],
                    *(r for extra in project["optional-dependencies"].values() for r in extra)]
    found: dict[str, set[str]] = {}
    for requirement in requirements:
        pinned = re.fullmatch(r"([\w.-]+)==(\S+)", requirement)
        if pinned:
            found.setdefault(pinned.group(1), set()).add(pinned.group(2))
    assert all(len(versions) == 1 for versions in found.values()), found
    return {name: versions.pop() for name, versions in found.items()}


def test_the_release_is_a_plain_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", RELEASE), RELEASE


def test_pyproject_pins_tensorflow_and_the_serving_api_to_the_release():
    assert {name: pins().get(name) for name in PINNED} == dict.fromkeys(PINNED, RELEASE)


def test_compose_defaults_to_the_release():
    text = (ROOT / "docker-compose.yml").read_text()
    defaults = re.findall(r"\$\{TFSERVING_VERSION:-([^}]*)\}", text)
    assert defaults and set(defaults) == {RELEASE}
    services = yaml.safe_load(text)["services"]
    for name in ("tfserving", "tfserving-cpu"):
        assert services[name]["image"].startswith(
            f"tensorflow/serving:${{TFSERVING_VERSION:-{RELEASE}}}")


def test_kubernetes_runs_the_release():
    deployment = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"tensorflow/serving:{RELEASE}-gpu"


def test_the_installed_tensorflow_is_the_pinned_release():
    # Fails on a venv that drifted from pyproject.toml: `make install` reinstalls it.
    assert {"tensorflow": tf.__version__,
            "tensorflow-serving-api": metadata.version("tensorflow-serving-api")} == {
        name: pins()[name] for name in PINNED}
