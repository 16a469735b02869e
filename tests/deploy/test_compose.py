"""docker-compose.yml, checked without a Docker engine: the Compose schema, mounted
files, TF Serving flags, and the embedded server started from the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from export.model_config import (
    CONTAINER_CONFIG_FILE,
    DEFAULT_CONFIG_FILE,
    container_config,
    read_model_config,
    register_model,
    set_label,
)
from serving.cli import build_parser
from serving.config_protos import BatchingParameters, MonitoringConfig, read_text_proto
from serving.config_rules import ConfigError, validate_model_list
from tests.launcher import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVING = ["tfserving", "tfserving-cpu", "tfstack"]
# Flags of tensorflow_model_server (tensorflow_serving/model_servers/main.cc) used here.
TF_SERVING_FLAGS = {
    "port", "rest_api_port", "model_config_file", "model_config_file_poll_wait_seconds",
    "file_system_poll_wait_seconds", "allow_version_labels_for_unavailable_models",
    "enable_batching", "batching_parameters_file", "monitoring_config_file", "model_name",
    "model_base_path", "grpc_max_threads", "rest_api_timeout_in_ms", "max_num_load_retries",
    "ssl_config_file", "enable_model_warmup",
}
TFSTACK_FLAGS = {"host", "auth_token_file", "access_log"}


def flags(service: str) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in COMPOSE["services"][service]
                ["command"])


def test_matches_the_compose_specification():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
         "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_service_reserves_an_nvidia_gpu_and_is_the_default_profile():
    service = COMPOSE["services"]["tfserving"]
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert service["image"].startswith("tensorflow/serving:") and service["image"].endswith("-gpu")
    assert "COMPOSE_PROFILES=gpu" in (ROOT / ".env").read_text().splitlines()
    cpu = COMPOSE["services"]["tfserving-cpu"]
    assert "deploy" not in cpu and not cpu["image"].endswith("-gpu")
    for name in ("tfserving", "tfserving-cpu"):
        assert COMPOSE["services"][name]["healthcheck"]["test"][0] == "CMD"
        assert COMPOSE["services"][name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", [*SERVING, "prometheus", "export"])
def test_every_mounted_path_exists(service):
    for volume in COMPOSE["services"][service].get("volumes", []):
        host = volume.split(":")[0]
        if host.startswith("./model_repository") or host.startswith("./artifacts"):
            continue  # written by `tfstack export` / training, not committed
        assert (ROOT / host).exists(), f"{service} mounts missing {host}"


@pytest.mark.parametrize("service", SERVING)
def test_flags_are_tf_servings_and_the_embedded_server_accepts_them(service):
    given = flags(service)
    own = TFSTACK_FLAGS if service == "tfstack" else set()
    assert set(given) <= TF_SERVING_FLAGS | own
    args = build_parser().parse_args(["serve", *COMPOSE["services"][service]["command"]])
    assert args.model_config_file == "/models/serving/tfserving/models.config"
    assert args.enable_batching is True
    # TF Serving resolves no path against its working directory: every file is absolute
    assert all(given[f].startswith(("/models/", "/run/secrets/"))
               for f in given if f.endswith("_file"))


def test_the_embedded_server_asks_for_a_token_and_stock_tf_serving_stays_on_loopback():
    """TF Serving has no authentication, and HandleReloadConfigRequest with an empty
    list unloads every model: the stock images publish on the host's loopback only; the
    tfstack service publishes wider with a bearer token from a Compose secret, which
    Prometheus presents when it scrapes."""
    for name in ("tfserving", "tfserving-cpu"):
        assert all(port.startswith("127.0.0.1:") for port in COMPOSE["services"][name]["ports"])
    tfstack = COMPOSE["services"]["tfstack"]
    secret = flags("tfstack")["auth_token_file"]
    assert secret == f"/run/secrets/{tfstack['secrets'][0]}"
    assert COMPOSE["secrets"][tfstack["secrets"][0]] == {"environment": "TFSTACK_TOKEN"}
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    [job] = [j for j in scrape["scrape_configs"] if j["job_name"] == "tfstack"]
    assert job["authorization"]["credentials_file"] == secret
    assert tfstack["secrets"] == COMPOSE["services"]["prometheus"]["secrets"]


@pytest.mark.parametrize("service", SERVING)
def test_only_folders_are_mounted_so_atomic_rewrites_reach_the_container(service):
    for volume in COMPOSE["services"][service]["volumes"]:
        host = volume.split(":")[0]
        assert host in ("./model_repository", "./serving"), volume
        assert host == "./model_repository" or (ROOT / host).is_dir()


def test_a_rename_reaches_a_reader_of_the_folder_but_not_of_the_file(tmp_path):
    """What a bind mount holds: a folder mount resolves names at each open (it sees the
    new inode `os.replace` puts in place), a single-file mount keeps the old inode."""
    folder = tmp_path / "serving"
    path = folder / "models.config"
    register_model(path, "classifier", "model_repository/classifier")
    folder_mount = os.open(folder, os.O_RDONLY)
    file_mount = os.open(path, os.O_RDONLY)
    try:
        set_label(path, "classifier", "stable", 1)  # rewritten by rename
        with os.fdopen(os.open("models.config", os.O_RDONLY, dir_fd=folder_mount)) as seen:
            assert 'key: "stable"' in seen.read()
        os.lseek(file_mount, 0, os.SEEK_SET)
        assert b'key: "stable"' not in os.read(file_mount, 1 << 20)
    finally:
        os.close(folder_mount)
        os.close(file_mount)


def test_mounted_config_files_parse_as_tf_serving_protos():
    models = text_format.Parse((ROOT / CONTAINER_CONFIG_FILE).read_text(),
                               model_server_config_pb2.ModelServerConfig())
    assert [m.name for m in models.model_config_list.config] == ["classifier", "qa", "translator"]
    local = read_model_config(ROOT / DEFAULT_CONFIG_FILE)
    assert models == container_config(local), "run `tfstack label` or export to regenerate"
    validate_model_list(list(models.model_config_list.config))  # TF Serving's startup rules
    with pytest.raises(ConfigError, match="to have an absolute path or URI"):
        validate_model_list(list(local.model_config_list.config))  # why the copy exists
    batching = read_text_proto(ROOT / "serving/batching.config", BatchingParameters)
    assert batching.max_batch_size.value >= 1
    monitoring = read_text_proto(ROOT / "serving/monitoring.config", MonitoringConfig)
    assert monitoring.prometheus_config.enable


def container_root(tmp_path: Path, service: str, repository: Path) -> Path:
    """The container's /models as the service's mounts build it, with the model
    repository taken from the test's own export."""
    for volume in COMPOSE["services"][service]["volumes"]:
        host, target = volume.split(":")[:2]
        source = repository if host == "./model_repository" else ROOT / host
        shutil.copytree(source, tmp_path / target.lstrip("/"))
    return tmp_path / "models"


@pytest.mark.fashion
@pytest.mark.parametrize("service", ["tfserving-cpu", "tfstack"])
def test_embedded_server_starts_from_the_mounted_files(service, classifier_repository, tmp_path):
    """The service's own flags and its mounted config, with /models moved under tmp_path
    (the one change: absolute paths cannot point into a test folder otherwise)."""
    from clients.channels import ChannelSecurity
    from clients.client import ServingClient

    container = container_root(tmp_path, service, classifier_repository)
    config = container / "serving" / "tfserving" / "models.config"
    served = read_model_config(config)
    del served.model_config_list.config[1:]  # the test's repository holds the classifier
    for entry in served.model_config_list.config:
        entry.base_path = entry.base_path.replace("/models/", f"{container}/", 1)
    config.write_text(text_format.MessageToString(served))
    token = tmp_path / "token"
    token.write_text("compose-secret")
    command = [arg.replace("=/models/", f"={container}/").replace(
        "=/run/secrets/tfstack_token", f"={token}")
        for arg in COMPOSE["services"][service]["command"]
        if not arg.startswith(("--port=", "--rest_api_port=", "--host="))]
    security = ChannelSecurity(token_file=str(token)) if service == "tfstack" else None
    with ServerProcess(*command) as server:
        with ServingClient(server.target, deadline=30, security=security) as client:
            [status] = client.status("classifier")
    assert (status.version, status.state) == (1, "AVAILABLE")
    assert server.returncode == 0
