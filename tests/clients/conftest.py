"""Secured servers for the client tests: a CA made here, a TLS server with a bearer
token, and a mutual-TLS one; the tiny doubler model (`x` -> `y`, `total`) as `m`."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.launcher import ServerProcess
from tests.serving.conftest import write_doubler

TOKEN = "s3cret-token"


@dataclass(frozen=True)
class Pki:
    """PEM files: the CA, the server's certificate (for localhost only), a client
    certificate signed by the CA, and a CA that signed none of them."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    token: Path
    wrong_token: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _new_ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert), "-subj",
             f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _signed(folder: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (folder / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    ext.write_text(extensions)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "1", "-out", str(cert), "-extfile", str(ext))
    return cert, key


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("pki")
    ca = _new_ca(folder, "test-ca")
    other_ca, _ = _new_ca(folder, "other-ca")
    server = _signed(folder, "localhost", ca, "subjectAltName=DNS:localhost\n"
                                              "extendedKeyUsage=serverAuth\n")
    client = _signed(folder, "client", ca, "extendedKeyUsage=clientAuth\n")
    (folder / "token").write_text(TOKEN + "\n")
    (folder / "wrong-token").write_text("not-the-token\n")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other_ca,
               folder / "token", folder / "wrong-token")


def ssl_config(pki: Pki, path: Path, client_verify: bool = False) -> Path:
    """TF Serving's SSLConfig text proto, PEM contents inline."""
    fields = {"server_key": pki.server_key.read_text(), "server_cert": pki.server_cert.read_text()}
    if client_verify:
        fields["custom_ca"] = pki.ca.read_text()
    lines = [f"{name}: {json.dumps(value)}" for name, value in fields.items()]
    path.write_text("\n".join(lines + (["client_verify: true"] if client_verify else [])) + "\n")
    return path


@pytest.fixture(scope="session")
def doubler_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("doubler")
    write_doubler(root / "1")
    return root


@pytest.fixture(scope="session")
def tls_server(pki, doubler_root, tmp_path_factory):
    """TLS (server certificate only) and a bearer token."""
    config = ssl_config(pki, tmp_path_factory.mktemp("tls") / "ssl.config")
    with ServerProcess("--model_name=m", f"--model_base_path={doubler_root}",
                       f"--ssl_config_file={config}", f"--auth_token_file={pki.token}") as server:
        yield server


@pytest.fixture(scope="session")
def mtls_server(pki, doubler_root, tmp_path_factory):
    """Mutual TLS: clients must show a certificate signed by the CA; no token."""
    config = ssl_config(pki, tmp_path_factory.mktemp("mtls") / "ssl.config", client_verify=True)
    with ServerProcess("--model_name=m", f"--model_base_path={doubler_root}",
                       f"--ssl_config_file={config}") as server:
        yield server


@pytest.fixture(scope="session")
def token_server(pki, doubler_root):
    """A plain (no TLS) server that wants the bearer token."""
    with ServerProcess("--model_name=m", f"--model_base_path={doubler_root}",
                       f"--auth_token_file={pki.token}") as server:
        yield server


def port(server: ServerProcess) -> str:
    return server.target.rsplit(":", 1)[1]
