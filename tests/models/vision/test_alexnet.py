"""The AlexNet-style classifier: shapes across sizes, config round trip, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.alexnet import AlexNetClassifier
from models.vision.presets import PRESETS
from tests.models.harness import run_model_saving_test, run_model_test


@pytest.mark.parametrize("size,channels,stem", [((28, 28), 1, (3, 1)), ((96, 80), 3, (11, 4))])
def test_output_is_a_distribution_for_grey_and_colour_inputs(size, channels, stem):
    model = AlexNetClassifier(num_classes=7, image_size=size, channels=channels, width=0.125,
                              stem_kernel=stem[0], stem_stride=stem[1], dense_units=32)
    pixels = np.random.default_rng(0).uniform(0, 255, (3, *size, channels)).astype("float32")
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.input.shape[1:] == (*size, channels)


def test_width_scales_alexnet_filters():
    model = AlexNetClassifier(num_classes=10, **PRESETS["tiny"])
    filters = [model.get_layer(f"block{i}_conv").filters for i in range(1, 6)]
    assert filters == [8, 24, 48, 32, 32]
    assert model.get_layer("block1_bn") is not None  # batch norm in place of LRN


def test_global_head_has_no_fully_connected_layers():
    model = AlexNetClassifier(num_classes=10, **{**PRESETS["tiny"], "head": "global"})
    names = {layer.name for layer in model.layers}
    assert "global_pool" in names and "fc1" not in names


def test_unknown_head_is_rejected_with_the_value():
    with pytest.raises(ValueError, match="received head='mlp'"):
        AlexNetClassifier(num_classes=3, head="mlp")


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        AlexNetClassifier.from_preset("resnet", num_classes=3)


def test_config_round_trip():
    model = AlexNetClassifier.from_preset("tiny", num_classes=4)
    clone = AlexNetClassifier.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("head", ["dense", "global"])
def test_the_model_harness(head):
    model = AlexNetClassifier.from_preset("tiny", num_classes=4, head=head)
    pixels = np.random.default_rng(2).uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    run_model_test(model, pixels, {"output": (3, 4)})  # images have no padding axis


def test_save_load_gives_same_outputs(tmp_path):
    model = AlexNetClassifier.from_preset("tiny", num_classes=4)
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    run_model_saving_test(model, pixels, tmp_path)
