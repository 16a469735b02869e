"""`python -m clients.healthcheck`, the container's HEALTHCHECK: 0 for SERVING, 1
otherwise, over TLS / mutual TLS with a token, and without importing TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clients.healthcheck import main as healthcheck
from tests.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]


def tls_flags(server, pki) -> list[str]:
    return ["--target", server.target, "--tls-ca", str(pki.ca), "--tls-server-name",
            "localhost", "--timeout", "30"]


def test_serving_over_tls_with_or_without_the_token(tls_server, pki, capsys):
    assert healthcheck(tls_flags(tls_server, pki)) == 0
    assert healthcheck([*tls_flags(tls_server, pki), "--token-file", str(pki.token)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{tls_server.target}: SERVING"] * 2


def test_unhealthy_without_tls_with_a_wrong_ca_or_no_server(tls_server, pki, capsys):
    assert healthcheck(["--target", tls_server.target, "--timeout", "10"]) == 1
    wrong_ca = ["--target", tls_server.target, "--tls-ca", str(pki.other_ca),
                "--tls-server-name", "localhost", "--timeout", "10"]
    assert healthcheck(wrong_ca) == 1
    assert healthcheck(["--target", f"127.0.0.1:{free_port()}", "--timeout", "10"]) == 1
    assert healthcheck([*tls_flags(tls_server, pki), "--service", "no.such.Service"]) == 1
    err = capsys.readouterr().err
    assert err.count("unhealthy:") == 4 and "UNAVAILABLE" in err and "NOT_FOUND" in err


def test_mutual_tls_from_the_environment(mtls_server, pki, monkeypatch):
    monkeypatch.setenv("TFSTACK_HEALTH_TARGET", mtls_server.target)
    monkeypatch.setenv("TFSTACK_TLS_CA", str(pki.ca))
    monkeypatch.setenv("TFSTACK_TLS_SERVER_NAME", "localhost")
    assert healthcheck(["--timeout", "10"]) == 1  # no client certificate yet
    monkeypatch.setenv("TFSTACK_TLS_CERT", str(pki.client_cert))
    monkeypatch.setenv("TFSTACK_TLS_KEY", str(pki.client_key))
    assert healthcheck(["--timeout", "30"]) == 0


def test_missing_file_is_unhealthy_not_a_traceback(tls_server, pki, capsys):
    assert healthcheck([*tls_flags(tls_server, pki), "--token-file", "/no/such/token"]) == 1
    assert "--token-file: no such file" in capsys.readouterr().err


PROBE = """
import json, sys
from clients.healthcheck import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_imports_no_tensorflow_nor_numpy_nor_other_client_modules(tls_server, pki):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *tls_flags(tls_server, pki), "--token-file",
         str(pki.token)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0, result.stderr
    heavy = {"tensorflow", "tensorflow_serving", "numpy", "keras", "export", "models",
             "serving"}
    modules = report["modules"]
    assert [m for m in modules if m.split(".")[0] in heavy] == []
    assert {m for m in modules if m.startswith("clients.")} == {"clients.channels",
                                                               "clients.healthcheck"}


def test_dockerfile_runs_it_as_a_module(tls_server, pki):
    line = next(x for x in (ROOT / "Dockerfile").read_text().splitlines()
                if x.strip().startswith("CMD") and "healthcheck" in x)
    command = json.loads(line.strip()[len("CMD"):])
    assert command[:3] == ["python", "-m", "clients.healthcheck"]
    result = subprocess.run([sys.executable, *command[1:], *tls_flags(tls_server, pki)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0 and "SERVING" in result.stdout, result.stderr
