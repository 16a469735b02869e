"""TF Serving's REST API on the real server, in process, over a model that is not ours."""

from __future__ import annotations

import base64

import pytest
import requests


@pytest.fixture(scope="module")
def url(server):
    return server.rest_url + "/v1/models"


def test_status_of_all_versions_one_version_and_a_label(url):
    body = requests.get(f"{url}/doubler", timeout=30).json()
    states = {s["version"]: s for s in body["model_version_status"]}
    assert {v: s["state"] for v, s in states.items()} == {
        "1": "AVAILABLE", "2": "AVAILABLE", "3": "END"}
    assert states["1"]["status"] == {"error_code": "OK", "error_message": ""}
    assert states["3"]["status"]["error_code"] == "FAILED_PRECONDITION"
    assert "does not parse" in states["3"]["status"]["error_message"]
    one = requests.get(f"{url}/doubler/versions/1", timeout=30).json()
    assert [s["version"] for s in one["model_version_status"]] == ["1"]
    labelled = requests.get(f"{url}/doubler/labels/canary", timeout=30).json()
    assert [s["version"] for s in labelled["model_version_status"]] == ["2"]


def test_metadata_lists_signatures(url):
    body = requests.get(f"{url}/doubler/versions/1/metadata", timeout=30).json()
    assert body["model_spec"] == {"name": "doubler", "signature_name": "", "version": "1"}
    # the SignatureDefMap unpacked, with no "@type" (http_rest_api_util.cc ToJsonString)
    assert list(body["metadata"]["signature_def"]) == ["signature_def"]
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "shout", "decode", "__saved_model_init_op"}
    assert signatures["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"


def test_row_format_predict(url):
    body = {"instances": [[1, 2], [3, 4.5]]}
    response = requests.post(f"{url}/doubler:predict", json=body, timeout=30)
    assert response.status_code == 200
    assert response.json() == {"predictions": [{"y": [2.0, 4.0], "total": 3.0},
                                               {"y": [6.0, 9.0], "total": 7.5}]}


def test_named_row_format_and_columnar_format(url):
    rows = requests.post(f"{url}/doubler/versions/1:predict",
                         json={"instances": [{"x": [1, 1]}]}, timeout=30).json()
    assert rows == {"predictions": [{"y": [2.0, 2.0], "total": 2.0}]}
    columns = requests.post(f"{url}/doubler/labels/stable:predict",
                            json={"inputs": {"x": [[1, 1], [0, 2]]}}, timeout=30).json()
    assert columns == {"outputs": {"y": [[2.0, 2.0], [0.0, 4.0]], "total": [2.0, 2.0]}}


def test_strings_and_b64(url):
    body = {"signature_name": "shout",
            "instances": ["abc", {"b64": base64.b64encode(b"xyz").decode()}]}
    response = requests.post(f"{url}/doubler:predict", json=body, timeout=30)
    assert response.json() == {"predictions": ["ABC", "XYZ"]}
    columnar = {"signature_name": "shout", "inputs": ["\u00e9t\u00e9"]}  # UTF-8 round trip
    assert requests.post(f"{url}/doubler:predict", json=columnar, timeout=30).json() == {
        "outputs": ["\u00e9T\u00e9"]}  # tf.strings.upper changes ASCII letters only


BAD = {
    "malformed JSON": ("doubler:predict", b'{"instances": [1, 2', 400, "JSON Parse error"),
    "not an object": ("doubler:predict", b"[1, 2]", 400, "must be a JSON object"),
    "neither format": ("doubler:predict", b'{"rows": []}', 400, '"instances"'),
    "both formats": ("doubler:predict", b'{"instances": [[1,2]], "inputs": [[1,2]]}', 400,
                     "exactly one"),
    "unknown model": ("resnet:predict", b'{"instances": [[1, 2]]}', 404, "Latest(resnet)"),
    "unknown version": ("doubler/versions/9:predict", b'{"instances": [[1, 2]]}', 404,
                        "Specific(doubler, 9)"),
    "unknown label": ("doubler/labels/beta:predict", b'{"instances": [[1, 2]]}', 404, "beta"),
    "unknown signature": ("doubler:predict",
                          b'{"signature_name": "nope", "instances": [[1, 2]]}', 400,
                          'signature key "nope" not found'),
    "rank the graph refuses": ("doubler:predict", b'{"instances": [1, 2, 3]}', 400,
                               "Invalid reduction dimension"),
    "ragged strings": ("doubler:predict",
                       b'{"signature_name": "shout", "instances": [[], ["a", "b"]]}', 400,
                       "ragged or non-string values"),
    "ragged": ("doubler:predict", b'{"instances": [[1, 2], [3]]}', 400, "could not be read"),
    "strings for floats": ("doubler:predict", b'{"instances": [["a", "b"]]}', 400,
                           "could not be read as float32"),
    "bad b64": ("doubler:predict",
                b'{"signature_name": "shout", "instances": [{"b64": "@@@"}]}', 400,
                "invalid base64"),
    "undecodable image": ("doubler:predict",
                          b'{"signature_name": "decode", "instances": [{"b64": "AAAA"}]}', 400,
                          "could not process the request"),
    "signature name not a string": (
        "doubler:predict", b'{"signature_name": ["shout"], "instances": [[1, 2]]}', 400,
        "JSON Value: [\"shout\"] not formatted correctly. 'signature_name' key must be a "
        "string value."),
    "lone surrogate": ("doubler:predict",
                       b'{"signature_name": "shout", "instances": ["\\ud800"]}', 400,
                       "JSON Parse error: The surrogate pair in string is invalid."),
    # http_rest_api_handler.cc: a path its regexes do not match is InvalidArgument
    "unknown path": ("doubler/weights", b"{}", 400, "Malformed request: POST"),
    # http_rest_api_util.cc: RE2's \d is ASCII; SimpleAtoi reads an int64 or fails
    "arabic-indic version": ("doubler/versions/\u0661:predict", b"{}", 400,
                             "Malformed request"),
    "5000-digit version": ("doubler/versions/" + "9" * 5000 + ":predict", b"{}", 400,
                           "Failed to convert version: 999"),
    "version past int64": ("doubler/versions/9223372036854775808:predict", b"{}", 400,
                           "Failed to convert version"),
    "negative version": ("doubler/versions/-1:predict", b"{}", 400, "Malformed request"),
    # util/json_tensor.cc ParseJson: UTF-8 only, so UTF-16 is not JSON
    "utf-16 body": ("doubler:predict", '{"instances": [[1, 1]]}'.encode("utf-16"), 400,
                    "JSON Parse error"),
    "missing verb": ("doubler", b"{}", 400, "expected a :predict"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_request_gets_json_error_and_server_keeps_serving(url, case):
    path, data, status, message = BAD[case]
    response = requests.post(f"{url}/{path}", data=data, timeout=30)
    assert response.status_code == status
    assert message in response.json()["error"]
    good = requests.post(f"{url}/doubler:predict", json={"instances": [[1, 1]]}, timeout=30)
    assert good.json()["predictions"][0]["total"] == 2.0


@pytest.mark.parametrize("path, body", [
    ("doubler:predict", b'\xef\xbb\xbf{"instances": [[1, 1]]}'),  # a UTF-8 BOM is skipped
    ("doubler:predict", b'{"instances": [[1, 1]]} trailing'),  # kParseStopWhenDoneFlag
    ("doubler/versions/0002:predict", b'{"instances": [[1, 1]]}'),  # SimpleAtoi: 2
    ("DOUBLER:PREDICT", b'{"instances": [[1, 1]]}'),  # the regexes ignore case
])
def test_what_tf_serving_reads_is_read(url, path, body):
    """RapidJSON behind EncodedInputStream<UTF8> with kParseStopWhenDoneFlag
    (util/json_tensor.cc), and the path regexes (?i) (http_rest_api_util.cc)."""
    if path.startswith("DOUBLER"):  # the model name itself keeps its case
        url, path = url.upper().replace("HTTP://", "http://"), "doubler:PREDICT"
    response = requests.post(f"{url}/{path}", data=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["total"] == 2.0


def test_get_on_predict_url_is_rejected(url):
    response = requests.get(f"{url}/doubler:predict", timeout=30)
    assert response.status_code == 400
    assert "needs POST" in response.json()["error"]
