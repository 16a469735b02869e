"""Sentence pairs for translation: Tatoeba (manythings' `deu-eng.zip`, the default), the
Ding dictionary (Debian `trans-de-en`, an out-of-domain test set) and tab-separated
parallel files.

Ding lines read `German :: English`; ` | ` separates parallel entries on both sides,
`; ` synonyms within an entry, and `{..}` `[..]` `(..)` `<..>` are annotations. Only
entries that are whole sentences on both sides are kept (a capital first letter and a
final `.`, `!`, `?` or `…`); word alternatives written `a/b` keep the first.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.downloads import DataNotFound
from models.translation import tatoeba
from models.translation.tatoeba import TatoebaRelease

CORPORA = ("tatoeba", "ding")
DING_FILE = Path("/usr/share/trans/de-en")
DING_LANGUAGES = "de-en"
SPLITS = ("train", "validation", "test")
LEXICON_MAX_WORDS = 3  # longest dictionary phrase (per side) added by `read_ding_phrases`

_ANNOTATION = re.compile(r"\s*(\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>)")
_ALTERNATIVE = re.compile(r"(\w+)(?:/\w+)+")
_SENTENCE = re.compile(r"^[\"'„“‚‘(¿¡]*[A-ZÄÖÜ0-9].*[.!?…][\"'“”’‘)]*$")


@dataclass(frozen=True, order=True)
class SentencePair:
    """A source sentence and its translation."""

    source: str
    target: str


def parse_ding_line(line: str) -> list[tuple[str, str]]:
    """The (German, English) sentence pairs of one dictionary line, all synonym
    combinations of each parallel entry; [] for words, phrases and comments."""
    return [pair for entry_de, entry_en in _entries(line)
            for pair in itertools.product(_sentences(entry_de), _sentences(entry_en))]


def parse_ding_phrases(line: str, max_words: int = LEXICON_MAX_WORDS) -> list[tuple[str, str]]:
    """The (German, English) word and phrase pairs of one dictionary line: the first
    synonym of each side of each parallel entry, at most `max_words` words each; [] for
    sentences and comments."""
    pairs = []
    for entry_de, entry_en in _entries(line):
        german, english = _clean(entry_de.split("; ")[0]), _clean(entry_en.split("; ")[0])
        if german and english and not (_SENTENCE.match(german) or _SENTENCE.match(english)) \
                and len(german.split()) <= max_words and len(english.split()) <= max_words:
            pairs.append((german, english))
    return pairs


def _entries(line: str) -> list[tuple[str, str]]:
    """The parallel (German, English) entries of a dictionary line."""
    if line.startswith("#") or " :: " not in line:
        return []
    german, english = line.rstrip("\n").split(" :: ", 1)
    entries_de, entries_en = german.split(" | "), english.split(" | ")
    if len(entries_de) != len(entries_en):
        return []
    return list(zip(entries_de, entries_en, strict=True))


def _clean(synonym: str) -> str:
    """A synonym without annotations, the first of `a/b` alternatives, single-spaced."""
    return " ".join(_ALTERNATIVE.sub(r"\1", _ANNOTATION.sub("", synonym)).split())


def _sentences(entry: str) -> list[str]:
    # "a / b": two alternative sentences in one, ambiguous, skipped
    texts = (_clean(synonym) for synonym in entry.split("; ") if " / " not in synonym)
    return [text for text in texts if _SENTENCE.match(text)]


def read_ding(path: str | Path, direction: str = "de-en") -> list[SentencePair]:
    """Every sentence pair of a Ding dictionary file, in file order, without repeats."""
    return _read_ding(path, direction, parse_ding_line)


def read_ding_phrases(path: str | Path, direction: str = "de-en",
                      max_words: int = LEXICON_MAX_WORDS) -> list[SentencePair]:
    """The word and phrase pairs of a Ding dictionary file (its entries that are not
    sentences), in file order, without repeats: extra training data for rare words."""
    return _read_ding(path, direction, functools.partial(parse_ding_phrases,
                                                         max_words=max_words))


def _read_ding(path: str | Path, direction: str,
               parse: Callable[[str], list[tuple[str, str]]]) -> list[SentencePair]:
    flip = _flip(direction, DING_LANGUAGES)
    pairs = dict.fromkeys(
        pair[::-1] if flip else pair
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        for pair in parse(line))
    return [SentencePair(*pair) for pair in pairs]


def read_tsv(path: str | Path, direction: str = "de-en",
             languages: str = "en-de") -> list[SentencePair]:
    """Pairs of a tab-separated file `first<TAB>second[<TAB>attribution]` whose columns
    are in `languages` order (manythings' `deu.txt` is en-de)."""
    return parse_tsv(Path(path).read_text(encoding="utf-8").splitlines(), direction,
                     languages, str(path))


def parse_tsv(lines: list[str], direction: str = "de-en", languages: str = "en-de",
              where: str = "<lines>") -> list[SentencePair]:
    """The pairs of tab-separated lines, in order, without repeats; `where` names the
    source in errors."""
    flip = _flip(direction, languages)
    pairs = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(f"{where}:{number}: expected 'source<TAB>target', got "
                             f"{line[:60]!r}")
        pair = (columns[0].strip(), columns[1].strip())
        pairs[pair[::-1] if flip else pair] = None
    return [SentencePair(*pair) for pair in pairs]


def _flip(direction: str, languages: str) -> bool:
    if direction == languages:
        return False
    if direction == "-".join(reversed(languages.split("-"))):
        return True
    raise ValueError(f"direction {direction!r} does not match the data's languages "
                     f"{languages!r}; use {languages!r} or its reverse")


def locate_ding(path: str | Path | None = None) -> Path:
    """The pairs file: an explicit path, `$TFSTACK_DATA_DIR/trans/de-en`, or the file
    of the Debian package `trans-de-en`."""
    candidates = [Path(path)] if path else []
    if os.environ.get("TFSTACK_DATA_DIR"):
        candidates.append(Path(os.environ["TFSTACK_DATA_DIR"]) / "trans" / "de-en")
    candidates.append(DING_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataNotFound("The Ding dictionary", "its file de-en", candidates,
                       data_dir="trans", flag="--data FILE", package="trans-de-en")


def load_pairs(path: str | Path | None = None, direction: str = "de-en",
               tsv_languages: str = "en-de", corpus: str = "tatoeba") -> list[SentencePair]:
    """The sentence pairs of `corpus` (see `load_corpus`)."""
    return load_corpus(path, direction, tsv_languages, corpus)[0]


def load_corpus(path: str | Path | None = None, direction: str = "de-en",
                tsv_languages: str = "en-de", corpus: str = "tatoeba",
                ) -> tuple[list[SentencePair], TatoebaRelease | None]:
    """Pairs from `path` (a Ding file, a tab-separated file, `deu-eng.zip` or a folder
    holding one), else from the corpus found by name: `tatoeba` (the default) or `ding`;
    with the Tatoeba release read, if it was Tatoeba."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; choose one of {', '.join(CORPORA)}")
    if corpus == "ding" or (path and _is_ding(Path(path))):
        return read_ding(locate_ding(path), direction), None
    lines, release = tatoeba.read_lines(tatoeba.locate(path))
    return parse_tsv(lines, direction, tsv_languages, release.path), release


def _is_ding(path: Path) -> bool:
    if not path.is_file() or path.suffix == ".zip":
        return False
    with open(path, encoding="utf-8") as stream:
        head = stream.readline()
    return " :: " in head or head.startswith("#")


def split_pairs(pairs: list[SentencePair], validation: float = 0.05,
                test: float = 0.05) -> dict[str, list[SentencePair]]:
    """A deterministic train/validation/test split in which sentences that share a
    source or a target (ignoring case and spacing) always land in the same split."""
    groups = _groups(pairs)
    splits: dict[str, list[SentencePair]] = {name: [] for name in SPLITS}
    for pair in pairs:
        bucket = _bucket(groups[_key(pair.source)])
        name = "test" if bucket < test else "validation" if bucket < test + validation \
            else "train"
        splits[name].append(pair)
    return splits


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _groups(pairs: list[SentencePair]) -> dict[str, str]:
    """Connected sentences (union-find over shared sources and targets), each mapped
    to the smallest sentence of its group, so the grouping ignores file order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        a, b = find("s:" + _key(pair.source)), find("t:" + _key(pair.target))
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {key[2:]: find(key) for key in list(parent) if key.startswith("s:")}


def _bucket(group: str) -> float:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0x100000000
