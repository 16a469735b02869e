"""TF Serving's test models, rebuilt here: y = a*x + b as a TF1 graph (half plus
three, with Predict, Classify and Regress signatures) and as a TF2 export (half plus
two); none of TF Serving's test data is used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf


def write_half_plus_three_tf1(path: Path, tags: tuple[str, ...] = ("serve",)) -> Path:
    """A `tf.compat.v1` SavedModel: `x` (declared [-1,1]) is parsed from tf.Examples
    and may be fed directly; `scaled` takes a `scale` its SignatureDef defaults to 10."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        a = tf.compat.v1.Variable(0.5, name="a")
        b = tf.compat.v1.Variable(3.0, name="b")
        examples = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        features = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        x = tf.identity(features["x"], name="x")
        y = tf.add(a * x, b, name="y")
        scale = tf.compat.v1.placeholder(tf.float32, [], name="scale")
        signature_def = tf.compat.v1.saved_model.signature_def_utils
        scaled = signature_def.predict_signature_def({"x": x, "scale": scale},
                                                     {"y": tf.multiply(y, scale, name="z")})
        scaled.defaults["scale"].CopyFrom(tf.make_tensor_proto(np.float32(10.0)))
        session.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(str(path))
        builder.add_meta_graph_and_variables(session, list(tags), signature_def_map={
            "serving_default": signature_def.predict_signature_def({"x": x}, {"y": y}),
            "regress_x_to_y": signature_def.regression_signature_def(examples, y),
            "classify_x_to_y": signature_def.classification_signature_def(examples, None, y),
            "scaled": scaled,
        })
        builder.save()
    return path


class HalfPlusTwo(tf.Module):
    """TF2: `serving_default` declares `x` as [1]; the graph takes any shape."""

    def __init__(self):
        super().__init__()
        self.a, self.b = tf.Variable(0.5), tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="x")])
    def predict(self, x):
        return {"y": self.a * x + self.b}


def write_half_plus_two_tf2(path: Path) -> Path:
    module = HalfPlusTwo()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.predict})
    return path


def example(x: float) -> bytes:
    """A serialized tf.Example with feature x."""
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})).SerializeToString()
