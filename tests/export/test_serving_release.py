"""Every kind of export loads and warms up on the TF Serving image's own TensorFlow
release: `.ci/session_check.py` run in the bare `.venv-tfserving` (`make serving-tf`,
built by `make test`) with TF Serving's session-based loader."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from contract.defaults import WARMUP_PATH
from export.warmup import predict_log, write_warmup

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".ci" / "session_check.py"
_spec = importlib.util.spec_from_file_location("session_check", CHECK)
session_check_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(session_check_module)
PredictionLog = session_check_module.PredictionLog
SERVING_PYTHON = ROOT / ".venv-tfserving" / "bin" / "python"
TFSERVING_VERSION = dict(
    line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
    if "=" in line and not line.startswith("#"))["TFSERVING_VERSION"]
REPLAYED = re.compile(r"^replayed (\d+) warm-up records of (.+) \(TensorFlow (\S+)\): (.*)$",
                      re.MULTILINE)

needs_serving_venv = pytest.mark.skipif(
    not SERVING_PYTHON.is_file(),
    reason=f"needs {SERVING_PYTHON.relative_to(ROOT)}: `make serving-tf` (`make test` builds it)")


def session_check(*version_dirs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    return subprocess.run(
        [str(SERVING_PYTHON), str(CHECK), *map(str, version_dirs)],
        cwd="/", env=env, capture_output=True, text=True, timeout=600)


def replayed(stdout: str) -> dict[str, tuple[str, list[str]]]:
    """version dir -> (TensorFlow release, signature of each record replayed)."""
    found = {}
    for count, path, release, signatures in REPLAYED.findall(stdout):
        names = signatures.split(", ") if signatures else []
        assert len(names) == int(count)
        found[path] = (release, names)
    return found


def warmup_signatures(version_dir: Path) -> list[str]:
    """The signature of each warm-up record, read with tensorflow-serving-api."""
    path = version_dir.joinpath(*WARMUP_PATH)
    return [prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            .predict_log.request.model_spec.signature_name
            for raw in tf.data.TFRecordDataset(str(path))]


@needs_serving_venv
@pytest.mark.parametrize("repository,model", [
    pytest.param("classifier_repository", "classifier", marks=pytest.mark.fashion),
    pytest.param("qa_repository", "qa", marks=pytest.mark.babi),
    pytest.param("translator_repository", "translator", marks=pytest.mark.trans),
    pytest.param("subword_translator_repository", "translator", marks=pytest.mark.trans),
], ids=["classifier", "qa", "translator-words", "translator-subwords"])
def test_export_loads_and_warms_up_on_the_image_release(request, repository, model):
    version_dir = request.getfixturevalue(repository) / model / "1"
    expected = warmup_signatures(version_dir)
    assert expected, "every export writes warm-up records"
    result = session_check(version_dir)
    assert result.returncode == 0, result.stderr
    assert replayed(result.stdout) == {str(version_dir): (TFSERVING_VERSION, expected)}


class Doubler(tf.Module):
    def __init__(self):
        super().__init__()
        self.factor = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def double(self, x):
        return {"y": x * self.factor}


@needs_serving_venv
def test_a_failing_record_names_the_version_the_record_and_the_error(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for version_dir, x in ((good, np.ones(2, np.float32)), (bad, np.ones(2, np.int64))):
        module = Doubler()
        tf.saved_model.save(module, str(version_dir), signatures=module.double)
        write_warmup(version_dir, [predict_log("m", "", {"x": np.ones(1, np.float32)}),
                                   predict_log("m", "serving_default", {"x": x})])
    result = session_check(good, bad, tmp_path / "missing")
    assert result.returncode == 1
    assert replayed(result.stdout) == {
        str(good): (TFSERVING_VERSION, ["serving_default", "serving_default"])}
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert failures == [
        f"FAILED {bad}: warm-up record 1 (serving_default): input 'x' is int64; "
        "the signature expects float32",
        f"FAILED {tmp_path / 'missing'}: load failed: OSError: SavedModel file does not "
        f"exist at: {tmp_path / 'missing'}/{{saved_model.pbtxt|saved_model.pb}}",
    ]


def test_records_parse_as_tensorflow_serving_api_writes_them():
    record = predict_log("qa", "serving_default", {"story": np.array([b"Mary went home."]),
                                                   "question": np.array([b"Where is Mary?"])})
    parsed = PredictionLog.FromString(record.SerializeToString())
    assert parsed.WhichOneof("log_type") == "predict_log"
    request = parsed.predict_log.request
    assert (request.model_spec.name, request.model_spec.signature_name) == (
        "qa", "serving_default")
    assert dict(request.inputs) == {
        k: v.SerializeToString() for k, v in record.predict_log.request.inputs.items()}
    classify = prediction_log_pb2.PredictionLog()
    classify.classify_log.request.model_spec.name = "qa"
    assert PredictionLog.FromString(classify.SerializeToString()).WhichOneof(
        "log_type") == "classify_log"


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    return imported | {node.module.split(".")[0] for node in ast.walk(tree)
                       if isinstance(node, ast.ImportFrom) and node.module}


def test_the_check_imports_only_what_the_bare_venv_has():
    assert imported_packages(CHECK) <= {
        "__future__", "argparse", "logging", "sys", "pathlib", "tensorflow", "contract"}
    for module in ("__init__", "defaults", "endpoints", "protos"):  # protobuf, stdlib
        assert imported_packages(ROOT / "contract" / f"{module}.py") <= {
            "__future__", "dataclasses", "re", "google"}
