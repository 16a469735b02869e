"""One loaded version of a SavedModel, loaded as TF Serving loads it: the MetaGraphDef
with the configured tags imported into a graph of its own, its variables restored
and init ops run in a Session, and each SignatureDef naming the tensors a request
feeds and fetches. TF1 graphs and TF2 `tf.saved_model.save` exports load alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.client import pywrap_tf_session  # Session::Run with RunOptions
from tensorflow.python.saved_model import loader_impl  # the TF1 loader, one parse

from serving.errors import DeadlineExceeded, FailedPrecondition, ServingError, from_tf_error
from serving.signature_checks import check_inputs, check_output_filter
from serving.tensor_protos import to_arrays

logger = logging.getLogger(__name__)

SERVE_TAG = "serve"  # tensorflow::kSavedModelTagServe
DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"  # a TF2 export's init op, not servable
MAX_SAVED_MODEL_BYTES = 2**31 - 1  # protobuf's limit on one serialized message


@dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded: the MetaGraphDef's tag set (--saved_model_tags), the
    ConfigProto of each version's Session (threads, GPU memory, rewrites), and the
    warm-up replayed before a version serves (--enable_model_warmup,
    --num_request_iterations_for_warmup; method names checked as
    --enable_signature_method_name_check asks)."""

    tags: frozenset[str] = frozenset({SERVE_TAG})
    session_config: config_pb2.ConfigProto | None = None
    warmup: bool = True
    warmup_iterations: int = 1
    check_method_names: bool = False


@dataclass
class Servable:
    """A SavedModel version ready to run: `validate` makes TF Serving's checks of a
    request against the SignatureDef (predict_util.cc); `run` feeds and fetches the
    tensors the SignatureDef names, so the graph decides which shapes it accepts."""

    name: str
    version: int
    path: Path
    meta_graph: meta_graph_pb2.MetaGraphDef
    session: tf.compat.v1.Session = field(repr=False)
    load_seconds: float = 0.0  # warm-up included
    warmup_seconds: float = 0.0
    # The signatures a request may name, sorted; worked out once, read on every request.
    signature_keys: tuple[str, ...] = field(default=(), init=False)
    # Each tensor a signature names, by name, as the C API's TF_Output.
    _endpoints: dict[str, object] = field(default_factory=dict, repr=False)
    # Per signature: each input's dtype in the graph, and its defaults (SignatureDef.
    # defaults), fed when a request omits them.
    _input_dtypes: dict[str, dict[str, tf.DType]] = field(default_factory=dict, repr=False)
    _defaults: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        graph = self.session.graph
        self.signature_keys = tuple(sorted(
            k for k in self.signature_defs if k != INIT_OP_SIGNATURE))
        for key in self.signature_keys:
            signature = self.signature_defs[key]
            self._defaults[key] = to_arrays(signature.defaults, 2**62, 2**62)  # the model's own
            for info in (*signature.inputs.values(), *signature.outputs.values()):
                self._endpoints[info.name] = graph.get_tensor_by_name(info.name)._as_tf_output()
            # a feed of any other dtype fails in Session::Run: it is refused first, so it
            # cannot join another request's batch
            self._input_dtypes[key] = {name: graph.get_tensor_by_name(info.name).dtype
                                       for name, info in signature.inputs.items()}

    @property
    def signature_defs(self) -> Mapping[str, meta_graph_pb2.SignatureDef]:
        return self.meta_graph.signature_def

    def signature(self, key: str) -> meta_graph_pb2.SignatureDef:
        key = key or DEFAULT_SIGNATURE
        if key not in self.signature_keys:
            raise FailedPrecondition(
                f'Serving signature key "{key}" not found. Model {self.name} version '
                f"{self.version} has: {', '.join(self.signature_keys)}")
        return self.signature_defs[key]

    def input_names(self, key: str) -> set[str] | None:
        """The inputs signature `key` takes; None when there is no such signature."""
        signature = self.signature_defs.get(key or DEFAULT_SIGNATURE)
        return set(signature.inputs) if signature is not None else None

    def validate(self, signature_key: str, inputs: Mapping[str, np.ndarray],
                 output_filter: list[str] | None = None) -> str:
        """Checks a request against the SignatureDef; returns the signature key used."""
        signature_key = signature_key or DEFAULT_SIGNATURE
        signature = self.signature(signature_key)
        check_inputs(signature, inputs, self._input_dtypes[signature_key])
        check_output_filter(signature, output_filter or [])
        return signature_key

    def run(self, signature_key: str, inputs: Mapping[str, np.ndarray],
            outputs: Collection[str] = (), timeout_ms: int | None = None,
            ) -> dict[str, np.ndarray]:
        """Runs a validated request: feeds `inputs` (and the signature's defaults for
        those absent) and fetches `outputs`, every output if none are named. A run
        still going after `timeout_ms` is stopped with DEADLINE_EXCEEDED, as TF Serving
        stops it at the caller's deadline (RunOptions.timeout_in_ms)."""
        if timeout_ms is not None and timeout_ms <= 0:
            raise DeadlineExceeded("the request's deadline passed before its graph ran")
        signature = self.signature_defs[signature_key]
        aliases = list(outputs or signature.outputs)
        feeds = {self._endpoints[signature.inputs[key].name]: value
                 for key, value in {**self._defaults[signature_key], **inputs}.items()}
        fetches = [self._endpoints[signature.outputs[alias].name] for alias in aliases]
        options = None
        if timeout_ms is not None:
            options = pywrap_tf_session.TF_NewBufferFromString(
                config_pb2.RunOptions(timeout_in_ms=timeout_ms).SerializeToString())
        try:
            values = pywrap_tf_session.TF_SessionRun_wrapper(
                self.session._session, options, feeds, fetches, [], None)
        except tf.errors.OpError as e:
            raise from_tf_error(e, f"{self.name} version {self.version} signature "
                                   f"{signature_key!r} could not process the request") from e
        finally:
            if options is not None:
                pywrap_tf_session.TF_DeleteBuffer(options)
        return dict(zip(aliases, values, strict=True))


def load_servable(name: str, version: int, path: str | Path,
                  options: LoadOptions = LoadOptions()) -> Servable:
    """Loads the MetaGraphDef tagged `options.tags` of the SavedModel in `path` into
    a new Session, as TF Serving's SavedModelBundle loader does.

    Raises ServingError (FAILED_PRECONDITION) with the reason when the folder is not
    a loadable SavedModel, so the caller can report it in the model's status.
    """
    path = Path(path)
    started = time.monotonic()
    if not (path / "saved_model.pb").is_file():
        raise _load_error(path, "no saved_model.pb in the version folder")
    size = (path / "saved_model.pb").stat().st_size
    if size > MAX_SAVED_MODEL_BYTES:  # checked before a byte is read
        raise _load_error(path, f"saved_model.pb is {size:,} bytes, more than the "
                                f"{MAX_SAVED_MODEL_BYTES:,} a protocol buffer can hold; it "
                                "cannot be a SavedModel (keep large weights in variables/)")
    try:
        loader = loader_impl.SavedModelLoader(str(path))
    except (OSError, DecodeError, tf.errors.OpError) as e:
        raise _load_error(path, f"saved_model.pb does not parse: {e}") from e
    tags = sorted(options.tags)
    available = [sorted(m.meta_info_def.tags) for m in loader.saved_model.meta_graphs]
    if tags not in available:
        raise _load_error(path, f"no MetaGraphDef with tags {{{', '.join(tags)}}} (it has "
                                f"{', '.join('{' + ', '.join(t) + '}' for t in available)}); "
                                "choose one with --saved_model_tags")
    session = tf.compat.v1.Session(graph=tf.Graph(), config=options.session_config)
    try:
        meta_graph = loader.load(session, tags)
        servable = Servable(name, version, path, meta_graph, session,
                            load_seconds=time.monotonic() - started)
    except (tf.errors.OpError, ValueError, KeyError, RuntimeError, OSError) as e:
        session.close()
        raise _load_error(path, e) from e
    logger.info("loaded %s version %d from %s (%s)", name, version, path,
                ", ".join(servable.signature_keys))
    return servable


def _load_error(path: Path, reason: object) -> ServingError:
    return FailedPrecondition(f"SavedModel at {path} could not be loaded: {reason}")
