"""Kubernetes manifests, validated offline against the Kubernetes API schemas."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.config_protos import BatchingParameters, MonitoringConfig
from serving.config_rules import validate_model_list

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((ROOT / "kustomization.yaml").read_text())
RESOURCES = [doc for name in KUSTOMIZATION["resources"]
             for doc in yaml.safe_load_all((ROOT / name).read_text()) if doc]
BY_KIND = {doc["kind"]: doc for doc in RESOURCES}


@pytest.mark.parametrize("resource", RESOURCES,
                         ids=[f"{d['kind']}/{d['metadata']['name']}" for d in RESOURCES])
def test_resource_is_valid_for_kubernetes(resource):
    kubernetes_validate.validate(resource, "1.30.0", strict=True)


def test_every_manifest_is_in_the_kustomization():
    listed = set(KUSTOMIZATION["resources"])
    assert {p.name for p in ROOT.glob("*.yaml")} - {"kustomization.yaml"} == listed


def test_gpu_pods_with_probes_and_config_from_the_configmap():
    [container] = BY_KIND["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["image"].startswith("tensorflow/serving:") and "-gpu" in container["image"]
    assert container["readinessProbe"] and container["livenessProbe"]
    assert "--model_config_file=/config/models.config" in container["args"]
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"} <= set(BY_KIND)


def test_configmap_files_are_tf_serving_configs_on_gcs():
    """TF Serving's binary reads gs:// but no longer s3:// (model_servers/BUILD links
    only the GCS file system since 2.7; tensorflow/serving issue #1963)."""
    data = BY_KIND["ConfigMap"]["data"]
    models = text_format.Parse(data["models.config"], model_server_config_pb2.ModelServerConfig())
    assert all(m.base_path.startswith("gs://") for m in models.model_config_list.config)
    validate_model_list(list(models.model_config_list.config))  # TF Serving's startup rules
    text_format.Parse(data["batching.config"], BatchingParameters())
    assert text_format.Parse(data["monitoring.config"], MonitoringConfig()).prometheus_config.enable


def test_headless_service_for_client_side_balancing():
    services = [d for d in RESOURCES if d["kind"] == "Service"]
    assert any(s["spec"].get("clusterIP") == "None" for s in services)
