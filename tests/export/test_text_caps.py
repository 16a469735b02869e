"""The cuts the served text graphs make before tokenising: at a character boundary,
whole lines from a story's end, words of bounded length; and bounded output whatever
the input's size."""

from __future__ import annotations

import tensorflow as tf

from export.text_caps import MAX_WORD_CHARS, first_bytes, last_lines, short_words


def values(tensor: tf.Tensor) -> list[bytes]:
    return tensor.numpy().tolist()


def test_first_bytes_never_splits_a_character():
    text = tf.constant(["ä" * 10, "abc", "", "ab€", "€€€"])  # ä: 2 bytes, €: 3
    assert values(first_bytes(text, 5)) == [
        "ää".encode(), b"abc", b"", "ab€".encode(), "€".encode()]
    assert values(first_bytes(text, 3)) == ["ä".encode(), b"abc", b"", b"ab", "€".encode()]
    assert values(first_bytes(text, 1)) == [b"", b"a", b"", b"a", b""]


def test_first_bytes_of_a_huge_or_invalid_text_stay_within_the_limit():
    huge = tf.constant([b"x" * 60_000_000, b"\x80" * 1_000_000, b"\xff\xfe" * 1000])
    assert [len(v) for v in values(first_bytes(huge, 1600))] == [1600, 0, 1600]
    assert first_bytes(tf.constant([], tf.string), 1600).shape == (0,)


def test_last_lines_keeps_only_lines_that_start_within_the_limit():
    story = tf.constant(["line one\nline two\n", "a\nbb\nccc", "abc", ""])
    assert values(last_lines(story, 100)) == [b"line one\nline two\n", b"a\nbb\nccc",
                                              b"abc", b""]
    assert values(last_lines(story, 9)) == [b"line two\n", b"a\nbb\nccc", b"abc", b""]
    assert values(last_lines(story, 8)) == [b"", b"a\nbb\nccc", b"abc", b""]
    assert values(last_lines(story, 4)) == [b"", b"ccc", b"abc", b""]  # ccc starts in them
    assert values(last_lines(story, 2)) == [b"", b"", b"", b""]  # a line cut is left out


def test_last_lines_of_a_huge_story_are_its_last_facts():
    story = tf.constant(["Mary went home.\n" * 1_000_000 + "John left."])
    kept = values(last_lines(story, 100))[0]
    assert kept == b"Mary went home.\n" * 5 + b"John left."  # 90 bytes: 6 whole lines


def test_short_words_cuts_every_long_run_of_characters():
    text = tf.constant(["x" * 70 + " yy " + "é" * 80 + ".", "Wo ist der Bahnhof?", ""])
    assert values(short_words(text)) == [
        ("x" * MAX_WORD_CHARS + " yy " + "é" * MAX_WORD_CHARS).encode(),
        b"Wo ist der Bahnhof?", b""]


def test_invalid_bytes_cannot_hide_a_long_word():
    # U+FFFD joins the runs around it in normalisation: it counts as a character here
    text = tf.constant([(b"a" * 40 + b"\xff") * 10])
    (word,) = values(short_words(text))
    assert word.decode() == ("a" * 40 + "\ufffd" + "a" * 23)
