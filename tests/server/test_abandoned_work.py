"""Work nobody waits for is dropped: a request whose client went away (HTTP disconnect, gRPC deadline)
leaves the batcher's queue before inference, so abandoned embeds cannot keep the queue full."""

from __future__ import annotations

import base64
import concurrent.futures
import time

import grpc
import httpx
import pytest

from colweave.v1 import embedding_pb2 as pb
from colweave.v1 import embedding_pb2_grpc as pb_grpc

from .conftest import HashModel, RunningServer, png

DELAY = 2.0  # seconds per model call: the abandoned requests would keep the model busy this long each
ABANDONED = 4


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def body(i: int) -> dict:
    return {"input": [base64.b64encode(png(20 + i, 20)).decode()]}


def abandon_http(s: RunningServer) -> None:
    """ABANDONED one-image requests whose clients give up after DELAY / 4 (the first is running by then)."""

    def one(i: int) -> None:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{s.http}/v1/embeddings/embed", json=body(i), timeout=DELAY / 4)

    with concurrent.futures.ThreadPoolExecutor(ABANDONED) as pool:
        list(pool.map(one, range(ABANDONED)))


def abandon_grpc(s: RunningServer) -> None:
    with grpc.insecure_channel(s.grpc) as ch:
        stub = pb_grpc.EmbeddingServiceStub(ch)
        stub.Info(pb.InfoRequest(), timeout=10)  # connected: the deadline is spent in the queue, not dialing
        futs = [
            stub.EmbedImages.future(pb.EmbedImagesRequest(images=[png(20 + i, 20)]), timeout=DELAY / 4)
            for i in range(ABANDONED)
        ]
        for f in futs:
            with pytest.raises(grpc.RpcError) as e:
                f.result()
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("abandon", [abandon_http, abandon_grpc], ids=["http-disconnect", "grpc-deadline"])
def test_abandoned_embeds_leave_the_queue(make_server, abandon) -> None:
    model = HashModel(delay=DELAY)
    # Three waiting inputs fill the queue: without dropping, the next request gets 429.
    s = make_server(model, max_batch_images=1, max_queue=ABANDONED - 1, max_wait_ms=0)
    images = s.server.state.embedding.images
    abandon(s)
    # The queue empties as soon as the server sees the clients go, long before the model could run them.
    assert wait_until(lambda: images.queued == 0, 0.9 * DELAY), images.queued
    dropped = images.abandoned
    assert dropped >= 1
    r = httpx.post(f"{s.http}/v1/embeddings/embed", json=body(99), timeout=10 * DELAY)
    assert r.status_code == 200, r.text
    # The model ran at most the one request already running when its client left, and the new one.
    assert sum(model.calls) <= 2, model.calls
    metrics = httpx.get(f"{s.http}/metrics").text
    assert f'colweave_abandoned_requests_total{{batcher="images"}} {float(dropped)}' in metrics
