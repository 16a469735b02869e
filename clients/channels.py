"""gRPC channels to a secured server: TLS (mutual TLS too) and a bearer token.

The one place where channels and client credentials are made, for `ServingClient`,
`AsyncServingClient`, `tfstack score` and the container's health check. Imports
nothing but grpc, the standard library and the contract's constants, so the health
check stays cheap.

The token goes as call credentials on a TLS channel, and as `authorization`
metadata added to every call on a plain one (gRPC refuses call credentials on
insecure channels); either way the server sees `authorization: Bearer <token>`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from contract.defaults import MAX_MESSAGE_BYTES

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # spread calls over every address a target resolves to (a headless Service)
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]
ENV_VARS = {"ca_file": "TFSTACK_TLS_CA", "cert_file": "TFSTACK_TLS_CERT",
            "key_file": "TFSTACK_TLS_KEY", "server_name": "TFSTACK_TLS_SERVER_NAME",
            "token_file": "TFSTACK_TOKEN_FILE"}


@dataclass(frozen=True)
class ChannelSecurity:
    """How to reach a server that wants TLS and/or a bearer token.

    Args:
        ca_file: str or Path. PEM certificate(s) of the CA that signed the server's
            certificate; turns TLS on.
        cert_file: str or Path. PEM client certificate, for mutual TLS (with `key_file`).
        key_file: str or Path. PEM private key of `cert_file`.
        server_name: str. The name to check the server's certificate against, when it
            differs from the target's host (an IP address, a tunnel).
        tls: bool. TLS with the system's root certificates, when there is no `ca_file`.
        token: str. The bearer token itself (kept out of `repr`).
        token_file: str or Path. A file holding the bearer token (read when a channel
            is made; surrounding whitespace dropped).

    Example:
    >>> security = ChannelSecurity(ca_file="ca.pem", token_file="token")
    >>> ServingClient("localhost:8500", security=security).healthy()
    True
    """

    ca_file: str | Path | None = None
    cert_file: str | Path | None = None
    key_file: str | Path | None = None
    server_name: str | None = None
    tls: bool = False
    token: str | None = field(default=None, repr=False)
    token_file: str | Path | None = None

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("mutual TLS needs both a client certificate and its key "
                             f"(got cert_file={self.cert_file!r}, key_file={self.key_file!r})")
        if self.server_name and not self.uses_tls:
            raise ValueError(f"server_name={self.server_name!r} only applies to TLS; "
                             "give the CA certificate (--tls-ca) too")
        if self.token and self.token_file:
            raise ValueError("give the bearer token or a token file, not both")

    @property
    def uses_tls(self) -> bool:
        """Whether channels are TLS ones."""
        return bool(self.tls or self.ca_file or self.cert_file)

    def bearer_token(self) -> str | None:
        """The token to send, read from `token_file` if that is where it is."""
        if not self.token_file:
            return self.token
        token = Path(self.token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"token file {self.token_file} is empty")
        return token


def channel_target(server: str) -> str:
    """A gRPC target for `server`: `host:port`, `dns:///name:port`, or several
    comma-separated `ip:port` addresses (balanced round robin)."""
    addresses = [a.strip() for a in server.split(",") if a.strip()]
    if len(addresses) == 1:
        return addresses[0]
    for address in addresses:
        host = address.rsplit(":", 1)[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError as e:
            raise ValueError(f"several addresses must be IP:PORT ({address!r} is not); for "
                             "host names use one DNS name with several records: "
                             "dns:///name:port") from e
    scheme = "ipv6" if any(":" in a.rsplit(":", 1)[0] for a in addresses) else "ipv4"
    return f"{scheme}:{','.join(addresses)}"


def secure_channel(target: str, security: ChannelSecurity | None = None,
                   options: list[tuple[str, object]] | None = None) -> grpc.Channel:
    """A blocking channel to `target` (a gRPC target string) with `security`."""
    security = security or ChannelSecurity()
    options = _options(security, options)
    token = security.bearer_token()
    if security.uses_tls:
        return grpc.secure_channel(target, _credentials(security, token), options=options)
    channel = grpc.insecure_channel(target, options=options)
    return grpc.intercept_channel(channel, _TokenMetadata(token)) if token else channel


def secure_aio_channel(target: str, security: ChannelSecurity | None = None,
                       options: list[tuple[str, object]] | None = None) -> grpc.aio.Channel:
    """A grpc.aio channel to `target` with `security`; as `secure_channel`."""
    security = security or ChannelSecurity()
    options = _options(security, options)
    token = security.bearer_token()
    if security.uses_tls:
        return grpc.aio.secure_channel(target, _credentials(security, token), options=options)
    interceptors = [_AioTokenMetadata(token)] if token else None
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


def _options(security: ChannelSecurity, options) -> list[tuple[str, object]]:
    options = list(options or ())
    if security.server_name:
        options.append(("grpc.ssl_target_name_override", security.server_name))
    return options


def _credentials(security: ChannelSecurity, token: str | None) -> grpc.ChannelCredentials:
    def pem(path):
        return Path(path).read_bytes() if path else None

    credentials = grpc.ssl_channel_credentials(
        root_certificates=pem(security.ca_file), private_key=pem(security.key_file),
        certificate_chain=pem(security.cert_file))
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token))
    return credentials


def _with_token(metadata, token: str) -> list[tuple[str, str]]:
    return [*(metadata or ()), ("authorization", f"Bearer {token}")]


class _TokenMetadata(grpc.UnaryUnaryClientInterceptor):
    """Adds the bearer token to each call's metadata, on a plain channel."""

    def __init__(self, token: str):
        self._token = token

    def intercept_unary_unary(self, continuation, client_call_details, request):
        details = client_call_details._replace(
            metadata=_with_token(client_call_details.metadata, self._token))
        return continuation(details, request)


class _AioTokenMetadata(grpc.aio.UnaryUnaryClientInterceptor):
    """`_TokenMetadata` for grpc.aio channels."""

    def __init__(self, token: str):
        self._token = token

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        details = client_call_details._replace(
            metadata=grpc.aio.Metadata(*_with_token(client_call_details.metadata, self._token)))
        return await continuation(details, request)


def add_security_flags(parser: argparse.ArgumentParser) -> None:
    """`--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-server-name`, `--tls` and
    `--token-file`, each defaulting to its `TFSTACK_*` environment variable."""
    def flag(name: str, key: str, text: str) -> None:
        parser.add_argument(name, dest=f"security_{key}", metavar="FILE" if "file" in key
                            else "NAME", default=os.environ.get(ENV_VARS[key]) or None,
                            help=f"{text} (default: ${ENV_VARS[key]})")

    flag("--tls-ca", "ca_file", "PEM CA certificate that signed the server's; turns TLS on")
    flag("--tls-cert", "cert_file", "PEM client certificate, for mutual TLS")
    flag("--tls-key", "key_file", "PEM private key of --tls-cert")
    flag("--tls-server-name", "server_name", "name the server's certificate must carry, "
         "when not the --server host")
    parser.add_argument("--tls", dest="security_tls", action="store_true",
                        help="TLS with the system's root certificates")
    flag("--token-file", "token_file", "file holding the bearer token to send")


def security_from_args(args: argparse.Namespace) -> ChannelSecurity:
    """The `ChannelSecurity` of flags added by `add_security_flags`; checks the files
    exist so that a typo fails before any call (ValueError naming the flag)."""
    values = {key: getattr(args, f"security_{key}") for key in ENV_VARS}
    for key, value in values.items():
        if key != "server_name" and value and not Path(value).is_file():
            flag = "--token-file" if key == "token_file" else f"--tls-{key.split('_')[0]}"
            raise ValueError(f"{flag}: no such file: {value} "
                             f"(set by the flag or ${ENV_VARS[key]})")
    return ChannelSecurity(tls=args.security_tls, **values)
