"""The bAbI parser on the real task files."""

from __future__ import annotations

import pytest

from models.qa.babi import load_tasks, locate_babi, parse_babi


@pytest.fixture(scope="module")
def root():
    try:
        return locate_babi(download=False)
    except FileNotFoundError:
        pytest.skip("bAbI tasks not present (../shared/data/babi/en)")


def test_first_story_of_task_1(root):
    examples = parse_babi(root / "qa1_single-supporting-fact_train.txt")
    first, second = examples[:2]
    assert first.facts == ("Mary moved to the bathroom.", "John went to the hallway.")
    assert (first.question, first.answer, first.supporting) == ("Where is Mary?",
                                                                ("bathroom",), (0,))
    assert second.facts[-1] == "Sandra moved to the garden."  # questions are not facts
    assert second.facts[second.supporting[0]] == "Daniel went back to the hallway."
    assert len(examples) == 1000 and {e.task for e in examples} == {1}


def test_story_resets_when_ids_restart(root):
    examples = parse_babi(root / "qa1_single-supporting-fact_train.txt")
    assert max(len(e.facts) for e in examples) <= 10
    assert sum(len(e.facts) == 2 for e in examples) == 200  # one first question per story


def test_questions_of_one_story_share_its_number(root):
    examples = parse_babi(root / "qa1_single-supporting-fact_train.txt")
    assert [e.story for e in examples[:6]] == [0, 0, 0, 0, 0, 1]  # 5 questions a story
    assert examples[5].facts[:2] != examples[4].facts[:2]
    assert len({e.story for e in examples}) == 200


def test_validation_takes_whole_stories(root):
    from models.qa.trainer import split_validation

    examples = load_tasks([1, 15], "train", root)
    train, validation = split_validation(examples, 0.1, seed=7)
    assert len(train) + len(validation) == len(examples)
    held = {(e.task, e.story) for e in validation}
    assert held.isdisjoint((e.task, e.story) for e in train)
    assert 0.08 < len(validation) / len(examples) < 0.12
    assert {e.task for e in validation} == {1, 15}
    assert split_validation(examples, 0.1, seed=7)[1] == validation


def test_multi_word_answers_and_several_supporting_facts(root):
    lists = load_tasks([8], "train", root)
    several = next(e for e in lists if len(e.answer) > 1)
    assert several.answer_text == ",".join(several.answer)
    assert all(0 <= i < len(several.facts) for i in several.supporting)
    paths = load_tasks([19], "test", root)
    assert all(len(e.answer) == 2 for e in paths)  # e.g. ("n", "w")


def test_all_tasks_have_1k_train_and_test_questions(root):
    for split in ("train", "test"):
        examples = load_tasks("all", split, root)
        assert len(examples) == 20_000
        assert {e.task for e in examples} == set(range(1, 21))


def test_bad_lines_are_reported_with_their_place(tmp_path, root):
    bad = tmp_path / "qa1_x_train.txt"
    bad.write_text("1 Mary went home.\n2 Where is Mary?\thome\t7\n")
    with pytest.raises(ValueError, match="qa1_x_train.txt:2: supporting fact"):
        parse_babi(bad)
    with pytest.raises(ValueError, match="no train file for task"):
        load_tasks([21], "train", root)
