"""Reading the bAbI tasks (v1.x format, any language folder, 1k or 10k release).

Search order: an explicit folder, `$TFSTACK_DATA_DIR/babi/en`, the shared data folder
beside the project (`../shared/data/babi/en`), the download cache
(`~/.cache/tfstack/babi/en`), then the official v1.2 archive, whose en/ files are
checked against their SHA-256 (`babi_download.py`); `DataNotFound` when that fails too.

Each file holds stories: numbered lines that restart at 1 for a new story; a line
with tabs is a question, its answer (comma-separated when several words) and the
ids of its supporting facts. Questions are not facts of the story.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from models.downloads import DataNotFound, cache_dir, search_dirs
from models.qa import babi_download

DATASET = "babi/en"  # under $TFSTACK_DATA_DIR and the download cache
_TASK_FILE = re.compile(r"^qa(\d+)_.*_(train|test)\.txt$")
# The shared data folder beside the working directory (and beside the project).
SHARED_DIRS = [Path.cwd().parent / "shared" / "data" / "babi" / "en",
               Path(__file__).resolve().parents[3] / "shared" / "data" / "babi" / "en"]


@dataclass(frozen=True)
class Example:
    """One question with the facts told before it (oldest first).

    `supporting` are indices into `facts`; `answer` holds the answer's words in
    order (one for most tasks; lists in task 8, paths in task 19). `story` numbers the
    stories of a file, so questions about one story can be kept together.
    """

    task: int
    facts: tuple[str, ...]
    question: str
    answer: tuple[str, ...]
    supporting: tuple[int, ...]
    story: int = 0

    @property
    def answer_text(self) -> str:
        """The answer as the model predicts it: one token, words joined by commas."""
        return ",".join(self.answer)


def parse_babi(path: str | Path, task: int | None = None) -> list[Example]:
    """Every question of a bAbI file, with its story so far."""
    path = Path(path)
    task = task if task is not None else _task_of(path)
    examples: list[Example] = []
    facts: list[str] = []
    fact_of_line: dict[int, int] = {}
    story = -1
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        line_id, _, text = raw.strip().partition(" ")
        if not line_id.isdigit():
            raise ValueError(f"{path}:{number}: expected 'ID text', got {raw[:60]!r}")
        if int(line_id) == 1:
            facts, fact_of_line, story = [], {}, story + 1
        if "\t" not in text:
            fact_of_line[int(line_id)] = len(facts)
            facts.append(text.strip())
            continue
        question, answer, *support = (part.strip() for part in text.split("\t"))
        try:
            supporting = tuple(fact_of_line[int(i)] for i in " ".join(support).split())
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path}:{number}: supporting fact {e} is not a fact of "
                             "this story") from e
        examples.append(Example(task, tuple(facts), question, tuple(answer.split(",")),
                                supporting, story))
    return examples


def _task_of(path: Path) -> int:
    match = _TASK_FILE.match(path.name)
    if not match:
        raise ValueError(f"{path.name} is not named like a bAbI task file "
                         "(qaN_<name>_train.txt / _test.txt); pass task= explicitly")
    return int(match.group(1))


def candidate_dirs(path: str | Path | None = None) -> list[Path]:
    """The folders searched for the task files, in order: `path`,
    `$TFSTACK_DATA_DIR/babi/en`, the shared data folder beside the working directory or the
    project (`../shared/data/babi/en`), then the download cache."""
    return search_dirs(DATASET, path, SHARED_DIRS)


def locate_babi(path: str | Path | None = None, url: str | None = None,
                download: bool = True) -> Path:
    """The folder of task files: the first of `candidate_dirs(path)` holding
    qaN_*_train.txt files, else the en/ files of the v1.2 archive downloaded from `url`
    into the download cache, each checked against its SHA-256 (`download=False`: none);
    DataNotFound when none is found or downloaded."""
    searched = candidate_dirs(path)
    for candidate in searched:
        if any(candidate.glob("qa*_train.txt")):
            return candidate
    url, error = url or babi_download.OFFICIAL_URL, None
    if download:
        try:
            return babi_download.download_babi(cache_dir(DATASET), url)
        except (OSError, ValueError) as e:  # URLError is an OSError; ValueError: checksum
            error = e
    raise DataNotFound("The bAbI tasks", "the qaN_<name>_train.txt and _test.txt files",
                       searched, data_dir=DATASET, folder=cache_dir(DATASET),
                       flag="--data FOLDER", url=url if download else None,
                       error=error) from error


def load_tasks(tasks: list[int] | str, split: str, path: str | Path | None = None,
               ) -> list[Example]:
    """The examples of `tasks` (a list of numbers, or "all") for `split`."""
    root = locate_babi(path)
    files = {int(m.group(1)): root / name for name in sorted(os.listdir(root))
             if (m := _TASK_FILE.match(name)) and m.group(2) == split}
    wanted = sorted(files) if tasks == "all" else list(tasks)
    missing = [t for t in wanted if t not in files]
    if missing:
        raise ValueError(f"no {split} file for task(s) {missing} in {root}")
    return [example for task in wanted for example in parse_babi(files[task], task)]
