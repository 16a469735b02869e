"""Sentence pairs from the real Ding dictionary and tab-separated files."""

from __future__ import annotations

import itertools

import pytest

from models.translation.corpus import (
    SentencePair,
    load_pairs,
    parse_ding_line,
    parse_ding_phrases,
    read_ding_phrases,
    read_tsv,
    split_pairs,
)
from tests.conftest import TRANS_FILE


@pytest.fixture(scope="module")
def ding_pairs() -> list[SentencePair]:
    """The real dictionary's sentence pairs, German to English: read once (seconds)."""
    return load_pairs(corpus="ding")


@pytest.fixture(scope="module")
def ding_head(tmp_path_factory) -> str:
    """The real dictionary's first 3,000 lines, for what needs no whole read."""
    path = tmp_path_factory.mktemp("ding") / "de-en"
    with open(TRANS_FILE, encoding="utf-8") as stream:
        path.write_text("".join(itertools.islice(stream, 3000)),
                        encoding="utf-8")
    return str(path)


def _line(prefix: str) -> str:
    with open(TRANS_FILE, encoding="utf-8") as stream:
        return next(line for line in stream if line.startswith(prefix))


@pytest.mark.trans
def test_synonyms_of_a_sentence_entry_pair_up():
    pairs = parse_ding_line(_line("Guten Appetit!; Mahlzeit! ::"))
    assert sorted(pairs) == sorted([
        ("Guten Appetit!", "Enjoy your meal!"), ("Guten Appetit!", "Bon appétit!"),
        ("Mahlzeit!", "Enjoy your meal!"), ("Mahlzeit!", "Bon appétit!")])


@pytest.mark.trans
def test_parallel_entries_keep_only_the_sentences_and_drop_annotations():
    pairs = parse_ding_line(_line("sich (in etw.) verfangen;"))
    assert ("Das Tier verfing sich im Netz.", "The animal got entangled in the net.") in pairs
    assert ("Sie verfing sich in ihrem eigenen Lügengespinst.",
            "She was entangled in her own web of lies.") in pairs  # a/b keeps a
    assert ("Der Drachen verhedderte sich im Baum.",
            "The kite got entangled in the tree.") in pairs
    assert len(pairs) == 4  # the word entries and phrases are not sentences
    assert not any("{" in s or "(" in s or "/" in s for pair in pairs for s in pair)


@pytest.mark.trans
def test_word_entries_and_comments_give_nothing():
    assert parse_ding_line(_line("Aal {m} (auf der Speisekarte)")) == []
    assert parse_ding_line(_line("# Version ::")) == []


@pytest.mark.trans
def test_phrases_take_each_entry_s_first_synonym_without_annotations():
    assert parse_ding_phrases(_line("Lernmaterial {n}; Lernunterlagen {pl}")) == [
        ("Lernmaterial", "learning material")]
    assert parse_ding_phrases(_line("Planungsteam {n} | Planungsteams {pl}")) == [
        ("Planungsteam", "planning team"), ("Planungsteams", "planning teams")]


@pytest.mark.trans
def test_phrases_longer_than_the_limit_and_sentences_are_left_out():
    eel = _line("Aal {m} (auf der Speisekarte)")
    # "Aal grün" is "Boiled Eel served with Parsley Sauce": six words
    assert parse_ding_phrases(eel) == [("Aal", "Eel"), ("Aal blau", "Eel au bleu"),
                                       ("Aal in Aspik", "Jellied Eel")]
    assert ("Aal grün", "Boiled Eel served with Parsley Sauce") in parse_ding_phrases(eel, 6)
    assert parse_ding_phrases(_line("Guten Appetit!; Mahlzeit! ::")) == []


@pytest.mark.trans
def test_the_real_dictionary_s_phrases_are_distinct_from_its_sentences(ding_pairs, ding_head):
    phrases = read_ding_phrases(TRANS_FILE)
    assert len(phrases) > 100_000
    assert not set(phrases) & set(ding_pairs)
    head = read_ding_phrases(ding_head)
    assert head == phrases[:len(head)]
    assert read_ding_phrases(ding_head, "en-de")[0] == SentencePair(phrases[0].target,
                                                                    phrases[0].source)


def test_entry_counts_that_differ_skip_the_line():
    assert parse_ding_line("Ja. | Nein. :: Yes.\n") == []


@pytest.mark.trans
def test_the_real_dictionary_has_over_ten_thousand_sentence_pairs(ding_pairs, ding_head):
    pairs = ding_pairs
    assert len(pairs) > 10_000
    assert len(set(pairs)) == len(pairs)
    reverse = load_pairs(ding_head, direction="en-de")
    assert reverse[0] == SentencePair(pairs[0].target, pairs[0].source)


def test_tsv_columns_follow_the_declared_languages(tmp_path):
    path = tmp_path / "deu.txt"
    path.write_text("Go.\tGeh.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n\n"
                    "Hi.\tHallo!\n", encoding="utf-8")
    assert read_tsv(path, "de-en", "en-de") == [SentencePair("Geh.", "Go."),
                                               SentencePair("Hallo!", "Hi.")]
    assert load_pairs(path, "en-de")[0] == SentencePair("Go.", "Geh.")
    with pytest.raises(ValueError, match="does not match"):
        read_tsv(path, "fr-en", "en-de")


def test_a_line_without_tab_is_reported(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("Go.\tGeh.\njust one column\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        read_tsv(path)


def test_split_is_deterministic_and_keeps_shared_sentences_together():
    pairs = [SentencePair(f"Satz {i}.", f"Sentence {i}.") for i in range(2000)]
    linked = [SentencePair("Satz 7.", "Clause seven."), SentencePair("satz  7.", "Other."),
              SentencePair("Noch ein Satz.", "Sentence 7.")]
    pairs += linked
    first, second = split_pairs(pairs), split_pairs(list(reversed(pairs)))
    assert {k: sorted(v) for k, v in first.items()} == {k: sorted(v) for k, v in second.items()}
    assert 50 < len(first["test"]) < 150 and 50 < len(first["validation"]) < 150
    group = [*linked, SentencePair("Satz 7.", "Sentence 7.")]
    assert [sum(p in split for p in group) for split in first.values()].count(4) == 1


@pytest.mark.parametrize("corpus", [pytest.param("ding", marks=pytest.mark.trans), "tatoeba"])
def test_no_sentence_of_the_test_split_is_seen_in_training(corpus, request):
    pairs = request.getfixturevalue("ding_pairs") if corpus == "ding" else load_pairs()
    splits = split_pairs(pairs)
    if corpus == "tatoeba":  # a fixed test split of at least 5,000 pairs
        assert len(splits["test"]) >= 5000 and len(splits["validation"]) >= 5000
    seen = {" ".join(s.lower().split()) for p in splits["train"] for s in (p.source, p.target)}
    assert all(" ".join(p.source.lower().split()) not in seen
               and " ".join(p.target.lower().split()) not in seen for p in splits["test"])
