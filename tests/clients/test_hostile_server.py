"""Answers no honest server sends, from a real gRPC server that sends them: the client
sizes every output before building it, checks each endpoint's outputs against the
wire contract, and says in one line what the server got wrong, exiting non-zero."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from clients.client import ServingClient
from clients.errors import MalformedResponse
from clients.response_checks import RESPONSE_BUDGET_BYTES
from tests.clients.scripted_server import (
    ScriptedServer,
    batch_size,
    classifier_answer,
    response,
    tensor,
)

HUGE = [250_000_000, 1]  # 953.7 MiB of float32, from one value
MALFORMED = "error: INTERNAL: the server's answer is malformed: "


def tfstack(*args: str, memory: int | None = None) -> subprocess.CompletedProcess:
    """The `tfstack` command, optionally with at most `memory` bytes of address space."""
    prefix = ["-c", "import resource, runpy, sys; "
              f"resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
              "sys.argv[0] = 'tfstack'; runpy.run_module('tfstack.command', "
              "run_name='__main__')"] if memory else ["-m", "tfstack.command"]
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def images(tmp_path):
    """Two files for `classify` to send; the scripted servers never decode them."""
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        path.write_bytes(b"not decoded by the scripted server")
    return [str(p) for p in paths]


def huge_scores(request):
    """About 100 bytes declaring a [250M, 1] score per image, filled from one value."""
    return response(classes=np.array([[b"Shirt"]] * 2, dtype=object),
                    scores=tensor("DT_FLOAT", HUGE, float_val=[0.5]),
                    class_ids=np.array([[6]] * 2, dtype=np.int64))


def test_a_tiny_answer_declaring_a_huge_shape_is_refused_unbuilt(images):
    assert len(huge_scores(None).SerializeToString()) < 200
    with ScriptedServer(huge_scores) as server:  # under 1 GiB: building it would not fit
        result = tfstack("classify", *images, "--server", server.target, memory=1 << 30)
    assert result.returncode == 1
    assert result.stderr == (
        f"{MALFORMED}output 'scores' declares shape [250000000, 1] (953.7 MiB), "
        "more than the 256 MiB response budget\n")
    assert result.stdout == ""


def test_outputs_over_the_budget_together_are_refused_unbuilt(images):
    half = RESPONSE_BUDGET_BYTES // 2 // 4  # float32 values: each output half the budget
    answer = response(**{key: tensor("DT_FLOAT", [half], float_val=[1.0])
                         for key in ("x", "y", "z")})
    with ScriptedServer(lambda request: answer) as server, \
            ServingClient(server.target) as client:
        with pytest.raises(MalformedResponse, match=r"its outputs declare 384 MiB in all, "
                                                    r"more than the 256 MiB response budget"):
            client.predict("m", {"x": [1.0]})
        assert server.requests == 1


@pytest.mark.parametrize(("answer", "fault"), [
    (classifier_answer(1), "output 'classes' has 1 row for the 2 inputs sent"),
    (classifier_answer(2, labels=(b"Shirt", b"\xff\xfeBag")),
     r"output 'classes' holds b'\xff\xfeBag' at [0, 1], which is not UTF-8 text"),
    (response(classes=np.array([[b"Shirt"]] * 2, dtype=object),
              scores=np.array([[b"high"]] * 2, dtype=object),
              class_ids=np.array([[6]] * 2, dtype=np.int64)),
     "output 'scores' is DT_STRING, not DT_FLOAT"),
    (classifier_answer(2, scores=(np.nan, np.inf)),
     "output 'scores' holds nan at [0, 0], where a finite number belongs"),
    (response(classes=np.array([[b"Shirt"]] * 2, dtype=object)),
     "output 'scores' is missing (it has: 'classes')"),
    (response(classes=np.array([[b"Shirt", b"Bag"]] * 2, dtype=object),
              scores=np.float32([[0.5]] * 2), class_ids=np.int64([[6, 8]] * 2)),
     "output 'scores' has shape [2, 1] where 'classes' has [2, 2]"),
], ids=["too-few-rows", "not-utf8", "wrong-dtype", "nan", "missing", "ragged"])
def test_classify_names_the_servers_fault_in_one_line(images, answer, fault):
    with ScriptedServer(lambda request: answer) as server:
        result = tfstack("classify", *images, "--server", server.target)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"{MALFORMED}{fault}\n"


def test_ask_refuses_an_answer_that_is_not_utf8(tmp_path):
    story = tmp_path / "story.txt"
    story.write_text("Mary went to the kitchen.\n")
    answer = response(answer=np.array([b"\xc3("], dtype=object), probability=np.float32([0.9]),
                      gates=np.float32([[[1.0]]]), facts=np.array([[b"Mary"]], dtype=object))
    with ScriptedServer(lambda request: answer) as server:
        result = tfstack("ask", "Where is Mary?", "--story", str(story), "--server",
                         server.target)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"{MALFORMED}output 'answer' holds b'\\xc3(' at [0], which is "
                             "not UTF-8 text\n")


def test_translate_refuses_attention_smaller_than_its_tokens():
    def answer(request):
        rows = batch_size(request)
        return response(translation=np.array([b"hello world"] * rows, dtype=object),
                        score=np.float32([-0.5] * rows), attention=np.float32([[[1.0]]] * rows),
                        source_tokens=np.array([[b"hallo", b"</s>"]] * rows, dtype=object),
                        target_tokens=np.array([[b"hello", b"world"]] * rows, dtype=object))

    with ScriptedServer(answer) as server:
        result = tfstack("translate", "hallo welt", "--server", server.target)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"{MALFORMED}output 'attention' has [1, 1] weights at [0] for "
                             "2 target and 2 source tokens\n")


def test_score_stops_at_a_malformed_answer_without_error_rows(images, tmp_path):
    output = tmp_path / "out.jsonl"
    with ScriptedServer(lambda request: classifier_answer(1)) as server:
        result = tfstack("score", "classifier", str(tmp_path), "-o", str(output),
                         "--server", server.target, "--no-progress")
    assert result.returncode == 1
    assert result.stderr == (
        f"{MALFORMED}output 'classes' has 1 row for the 2 inputs sent; the rows written "
        "before are whole: run again with --resume once the server answers as it should\n")
    assert output.read_bytes() == b""  # the server's fault is no input's error row
    assert server.requests == 1  # not split in halves as a refused batch is


@pytest.mark.parametrize(("field", "value", "fault"), [
    ("state", 77, "GetModelStatus reports the unknown state 77"),
    ("error_code", 99, "GetModelStatus reports the unknown error code 99"),
])
def test_a_status_no_tf_serving_sends_is_the_servers_fault(field, value, fault):
    from clients import codecs
    from contract import protos

    answer = protos.GetModelStatusResponse()
    status = answer.model_version_status.add(version=1, state=30)
    if field == "state":
        status.state = value
    else:
        status.status.error_code = value
    with pytest.raises(MalformedResponse, match=fault):
        codecs.version_statuses(answer)
