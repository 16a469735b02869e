"""The checks every model kind gets, in the style of keras-hub's `run_model_saving_test`:
save -> load -> the same config and the same outputs on the same inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np


def outputs_of(model: keras.Model, inputs) -> dict[str, np.ndarray]:
    """The model's outputs in inference mode, as a dict (a single output as "output")."""
    outputs = model(inputs, training=False)
    if not isinstance(outputs, dict):
        outputs = {"output": outputs}
    return {key: np.asarray(value) for key, value in outputs.items()}


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
    expected, actual = outputs_of(model, inputs), outputs_of(loaded, inputs)
    assert set(actual) == set(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=atol,
                                   err_msg=f"output {key!r} changed through save and load")
    return loaded
