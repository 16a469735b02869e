"""The exported classifier: signatures as the wire contract says, same answers as
the Keras model, warm-up records, and core TensorFlow ops only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from contract.endpoints import CLASSIFIER
from models.vision.trainer import load_trained
from tests.messages import png
from tests.models.harness import run_export_serving_test

pytestmark = pytest.mark.fashion


@pytest.fixture(scope="module")
def version_dir(classifier_repository) -> Path:
    return classifier_repository / "classifier" / "1"


@pytest.fixture(scope="module")
def meta_graph(version_dir):
    saved_model = saved_model_pb2.SavedModel.FromString(
        (version_dir / "saved_model.pb").read_bytes())
    return saved_model.meta_graphs[0]


@pytest.fixture(scope="module")
def loaded(version_dir):
    return tf.saved_model.load(str(version_dir))


@pytest.mark.parametrize("signature", CLASSIFIER.signatures, ids=lambda s: s.name)
def test_signature_matches_the_wire_contract(meta_graph, signature):
    exported = meta_graph.signature_def[signature.name]
    assert exported.method_name == "tensorflow/serving/predict"
    for specs, tensors in ((signature.inputs, exported.inputs),
                           (signature.outputs, exported.outputs)):
        assert set(tensors) == {spec.key for spec in specs}
        for spec in specs:
            info = tensors[spec.key]
            assert types_pb2.DataType.Name(info.dtype) == spec.dtype
            assert len(info.tensor_shape.dim) == len(spec.shape)


def test_fixed_shapes_of_the_classifier(meta_graph):
    pixels = meta_graph.signature_def["predict_pixels"].inputs["pixels"]
    assert [d.size for d in pixels.tensor_shape.dim] == [-1, 28, 28, 1]
    classes = meta_graph.signature_def["serving_default"].outputs["classes"]
    assert [d.size for d in classes.tensor_shape.dim] == [-1, 5]


def test_pixels_signature_equals_the_keras_model(loaded, trained_classifier,
                                                 fashion_test_images):
    model, class_names = load_trained(trained_classifier.model_dir)
    images = fashion_test_images[0][:16].astype(np.float32)
    outputs = loaded.signatures["predict_pixels"](pixels=tf.constant(images))
    expected = model.predict(images, verbose=0)
    top = np.argsort(-expected, axis=1)[:, :5]
    np.testing.assert_array_equal(outputs["class_ids"].numpy(), top)
    np.testing.assert_allclose(outputs["scores"].numpy(),
                               np.take_along_axis(expected, top, axis=1), rtol=1e-4, atol=1e-6)
    names = np.array(class_names, dtype=object)[top].astype(bytes)
    np.testing.assert_array_equal(outputs["classes"].numpy(), names)


def test_image_bytes_signature_equals_pixels_signature(loaded, fashion_test_images):
    images = fashion_test_images[0][:8]
    by_bytes = loaded.signatures["serving_default"](
        image_bytes=tf.constant([png(image) for image in images]))
    by_pixels = loaded.signatures["predict_pixels"](pixels=tf.constant(images, tf.float32))
    np.testing.assert_array_equal(by_bytes["class_ids"], by_pixels["class_ids"])
    # decoding to RGB then back to grey scales pixels by the luma weights' sum, 0.9999
    np.testing.assert_allclose(by_bytes["scores"], by_pixels["scores"], atol=1e-3)


def test_the_served_version_answers_as_the_export(version_dir, classifier_server,
                                                 fashion_test_images):
    images = fashion_test_images[0][:8]
    run_export_serving_test(version_dir, {
        "serving_default": {"image_bytes": np.array([png(image) for image in images],
                                                    dtype=object)},
        "predict_pixels": {"pixels": images.astype(np.float32)}},
        target=classifier_server.target)


def test_colour_jpeg_of_another_size_is_accepted(loaded, fashion_test_images):
    grey = fashion_test_images[0][0, :, :, 0]
    colour = np.stack([grey] * 3, axis=-1).repeat(4, axis=0).repeat(4, axis=1)
    jpeg = tf.io.encode_jpeg(colour, quality=95).numpy()
    direct = loaded.signatures["serving_default"](image_bytes=tf.constant([png(grey[..., None])]))
    resized = loaded.signatures["serving_default"](image_bytes=tf.constant([jpeg]))
    assert resized["class_ids"][0, 0] == direct["class_ids"][0, 0]


def test_warmup_records_cover_both_signatures_and_run(version_dir, loaded):
    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    records = [prediction_log_pb2.PredictionLog.FromString(raw.numpy())
               for raw in tf.data.TFRecordDataset(str(path))]
    requests = [r.predict_log.request for r in records]
    assert {r.model_spec.signature_name for r in requests} == {"serving_default",
                                                               "predict_pixels"}
    for request in requests:
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        assert outputs["scores"].shape == (1, 5)


def test_graph_uses_core_tensorflow_ops_only(meta_graph):
    ops = {node.op for node in meta_graph.graph_def.node}
    for function in meta_graph.graph_def.library.function:
        ops |= {node.op for node in function.node_def}
    ops -= {f.signature.name for f in meta_graph.graph_def.library.function}
    assert ops, "no ops found"
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == []


def test_saved_model_cli_shows_signatures_and_tensors(version_dir):
    cli = Path(sys.executable).with_name("saved_model_cli")
    shown = subprocess.run([str(cli), "show", "--dir", str(version_dir), "--all"],
                           capture_output=True, text=True, check=True).stdout
    for text in ("signature_def['serving_default']", "signature_def['predict_pixels']",
                 "inputs['image_bytes']", "inputs['pixels']", "outputs['classes']",
                 "outputs['class_ids']", "outputs['scores']", "DT_INT64"):
        assert text in shown
