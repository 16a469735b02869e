"""The wire contract: lookups by name, with errors that list what exists."""

from __future__ import annotations

import pytest

from contract.endpoints import CLASSIFIER, DEFAULT_SIGNATURE, ENDPOINTS


def test_classifier_contract():
    assert ENDPOINTS["classifier"] is CLASSIFIER
    default = CLASSIFIER.signature(DEFAULT_SIGNATURE)
    assert default.input("image_bytes").dtype == "DT_STRING"
    assert [o.key for o in default.outputs] == ["classes", "scores", "class_ids"]
    assert CLASSIFIER.signature("predict_pixels").input("pixels").dtype == "DT_FLOAT"


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="serving_default, predict_pixels"):
        CLASSIFIER.signature("nope")
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        CLASSIFIER.signature(DEFAULT_SIGNATURE).output("nope")
