"""deploy/kserve/ read by KServe's own resource models (the `kserve` package's
V1alpha1ServingRuntime, V1beta1InferenceService and the Kubernetes models they hold):
every field must be one of theirs, every protocol one KServe knows, and each runtime
must start `tfstack serve` with flags it takes.

KServe is read in a process of its own: importing it registers the `inference.*`
protos, which tritonclient (imported by the serving tests) registers too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from serving.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kserve"
KINDS = {"ServingRuntime": "V1alpha1ServingRuntime",
         "InferenceService": "V1beta1InferenceService"}
PROBE = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
         "metadata": {"name": "probe"},
         "spec": {"predictor": {"model": {"protocol": "v2"}}}}  # `protocol` is no field


def documents() -> list[dict]:
    return [doc for path in sorted(DEPLOY.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def unknown_fields(value: object, type_name: str, path: str, model_class) -> list[str]:
    """The keys under `value` that the model named `type_name` has no field for."""
    if type_name.startswith("list["):
        return [f for i, item in enumerate(value)
                for f in unknown_fields(item, type_name[5:-1], f"{path}[{i}]", model_class)]
    if type_name.startswith("dict("):
        inner = type_name[type_name.index(",") + 1:-1].strip()
        return [f for key, item in value.items()
                for f in unknown_fields(item, inner, f"{path}.{key}", model_class)]
    cls = model_class(type_name)
    if cls is None:  # a primitive: str, int, bool, object
        return []
    if not isinstance(value, dict):
        return [f"{path} (not an object)"]
    fields = {key: attribute for attribute, key in cls.attribute_map.items()}
    found = []
    for key, item in value.items():
        if key not in fields:
            found.append(f"{path}.{key}")
        else:
            found += unknown_fields(item, cls.openapi_types[fields[key]], f"{path}.{key}",
                                    model_class)
    return found


def kserve_report() -> dict:
    """What KServe's models make of deploy/kserve/ (run in its own process)."""
    import kserve
    import kubernetes
    from kserve.constants.constants import PredictorProtocol

    def model_class(name: str):
        return getattr(kserve, name, None) or getattr(kubernetes.client, name, None)

    return {
        "unknown": {doc["metadata"]["name"]: unknown_fields(
            doc, KINDS[doc["kind"]], doc["metadata"]["name"], model_class)
            for doc in documents()},
        "probe": unknown_fields(PROBE, KINDS["InferenceService"], "probe", model_class),
        "protocols": sorted(p.value for p in PredictorProtocol),
    }


@pytest.fixture(scope="module")
def report() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", "import json; from tests.deploy.test_kserve import "
                               "kserve_report; print(json.dumps(kserve_report()))"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_resource_is_one_kserve_defines_with_only_its_fields(report):
    assert {doc["kind"] for doc in documents()} == set(KINDS)
    assert set(report["unknown"]) == {doc["metadata"]["name"] for doc in documents()}
    assert all(found == [] for found in report["unknown"].values()), report["unknown"]


def test_unknown_fields_are_caught(report):  # the check above can fail
    assert report["probe"] == ["probe.spec.predictor.model.protocol"]


def test_protocols_are_kserve_s_and_each_model_is_served_over_v1_and_v2(report):
    known = set(report["protocols"])
    services = [d for d in documents() if d["kind"] == "InferenceService"]
    runtimes = {d["metadata"]["name"]: d for d in documents() if d["kind"] == "ServingRuntime"}
    for runtime in runtimes.values():
        assert set(runtime["spec"]["protocolVersions"]) <= known
    served = {(s["spec"]["predictor"]["model"]["storageUri"].rsplit("/", 1)[1],
               s["spec"]["predictor"]["model"]["protocolVersion"]) for s in services}
    for model in ("classifier", "translator", "qa"):
        assert {(model, "v1"), (model, "v2")} <= served
    for service in services:
        model = service["spec"]["predictor"]["model"]
        assert model["protocolVersion"] in runtimes[model["runtime"]]["spec"]["protocolVersions"]


def test_each_runtime_starts_tfstack_serve_with_flags_it_takes():
    for doc in documents():
        if doc["kind"] == "ServingRuntime":
            [container] = doc["spec"]["containers"]
            args = build_parser().parse_args(["serve", *container["args"]])
            assert args.unknown_arguments == []
            assert args.model_base_path == "/mnt/models" and args.rest_api_port == 8080
            assert {p["containerPort"] for p in container["ports"]} <= {args.port, 8080}
