"""deploy/kserve/ read by KServe's own resource models (the `kserve` package's
V1alpha1ServingRuntime, V1beta1InferenceService and the Kubernetes models they hold):
every field must be one of theirs, every protocol one KServe knows, and each runtime
must start `tfstack serve` with flags it takes."""

from __future__ import annotations

from pathlib import Path

import kserve
import kubernetes
import yaml
from kserve.constants.constants import PredictorProtocol

from serving.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kserve"
KINDS = {"ServingRuntime": "V1alpha1ServingRuntime",
         "InferenceService": "V1beta1InferenceService"}


def documents() -> list[dict]:
    return [doc for path in sorted(DEPLOY.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def model_class(name: str):
    return getattr(kserve, name, None) or getattr(kubernetes.client, name, None)


def unknown_fields(value: object, type_name: str, path: str) -> list[str]:
    """The keys under `value` that the model named `type_name` has no field for."""
    if type_name.startswith("list["):
        return [f for i, item in enumerate(value)
                for f in unknown_fields(item, type_name[5:-1], f"{path}[{i}]")]
    if type_name.startswith("dict("):
        inner = type_name[type_name.index(",") + 1:-1].strip()
        return [f for key, item in value.items()
                for f in unknown_fields(item, inner, f"{path}.{key}")]
    cls = model_class(type_name)
    if cls is None:  # a primitive: str, int, bool, object
        return []
    assert isinstance(value, dict), f"{path}: expected an object for {type_name}"
    fields = {key: attribute for attribute, key in cls.attribute_map.items()}
    found = []
    for key, item in value.items():
        if key not in fields:
            found.append(f"{path}.{key}")
        else:
            found += unknown_fields(item, cls.openapi_types[fields[key]], f"{path}.{key}")
    return found


def test_every_resource_is_one_kserve_defines_with_only_its_fields():
    docs = documents()
    assert {doc["kind"] for doc in docs} == set(KINDS)
    for doc in docs:
        assert unknown_fields(doc, KINDS[doc["kind"]], doc["metadata"]["name"]) == []


def test_unknown_fields_are_caught():  # the check above can fail
    doc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "x"}, "spec": {"predictor": {"model": {"protocol": "v2"}}}}
    assert unknown_fields(doc, KINDS["InferenceService"], "x") == [
        "x.spec.predictor.model.protocol"]


def test_protocols_are_kserve_s_and_each_model_is_served_over_v1_and_v2():
    known = {protocol.value for protocol in PredictorProtocol}
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
