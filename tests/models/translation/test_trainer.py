"""What the translator trains on besides the sentence pairs."""

from __future__ import annotations

import pytest

from models.translation.corpus import SentencePair
from models.translation.preprocessor import TranslationPreprocessor
from models.translation.trainer import lexicon_pairs


@pytest.mark.trans
def test_lexicon_keeps_in_vocabulary_phrases_and_never_a_held_out_sentence():
    preprocessor = TranslationPreprocessor(["aal", "blau", "in", "aspik"],
                                           ["eel", "au", "bleu", "jellied"])
    pairs = lexicon_pairs(preprocessor, "de-en", [])
    assert {SentencePair("Aal", "Eel"), SentencePair("Aal blau", "Eel au bleu"),
            SentencePair("Aal in Aspik", "Jellied Eel")} <= set(pairs)
    held_out = [SentencePair("Aal blau!", "Blue eel!"), SentencePair("Sülze.", "Jellied eel.")]
    pairs = lexicon_pairs(preprocessor, "de-en", held_out)
    assert SentencePair("Aal", "Eel") in pairs
    assert SentencePair("Aal blau", "Eel au bleu") not in pairs  # a held-out source
    assert SentencePair("Aal in Aspik", "Jellied Eel") not in pairs  # a held-out target
    words = {w for p in pairs for w in p.source.lower().split()}
    assert words <= {"aal", "blau", "in", "aspik"}
    assert {w for p in pairs for w in p.target.lower().split()} <= {"eel", "au", "bleu",
                                                                      "jellied"}


def test_lexicon_without_the_dictionary_says_how_to_do_without(tmp_path, monkeypatch):
    from models.translation import corpus

    monkeypatch.delenv("TFSTACK_DATA_DIR", raising=False)
    monkeypatch.setattr(corpus, "DING_FILE", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="--no-lexicon"):
        lexicon_pairs(TranslationPreprocessor(["aal"], ["eel"]), "de-en", [])
