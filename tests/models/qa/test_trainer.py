"""Supporting-fact supervision of the DMN+: per-pass targets and what they teach."""

from __future__ import annotations

import numpy as np
import pytest

from models.qa.babi import Example, load_tasks
from models.qa.trainer import supporting_targets


def test_each_pass_targets_the_supporting_facts_in_order_then_the_last_again():
    examples = [Example(2, tuple("abcdef"), "q", ("x",), (2, 5)),
                Example(1, tuple("abc"), "q", ("x",), (1,))]
    np.testing.assert_array_equal(supporting_targets(examples, passes=3, max_facts=10),
                                  [[2, 5, 5], [1, 1, 1]])


def test_supporting_facts_cut_from_a_long_story_are_ignored():
    example = Example(2, tuple("abcdef"), "q", ("x",), (1, 4))  # window: d, e, f
    np.testing.assert_array_equal(supporting_targets([example], passes=2, max_facts=3),
                                  [[-1, 1]])


@pytest.mark.babi
def test_first_pass_targets_the_fact_that_moves_the_asked_object():
    examples = load_tasks([2], "train")[:200]
    targets = supporting_targets(examples, passes=2, max_facts=70)
    for e, (first, second) in zip(examples, targets, strict=True):
        thing = e.question.rstrip("?").split()[-1]  # "Where is the football?"
        assert thing in e.facts[first] and e.answer[0] in e.facts[second]
