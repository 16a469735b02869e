"""`ServingClient`, `AsyncServingClient` and `tfstack status` against real servers
wanting TLS, mutual TLS and a bearer token: the right settings work, wrong or missing
ones fail with the status and a message saying what to fix."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients.async_client import AsyncServingClient
from clients.channels import ChannelSecurity
from clients.client import ServingClient
from clients.errors import ClientError
from tests.clients.conftest import TOKEN
from tfstack.command import main as tfstack

X = {"x": np.ones((1, 2), np.float32)}


def tls(pki, **extra) -> ChannelSecurity:
    """TLS to 127.0.0.1, whose certificate names only localhost, plus `extra`."""
    return ChannelSecurity(ca_file=pki.ca, server_name="localhost", **extra)


def predict(target: str, security: ChannelSecurity | None) -> list[float]:
    with ServingClient(target, deadline=30, security=security) as client:
        return client.predict("m", X)["total"].tolist()


async def predict_async(target: str, security: ChannelSecurity | None) -> list[float]:
    async with AsyncServingClient(target, deadline=30, security=security) as client:
        return (await client.predict("m", X))["total"].tolist()


def failure(call, *args) -> ClientError:
    with pytest.raises(ClientError) as info:
        result = call(*args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    return info.value


def test_tls_and_token_reach_the_model_sync_and_async(tls_server, pki):
    security = tls(pki, token_file=pki.token)
    assert predict(tls_server.target, security) == [2.0]
    assert asyncio.run(predict_async(tls_server.target, security)) == [2.0]
    with ServingClient(tls_server.target, 30, tls(pki, token=TOKEN)) as client:
        [status] = client.status("m")
        assert (status.version, status.state) == (1, "AVAILABLE") and client.healthy()
    port = tls_server.target.rsplit(":", 1)[1]  # the certificate's own name: no override
    assert predict(f"localhost:{port}", ChannelSecurity(ca_file=pki.ca, token=TOKEN)) == [2.0]


@pytest.mark.parametrize("call", [predict, predict_async])
def test_missing_or_wrong_token_is_unauthenticated(tls_server, pki, call):
    missing = failure(call, tls_server.target, tls(pki))
    assert missing.code == grpc.StatusCode.UNAUTHENTICATED
    assert "wants a bearer token" in missing.details and "--token-file" in missing.details
    wrong = failure(call, tls_server.target, tls(pki, token_file=pki.wrong_token))
    assert wrong.code == grpc.StatusCode.UNAUTHENTICATED
    assert f"refused the bearer token in {pki.wrong_token}" in wrong.details


@pytest.mark.parametrize("call", [predict, predict_async])
def test_wrong_missing_ca_or_name_is_unavailable_and_says_why(tls_server, pki, call):
    other_ca = failure(call, tls_server.target,
                       ChannelSecurity(ca_file=pki.other_ca, server_name="localhost"))
    assert other_ca.code == grpc.StatusCode.UNAVAILABLE
    assert "TLS handshake" in other_ca.details and "--tls-ca" in other_ca.details
    plain = failure(call, tls_server.target, ChannelSecurity(token=TOKEN))
    assert plain.code == grpc.StatusCode.UNAVAILABLE
    assert "may want TLS (--tls-ca FILE)" in plain.details
    no_name = failure(call, tls_server.target, ChannelSecurity(ca_file=pki.ca, token=TOKEN))
    assert no_name.code == grpc.StatusCode.UNAVAILABLE
    assert "does not name the host" in no_name.details
    assert "--tls-server-name" in no_name.details


@pytest.mark.parametrize("call", [predict, predict_async])
def test_mutual_tls_needs_the_client_certificate(mtls_server, pki, call):
    security = tls(pki, cert_file=pki.client_cert, key_file=pki.client_key)
    result = call(mtls_server.target, security)
    assert (asyncio.run(result) if asyncio.iscoroutine(result) else result) == [2.0]
    error = failure(call, mtls_server.target, tls(pki))
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert "client certificate (mutual TLS: --tls-cert and --tls-key)" in error.details


def test_token_on_a_plain_channel_goes_as_metadata(token_server, pki):
    security = ChannelSecurity(token_file=pki.token)
    assert predict(token_server.target, security) == [2.0]
    assert asyncio.run(predict_async(token_server.target, security)) == [2.0]
    error = failure(predict, token_server.target, None)
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and "--token-file" in error.details


def test_security_settings_are_checked_and_the_token_stays_out_of_repr(pki):
    with pytest.raises(ValueError, match="both a client certificate and its key"):
        ChannelSecurity(ca_file=pki.ca, cert_file=pki.client_cert)
    with pytest.raises(ValueError, match="only applies to TLS"):
        ChannelSecurity(server_name="localhost")
    with pytest.raises(ValueError, match="not both"):
        ChannelSecurity(token=TOKEN, token_file=pki.token)
    assert TOKEN not in repr(ChannelSecurity(token=TOKEN))
    assert ChannelSecurity(token_file=pki.token).bearer_token() == TOKEN


def status_flags(server, pki) -> list[str]:
    return ["status", "m", "--server", server.target, "--deadline", "30",
            "--tls-ca", str(pki.ca), "--tls-server-name", "localhost"]


def test_status_command_over_tls_with_token(tls_server, pki, capsys):
    assert tfstack([*status_flags(tls_server, pki), "--token-file", str(pki.token)]) == 0
    assert capsys.readouterr().out.splitlines() == ["m  version 1  AVAILABLE"]
    assert tfstack(status_flags(tls_server, pki)) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err


def test_status_command_takes_the_token_file_from_the_environment(tls_server, pki, capsys,
                                                                 monkeypatch):
    monkeypatch.setenv("TFSTACK_TOKEN_FILE", str(pki.token))
    assert tfstack(status_flags(tls_server, pki)) == 0
    assert "AVAILABLE" in capsys.readouterr().out


def test_status_command_with_client_certificate(mtls_server, pki, capsys):
    mutual = ["--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
    assert tfstack([*status_flags(mtls_server, pki), *mutual]) == 0
    assert capsys.readouterr().out.splitlines() == ["m  version 1  AVAILABLE"]
    assert tfstack(status_flags(mtls_server, pki)) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_status_command_refuses_a_missing_file_before_calling(tls_server, pki, capsys):
    with pytest.raises(SystemExit) as info:
        tfstack([*status_flags(tls_server, pki), "--token-file", "/no/such/token"])
    assert info.value.code == 2
    assert "--token-file: no such file: /no/such/token" in capsys.readouterr().err
