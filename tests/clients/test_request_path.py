"""The layers a `tfstack classify` call passes through, recorded from the real call
against the real server: command -> client -> codec, the codec reading the answer
through its checks, and the wire contract below them all."""

from __future__ import annotations

import sys

import pytest

from tests.messages import png
from tfstack.command import main as tfstack

pytestmark = pytest.mark.fashion

OURS = ("clients", "contract", "export", "models", "serving", "tfstack")
LAYERS = ("clients.cli", "clients.client", "clients.codecs", "clients.response_checks")
# the channel the client holds, and the values and errors the layers hand each other
BESIDE = ("clients.channels", "clients.errors", "clients.results")


def module_chains(call) -> set[tuple[str, ...]]:
    """Each distinct chain of our modules on the stack when one of our functions runs
    during `call()`, outermost first, the dispatcher and the contract left out."""
    chains = set()

    def record(frame, event, arg):
        if event != "call":
            return
        modules = []
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if (name.split(".")[0] in OURS and not name.startswith(("contract", "tfstack."))
                    and (not modules or modules[-1] != name)):
                modules.append(name)
            frame = frame.f_back
        chains.add(tuple(reversed(modules)))

    sys.setprofile(record)
    try:
        call()
    finally:
        sys.setprofile(None)
    return chains - {()}


def test_a_classify_call_is_command_client_codec(classifier_server, fashion_test_images,
                                                 tmp_path, capsys):
    image = tmp_path / "shirt.png"
    image.write_bytes(png(fashion_test_images[0][0]))
    args = ["classify", "--server", classifier_server.target, str(image)]
    calls = [chain for chain in module_chains(lambda: tfstack(args))
             if "clients.client" in chain]  # the call itself, not parsing the flags
    assert "shirt.png" in capsys.readouterr().out  # the call answered
    layers = [tuple(module for module in chain if module not in BESIDE) for chain in calls]
    assert max(layers, key=len) == LAYERS
    for chain, of_ours in zip(calls, layers, strict=True):
        assert of_ours == LAYERS[:len(of_ours)], chain  # no other layer, none skipped
