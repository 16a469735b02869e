"""`AsyncServingClient`, method for method against `ServingClient` on the same servers:
the real server process (Predict, metadata, status, health, errors) and scripted
servers answering as each endpoint does (classify, ask, translate), so both clients
are seen to encode and decode alike through the one codec per endpoint."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients.async_client import AsyncServingClient
from clients.client import ServingClient
from clients.errors import ClientError, MalformedResponse
from tests.clients.scripted_server import (
    ScriptedServer,
    batch_size,
    classifier_answer,
    response,
    well_formed_classifier,
)
from tests.launcher import ServerProcess

X = np.array([[1.0, 2.0], [3.0, 4.5]], np.float32)


def blocking(target: str, method: str, *args, **kwargs):
    with ServingClient(target, deadline=30) as client:
        return getattr(client, method)(*args, **kwargs)


def awaited(target: str, method: str, *args, **kwargs):
    async def call():
        async with AsyncServingClient(target, deadline=30) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(call())


def both(target: str, method: str, *args, **kwargs):
    """What the blocking and the asyncio client return for the same call."""
    return (blocking(target, method, *args, **kwargs),
            awaited(target, method, *args, **kwargs))


@pytest.fixture(scope="module")
def doubler(doubler_root):
    with ServerProcess("--model_name=doubler", f"--model_base_path={doubler_root}") as server:
        yield server


def test_predict(doubler):
    sync, aio = both(doubler.target, "predict", "doubler", {"x": X})
    assert set(sync) == set(aio) == {"y", "total"}
    for key in sync:
        np.testing.assert_array_equal(sync[key], aio[key])
    np.testing.assert_array_equal(aio["y"], 2 * X)


def test_predict_with_a_named_signature_and_output_filter(doubler):
    text = np.array([b"abc"], dtype=object)
    sync, aio = both(doubler.target, "predict", "doubler", {"text": text},
                             signature="shout", output_filter=["upper"])
    assert sync["upper"].tolist() == aio["upper"].tolist() == [b"ABC"]


def test_metadata(doubler):
    sync, aio = both(doubler.target, "metadata", "doubler")
    assert sync == aio and "serving_default" in aio


def test_status(doubler):
    sync, aio = both(doubler.target, "status", "doubler")
    assert sync == aio
    assert [(s.version, s.state) for s in aio] == [(1, "AVAILABLE")]


def test_healthy(doubler):
    assert both(doubler.target, "healthy") == (True, True)


@pytest.mark.parametrize("method, args", [("status", ("nope",)),
                                          ("predict", ("nope", {"x": X}))])
def test_errors_are_the_same_client_error(doubler, method, args):
    codes = []
    for call in (blocking, awaited):
        with pytest.raises(ClientError) as info:
            call(doubler.target, method, *args)
        codes.append(info.value.code)
    assert codes == [grpc.StatusCode.NOT_FOUND] * 2


def test_classify():
    with ScriptedServer(well_formed_classifier) as server:
        sync, aio = both(server.target, "classify", [b"a", b"b", b"c"], top_k=1,
                                 batch_size=2)
        assert server.requests == 4  # two requests each: 2 images, then 1
    assert sync == aio
    assert [r.top.name for r in aio] == ["Shirt"] * 3 and len(aio[0].labels) == 1


def qa_answer(request):
    rows = batch_size(request)
    return response(answer=np.array([b"kitchen"] * rows, dtype=object),
                    probability=np.full(rows, 0.9, np.float32),
                    gates=np.full((rows, 2, 3), 0.5, np.float32),
                    facts=np.array([[b"Mary went to the kitchen.", b"", b""]] * rows,
                                   dtype=object))


def test_ask():
    with ScriptedServer(qa_answer) as server:
        sync, aio = both(server.target, "ask", "Mary went to the kitchen.",
                                 ["Where is Mary?", "Where is she?"])
    assert sync == aio
    assert [a.answer for a in aio] == ["kitchen", "kitchen"]
    assert aio[0].facts == ("Mary went to the kitchen.",)  # padding dropped
    assert aio[0].gates == ((0.5,), (0.5,))


def translation(request):
    rows = batch_size(request)
    assert request.model_spec.signature_name == "greedy"
    return response(translation=np.array([b"good morning"] * rows, dtype=object),
                    score=np.full(rows, -0.5, np.float32),
                    attention=np.full((rows, 3, 3), 1 / 3, np.float32),
                    source_tokens=np.array([[b"guten", b"morgen", b"</s>"]] * rows,
                                           dtype=object),
                    target_tokens=np.array([[b"good", b"morning", b""]] * rows,
                                           dtype=object))


def test_translate():
    with ScriptedServer(translation) as server:
        sync, aio = both(server.target, "translate", "Guten Morgen", greedy=True)
    assert sync == aio
    [result] = aio
    assert result.translation == "good morning" and result.target_tokens == ("good",
                                                                             "morning")
    assert len(result.attention) == 2 and len(result.attention[0]) == 3


def test_a_malformed_answer_is_the_same_refusal():
    with ScriptedServer(lambda request: classifier_answer(1)) as server:  # 1 row for 2
        for call in (blocking, awaited):
            with pytest.raises(MalformedResponse, match="1 row for the 2 inputs sent"):
                call(server.target, "classify", [b"a", b"b"])
