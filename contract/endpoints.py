"""The wire contract of each endpoint: model name, signatures, tensor keys and dtypes.

Declared once, as plain data with no TensorFlow import, so that `export` builds
signatures from it and `clients` builds requests from it. Dtypes are the names of
TensorFlow's `DataType` enum (`DT_STRING`, ...), exactly as `saved_model_cli` shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a signature; `None` in `shape` is a free dimension."""

    key: str
    dtype: str
    shape: tuple[int | None, ...]
    doc: str = ""


@dataclass(frozen=True)
class Signature:
    """A named serving signature with its inputs and outputs."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def input(self, key: str) -> TensorSpec:
        return _by_key(self.inputs, key, self.name)

    def output(self, key: str) -> TensorSpec:
        return _by_key(self.outputs, key, self.name)


@dataclass(frozen=True)
class Endpoint:
    """A served model: its name in the repository and the signatures it exports."""

    model_name: str
    signatures: tuple[Signature, ...]

    def signature(self, name: str) -> Signature:
        for signature in self.signatures:
            if signature.name == name:
                return signature
        known = ", ".join(s.name for s in self.signatures)
        raise KeyError(f"{self.model_name} has no signature {name!r}; it has: {known}")


def _by_key(specs: tuple[TensorSpec, ...], key: str, owner: str) -> TensorSpec:
    for spec in specs:
        if spec.key == key:
            return spec
    raise KeyError(f"signature {owner!r} has no tensor {key!r}")


DEFAULT_SIGNATURE = "serving_default"

_TOP_K_OUTPUTS = (
    TensorSpec("classes", "DT_STRING", (None, None), "top-k labels, best first"),
    TensorSpec("scores", "DT_FLOAT", (None, None), "softmax probability of each label"),
    TensorSpec("class_ids", "DT_INT64", (None, None), "the dataset's index of each label"),
)

CLASSIFIER = Endpoint(
    model_name="classifier",
    signatures=(
        Signature(
            name=DEFAULT_SIGNATURE,
            inputs=(
                TensorSpec(
                    "image_bytes",
                    "DT_STRING",
                    (None,),
                    "encoded JPEG/PNG/BMP/GIF; decoded, converted and resized in the graph",
                ),
            ),
            outputs=_TOP_K_OUTPUTS,
        ),
        Signature(
            name="predict_pixels",
            inputs=(
                TensorSpec(
                    "pixels",
                    "DT_FLOAT",
                    (None, None, None, None),
                    "[batch, height, width, channels] at the model's size, values 0-255",
                ),
            ),
            outputs=_TOP_K_OUTPUTS,
        ),
    ),
)

QA = Endpoint(
    model_name="qa",
    signatures=(
        Signature(
            name=DEFAULT_SIGNATURE,
            inputs=(
                TensorSpec("story", "DT_STRING", (None,), "facts, one per line; the last "
                           "max_facts are kept"),
                TensorSpec("question", "DT_STRING", (None,), "the question"),
            ),
            outputs=(
                TensorSpec("answer", "DT_STRING", (None,), "comma-joined for several words"),
                TensorSpec("probability", "DT_FLOAT", (None,), "softmax probability"),
                TensorSpec("gates", "DT_FLOAT", (None, None, None),
                           "[batch, passes, facts] attention of each memory pass"),
                TensorSpec("facts", "DT_STRING", (None, None), "the facts the gates refer to, "
                           "'' for padding"),
            ),
        ),
    ),
)

GREEDY_SIGNATURE = "greedy"

_TRANSLATION_INPUTS = (
    TensorSpec("text", "DT_STRING", (None,), "raw source sentences; longer ones are "
               "truncated to the model's max_source_length positions"),
)
_TRANSLATION_OUTPUTS = (
    TensorSpec("translation", "DT_STRING", (None,), "the best translation"),
    TensorSpec("score", "DT_FLOAT", (None,), "log-probability / length (</s> counted)"),
    TensorSpec("attention", "DT_FLOAT", (None, None, None),
               "[batch, target words, source positions]; rows sum to 1, 0 beyond the "
               "sentence's own lengths"),
    TensorSpec("source_tokens", "DT_STRING", (None, None), "normalised source words then "
               "'</s>'; '' for padding"),
    TensorSpec("target_tokens", "DT_STRING", (None, None), "the translation's words; '' "
               "for padding"),
)

TRANSLATOR = Endpoint(
    model_name="translator",
    signatures=(
        Signature(DEFAULT_SIGNATURE, _TRANSLATION_INPUTS, _TRANSLATION_OUTPUTS),
        Signature(GREEDY_SIGNATURE, _TRANSLATION_INPUTS, _TRANSLATION_OUTPUTS),
    ),
)

ENDPOINTS = {endpoint.model_name: endpoint for endpoint in (CLASSIFIER, QA, TRANSLATOR)}
