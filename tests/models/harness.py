"""The checks every model kind gets, in the style of keras-hub's `run_layer_test` and
`run_model_saving_test`: output shapes, config round trip and padding invariance
(`run_model_test`); save -> load -> the same config and the same outputs on the same
inputs (`run_model_saving_test`); and export -> serve -> the same outputs over gRPC as
the exported SavedModel gives in process (`run_export_serving_test`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np


def outputs_of(model: keras.Model, inputs) -> dict[str, np.ndarray]:
    """The model's outputs in inference mode, as a dict (a single output as "output")."""
    outputs = model(inputs, training=False)
    if not isinstance(outputs, dict):
        outputs = {"output": outputs}
    return {key: np.asarray(value) for key, value in outputs.items()}


def as_json(config: dict) -> str:
    """A config as its saved JSON, where a tuple and a list are the same array."""
    return json.dumps(config, sort_keys=True)


def assert_same_outputs(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
                        what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert set(actual) == set(expected), what
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=atol,
                                   err_msg=f"output {key!r} changed {what}")


def run_model_test(model: keras.Model, inputs, shapes: Mapping[str, tuple],
                   padded_inputs=None,
                   unpad: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = dict,
                   rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Checks each output's shape on `inputs` (`shapes`, a single output as "output");
    that the model rebuilt from its config has the same config and, given the same
    weights, the same outputs; and, with `padded_inputs` (the same inputs with more
    padding), that padding changes no output once `unpad` drops what it added."""
    outputs = outputs_of(model, inputs)
    assert {key: value.shape for key, value in outputs.items()} == {
        key: tuple(shape) for key, shape in shapes.items()}
    rebuilt = type(model).from_config(model.get_config())
    assert as_json(rebuilt.get_config()) == as_json(model.get_config())
    rebuilt.set_weights(model.get_weights())
    assert_same_outputs(outputs_of(rebuilt, inputs), outputs, "through the config round trip",
                        rtol, atol)
    if padded_inputs is not None:
        assert_same_outputs(unpad(outputs_of(model, padded_inputs)), outputs, "with padding",
                            rtol, atol)


def run_model_saving_test(model: keras.Model, inputs, folder: Path,
                          layers: Sequence[str] = (), rtol: float = 1e-5,
                          atol: float = 1e-6) -> keras.Model:
    """Saves `model` as a .keras file, loads it back, and checks that it is of the same
    class, that it and each named layer keep their config, and that every output is the
    same on `inputs`; returns the loaded model."""
    path = Path(folder) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    for name in layers:
        assert loaded.get_layer(name).get_config() == model.get_layer(name).get_config()
    assert_same_outputs(outputs_of(loaded, inputs), outputs_of(model, inputs),
                        "through save and load", rtol, atol)
    return loaded


def run_export_serving_test(version_dir: Path, requests: Mapping[str, Mapping[str, object]],
                            target: str | None = None, rtol: float = 1e-5,
                            atol: float = 1e-6) -> None:
    """Serves the exported version with the real server and checks, for each signature
    in `requests` (signature -> inputs), that Predict over gRPC answers every output of
    the SavedModel loaded in process, equal for strings and integers, close for floats.

    `target`: a server already serving the version's folder; else `tfstack serve`
    starts as a child process for the check."""
    import tensorflow as tf

    from clients.client import ServingClient
    from tests.launcher import ServerProcess

    model, version = version_dir.parent.name, int(version_dir.name)
    loaded = tf.saved_model.load(str(version_dir))
    expected = {signature: {key: value.numpy() for key, value in loaded.signatures[signature](
        **{key: tf.constant(value) for key, value in inputs.items()}).items()}
        for signature, inputs in requests.items()}
    if target is None:
        with ServerProcess(f"--model_name={model}",
                           f"--model_base_path={version_dir.parent}") as server:
            return run_export_serving_test(version_dir, requests, server.target, rtol, atol)
    with ServingClient(target) as client:
        for signature, inputs in requests.items():
            served = client.predict(model, inputs, signature=signature, version=version)
            assert set(served) == set(expected[signature]), signature
            for key, value in expected[signature].items():
                message = f"{signature}/{key} differs between the export and the server"
                assert served[key].shape == value.shape, message
                if value.dtype.kind == "f":
                    np.testing.assert_allclose(served[key], value, rtol=rtol, atol=atol,
                                               err_msg=message)
                else:
                    np.testing.assert_array_equal(served[key], value, err_msg=message)
