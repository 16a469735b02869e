"""What a REST body may cost the server: nesting depth and decoded size are checked
before the body is parsed or its arrays built, and answered with 400.

TF Serving parses bodies with RapidJSON's iterative parser (`ParseJson` in
tensorflow_serving/util/json_tensor.cc, flag kParseIterativeFlag), so no nesting
crashes it, and it words parse failures "JSON Parse error: <reason> at offset: <n>";
the embedded server parses with Python's recursive json module, so it refuses
nesting deeper than MAX_JSON_DEPTH first, in that wording.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
import requests

from contract.tensor_codec import STRING_ELEMENT_BYTES
from serving.errors import InvalidArgument
from serving.json_codec import MAX_JSON_DEPTH, check_structure, parse_body
from serving.rest import INLINE_BODY_BYTES


@pytest.fixture(scope="module")
def url(server):
    return server.rest_url + "/v1/models/doubler:predict"


@pytest.fixture
def budget(server):
    """Sets the data plane's per-request tensor budget (--max_request_tensor_bytes)
    for one test."""
    dataplane = server.dataplane
    default = dataplane.limits

    def set_budget(max_bytes: int) -> None:
        dataplane.limits = dataclasses.replace(default, max_request_tensor_bytes=max_bytes)
        assert dataplane.max_request_tensor_bytes == max_bytes

    yield set_budget
    dataplane.limits = default


def nested(depth: int) -> bytes:
    """A row-format body whose value nests `depth` levels in all (the body object is one)."""
    inner = depth - 1
    return b'{"instances": ' + b"[" * inner + b"1" + b"]" * inner + b"}"


def answers(url: str) -> None:
    good = requests.post(url, json={"instances": [[1, 2]]}, timeout=30)
    assert good.status_code == 200
    assert good.json() == {"predictions": [{"y": [2.0, 4.0], "total": 3.0}]}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000], ids=["just over", "100k"])
def test_deep_nesting_is_refused_with_400_and_the_server_keeps_serving(url, depth):
    body = nested(depth)
    assert (len(body) > INLINE_BODY_BYTES) == (depth == 100_000)  # both code paths
    response = requests.post(url, data=body, timeout=30)
    assert response.status_code == 400
    offset = len(b'{"instances": ') + MAX_JSON_DEPTH - 1  # the "[" opening level 101
    assert response.json() == {"error": (
        f"JSON Parse error: arrays and objects nest deeper than {MAX_JSON_DEPTH} levels at "
        f"offset: {offset}; no request tensor needs more")}
    answers(url)


def test_nesting_at_the_limit_is_parsed_and_judged_by_the_signature(url):
    response = requests.post(url, data=nested(MAX_JSON_DEPTH), timeout=30)
    assert response.status_code == 400
    assert "nest deeper" not in response.json()["error"]
    assert "input 'x' could not be read as float32" in response.json()["error"]


def test_brackets_inside_strings_do_not_count(url):
    text = '["\\"' + "[" * 500 + "{" * 500 + '\\\\'
    body = {"signature_name": "shout", "instances": [text]}
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 200
    assert response.json() == {"predictions": [text.upper()]}


@pytest.mark.parametrize("raw, deepest", [
    (b'[[[]]]', 3), (b'{"a": "[[[[", "b": [[1]]}', 3), (b'["\\"[[[[", [1]]', 2),
    (b'["\\\\", [[[1]]]]', 4), (b'["\\\\\\"[[[[[", [1]]', 2),
    (b'{"k": "}}]]", "x": [[[[]]]]}', 5),
])
def test_depth_scan_skips_strings_and_escaped_quotes(raw, deepest):
    assert len(json.loads(raw)) > 0
    check_structure(raw, deepest)
    with pytest.raises(InvalidArgument, match=f"nest deeper than {deepest - 1} levels"):
        check_structure(raw, deepest - 1)


def test_empty_body_is_refused_as_tf_serving_words_it(url):
    response = requests.post(url, data=b"  ", timeout=30)
    assert response.status_code == 400
    assert response.json() == {"error": "JSON Parse error: The document is empty"}


def test_body_over_the_tensor_budget_is_refused_naming_both_numbers(url, budget):
    budget(1000)
    body = {"instances": [[1, 2]] * 200}  # 200 x 2 float32: 1600 bytes
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 400
    assert response.json() == {"error": (
        "the request's tensors would decode to 1600 bytes, more than the server's limit of "
        "1000 bytes per request (--max_request_tensor_bytes): 'x' shape [200, 2] float32 "
        "(1600 bytes)")}
    budget(1600)
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 200


def test_large_body_over_the_budget_is_refused_off_the_loop(url, budget):
    budget(100_000)
    body = json.dumps({"inputs": {"x": [[0.5, 1.5]] * 20_000}}).encode()
    assert len(body) > INLINE_BODY_BYTES
    response = requests.post(url, data=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "would decode to 160000 bytes" in error and "limit of 100000 bytes" in error
    answers(url)


def test_string_inputs_count_their_bytes_after_b64_decoding(url, budget):
    payload = b"\xff" * 300
    body = {"signature_name": "shout",
            "instances": [{"b64": base64.b64encode(payload).decode()}, "abcd"]}
    decoded = 300 + 4 + 2 * STRING_ELEMENT_BYTES
    budget(decoded - 1)
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 400
    assert f"'text' shape [2] string ({decoded} bytes)" in response.json()["error"]
    budget(decoded)
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 200
    assert response.json()["predictions"][1] == "ABCD"


def test_large_body_is_parsed_and_answered_correctly(url):
    rows = [f"row {i} " + "x" * 80 for i in range(1000)]  # at the default row limit
    body = json.dumps({"signature_name": "shout", "instances": rows}).encode()
    assert len(body) > INLINE_BODY_BYTES
    response = requests.post(url, data=body, timeout=60)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 1000
    assert predictions[123] == "ROW 123 " + "X" * 80


@pytest.mark.parametrize("number", ["1e400", "-2.5E+308", "1" + "0" * 309 + ".5"])
def test_numbers_beyond_a_double_are_refused_as_rapidjson_refuses_them(url, number):
    body = f'{{"instances": [[{number}, 1.0]]}}'
    response = requests.post(url, data=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "JSON Parse error: Number too big to be stored in double")
    answers(url)


def test_infinity_and_large_finite_numbers_are_still_read(url):
    # kParseNanAndInfFlag: TF Serving reads the literals; 1e300 is a finite double,
    # infinite once cast to float32 as RapidJSON's GetFloat casts it
    body = '{"instances": [[Infinity, 1e300], [1e-400, 2]]}'
    response = requests.post(url, data=body, timeout=30)
    assert response.status_code == 200
    first, second = response.json()["predictions"]
    assert first["y"] == [float("inf")] * 2 and second["y"] == [0.0, 4.0]


@pytest.mark.parametrize("item, per_item", [(b"[]", 64), (b"{}", 160), (b"1", 32)])
def test_parsed_size_is_estimated_before_parsing(item, per_item):
    count = 10_000
    raw = b'{"instances": [' + b",".join([item] * count) + b"]}"
    with pytest.raises(InvalidArgument, match="once parsed, more than the server's limit of "
                                              r"100000 bytes .*--rest_max_parsed_body_bytes"):
        parse_body(raw, max_parsed_bytes=100_000)
    assert len(parse_body(raw, max_parsed_bytes=count * (per_item + 33) + len(raw))[
        "instances"]) == count


def test_brackets_and_commas_inside_strings_are_not_counted_as_values():
    raw = json.dumps({"instances": ["[],{}," * 10_000]}).encode()
    assert parse_body(raw, max_parsed_bytes=len(raw) + 1000)["instances"][0].startswith("[]")
