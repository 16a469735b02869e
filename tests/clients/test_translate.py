"""`ServingClient.translate`, `tfstack translate` and batch scoring against the real
server serving the tiny translator trained on real Ding sentence pairs."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from PIL import Image

from clients.client import ServingClient
from clients.errors import ClientError
from tests.launcher import ServerProcess
from tfstack.command import main

pytestmark = pytest.mark.trans

SENTENCE = "Wo ist der Bahnhof?"


@pytest.fixture(scope="module")
def translator_server(translator_repository):
    with ServerProcess("--model_name=translator",
                       f"--model_base_path={translator_repository / 'translator'}") as server:
        yield server


@pytest.fixture(scope="module")
def client(translator_server):
    with ServingClient(translator_server.target, deadline=120) as client:
        yield client


def normalised(text: str) -> str:
    return text.lower().replace("’", "'").replace(" ", "")


def test_reproduces_its_training_translations(client, translator_training_pairs):
    results = client.translate([pair.source for pair in translator_training_pairs])
    assert len(results) == len(translator_training_pairs)
    matches = [normalised(r.translation) == normalised(pair.target)
               for r, pair in zip(results, translator_training_pairs, strict=True)]
    assert np.mean(matches) >= 0.75, [r.translation for r in results]


def test_attention_rows_are_distributions_over_the_real_tokens(client,
                                                               translator_training_pairs):
    results = client.translate([SENTENCE] + [p.source for p in translator_training_pairs[:10]])
    for result in results:
        assert result.source_tokens[-1] == "</s>" and "" not in result.source_tokens
        assert result.target_tokens and "" not in result.target_tokens
        weights = np.array(result.attention)
        assert weights.shape == (len(result.target_tokens), len(result.source_tokens))
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)
        assert [token for token, _, _ in result.alignment()] == list(result.target_tokens)
    assert results[0].source_tokens == ("wo", "ist", "der", "bahnhof", "?", "</s>")


def test_greedy_decoding_and_single_sentence(client, translator_training_pairs):
    pair = translator_training_pairs[0]
    [greedy] = client.translate(pair.source, greedy=True)
    assert greedy.translation and greedy.score <= 0
    [beam] = client.translate(pair.source)
    assert beam.translation and beam.score <= 0
    assert client.translate([]) == []


def test_cli_json_and_attention_heatmap(translator_server, tmp_path, capsys):
    server = ["--server", translator_server.target, "--deadline", "120"]
    assert main(["translate", SENTENCE, "--attention", str(tmp_path / "out.png"), "--json",
                 *server]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row.keys() == {"source", "translation", "score", "source_tokens", "target_tokens",
                          "attention"}
    assert row["source"] == SENTENCE and len(row["attention"]) == len(row["target_tokens"])
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(tmp_path / "out.png") as image:
        assert image.format == "PNG" and image.width > 200 and image.height > 100

    assert main(["translate", SENTENCE, "Ach ja?", "--greedy", "--attention",
                 str(tmp_path / "two.png"), *server]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("(score -" in line for line in lines)
    assert sorted(p.name for p in tmp_path.glob("two*")) == ["two-1.png", "two-2.png"]


def test_empty_and_very_long_inputs_are_translated(client):
    empty, long = client.translate(["", " ".join(["Haus"] * 5000)])
    assert empty.source_tokens == ("</s>",) and empty.translation
    assert np.array(empty.attention).shape == (len(empty.target_tokens), 1)
    assert long.translation and long.source_tokens[-1] == "</s>"
    assert len(long.source_tokens) < 5000  # truncated to the model's source length


def test_unknown_model_or_signature_is_refused(client, translator_server, capsys):
    with pytest.raises(ClientError) as info:
        client.translate(SENTENCE, model="nope")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ClientError) as info:
        client.predict("translator", {"text": [b"x"]}, signature="nope")
    # TF Serving answers FAILED_PRECONDITION here; the embedded server INVALID_ARGUMENT
    assert info.value.code in (grpc.StatusCode.FAILED_PRECONDITION,
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert 'signature key "nope" not found' in info.value.details
    assert main(["translate", SENTENCE, "--model", "nope",
                 "--server", translator_server.target]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_batch_scoring_a_text_file(translator_server, translator_training_pairs, tmp_path):
    from clients.scoring.local import ScoreConfig, score

    pairs = translator_training_pairs[:5]
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("".join(f"{p.source}\n" for p in pairs) + "\n")
    summary = score(ScoreConfig("translator", str(sentences), str(tmp_path / "out.jsonl"),
                                server=translator_server.target, batch_size=2,
                                progress=False))
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["input"] for r in rows] == [p.source for p in pairs] + [""]
    assert all(r["translation"] and r["score"] <= 0 and "error" not in r for r in rows)
    assert sum(normalised(r["translation"]) == normalised(p.target)
               for r, p in zip(rows, pairs, strict=False)) >= 3
    assert (summary.written, summary.errors) == (6, 0)
