"""`tfstack score` against a server wanting TLS and a bearer token.

The secured server serves only the doubler `m`, so a `translator` request that gets
through TLS and the token check ends as NOT_FOUND: that, and not UNAUTHENTICATED
or UNAVAILABLE, shows the scorer's calls carried both."""

from __future__ import annotations

import json

import pytest

from clients.channels import ChannelSecurity
from clients.scoring.local import ScoreConfig, score
from tfstack.command import main as tfstack


@pytest.fixture
def sentences(tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("hallo welt\nguten morgen\n")
    return path


def errors(path) -> list[str]:
    return [json.loads(line)["error"] for line in path.read_text().splitlines()]


def run(server, sentences, output, security) -> list[str]:
    score(ScoreConfig(model="translator", input=str(sentences), output=str(output),
                      server=server.target, deadline=30, retries=0, progress=False,
                      security=security))
    return errors(output)


def test_scorer_sends_tls_and_token(tls_server, pki, sentences, tmp_path):
    secured = ChannelSecurity(ca_file=pki.ca, server_name="localhost", token_file=pki.token)
    rows = run(tls_server, sentences, tmp_path / "ok.jsonl", secured)
    assert len(rows) == 2 and all(row.startswith("NOT_FOUND") for row in rows), rows
    no_token = ChannelSecurity(ca_file=pki.ca, server_name="localhost")
    rows = run(tls_server, sentences, tmp_path / "no-token.jsonl", no_token)
    assert len(rows) == 2 and all(row.startswith("UNAUTHENTICATED") for row in rows), rows


def test_score_command_takes_the_security_flags(tls_server, pki, sentences, tmp_path):
    output = tmp_path / "cli.jsonl"
    flags = ["score", "translator", str(sentences), "-o", str(output), "--no-progress",
             "--retries", "0", "--server", tls_server.target, "--tls-ca", str(pki.ca),
             "--tls-server-name", "localhost"]
    assert tfstack([*flags, "--token-file", str(pki.token)]) == 0
    assert [e.split(":")[0] for e in errors(output)] == ["NOT_FOUND", "NOT_FOUND"]
    assert tfstack([*flags, "--tls-cert", str(pki.client_cert)]) == 2  # no --tls-key
