"""`tfstack ask` and `ServingClient.ask` against the real server serving the QA model."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest

from clients.client import ServingClient
from clients.errors import ClientError
from tests.launcher import ServerProcess

pytestmark = pytest.mark.babi

STORY = "Mary moved to the bathroom.\nJohn went to the hallway.\nMary travelled to the office.\n"


@pytest.fixture(scope="module")
def qa_server(qa_repository):
    with ServerProcess("--model_name=qa", f"--model_base_path={qa_repository / 'qa'}") as server:
        yield server


def test_ask_returns_answer_probability_and_attention(qa_server):
    with ServingClient(qa_server.target, deadline=30) as client:
        answer = client.ask(STORY, "Where is Mary?")
    assert answer.answer == "office" and answer.probability > 0.5
    assert answer.facts == tuple(STORY.strip().splitlines())
    assert len(answer.gates) == 3 and all(len(g) == 3 for g in answer.gates)
    assert answer.supporting(1)[0][0] == "Mary travelled to the office."


def test_bad_inputs_are_answered_or_refused_clearly(qa_server):
    with ServingClient(qa_server.target, deadline=60) as client:
        empty = client.ask("", "Where is Mary?")
        assert empty.facts == () and 0 <= empty.probability <= 1
        unknown = client.ask(STORY, "Où est le zorblax?")
        assert unknown.answer and 0 <= unknown.probability <= 1
        huge = client.ask("Sandra went to the garden.\n" * 5000 + "Mary went home.",
                          "Where is Sandra?")
        assert huge.answer == "garden"
        with pytest.raises(ClientError) as info:
            client.classify([b"x"], model="qa")
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_cli_prints_answer_and_saves_the_gate_heatmap(qa_server, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    run = [sys.executable, "-m", "tfstack.command", "ask", "--story", str(story),
           "Where is John?", "--server", qa_server.target]
    result = subprocess.run([*run, "--gates", str(tmp_path / "gates.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hallway")
    assert "John went to the hallway." in result.stdout
    assert (tmp_path / "gates.png").read_bytes()[:4] == b"\x89PNG"
    as_json = subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(as_json.stdout)["answer"] == "hallway"


def test_batch_scoring_questions_from_jsonl(qa_server, tmp_path):
    from clients.scoring.local import ScoreConfig, score

    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(record) for record in [
        {"id": "q1", "story": STORY, "question": "Where is Mary?"},
        {"id": "q2", "story": STORY.strip().splitlines(), "question": "Where is John?"},
        {"id": "q3", "question": "Where is Sandra?"},
    ]) + "\n")
    summary = score(ScoreConfig("qa", str(questions), str(tmp_path / "answers.jsonl"),
                                server=qa_server.target, progress=False))
    rows = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[0]["answer"] == "office" and rows[1]["answer"] == "hallway"
    assert rows[0]["supporting"][0] == "Mary travelled to the office."
    assert "no story field" in rows[2]["error"] and summary.errors == 1
